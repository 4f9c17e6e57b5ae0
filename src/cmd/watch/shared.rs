//! What watch's threads share for the life of the process: the watch file
//! ([`super::beacon`]), written by one thread at a time and kept fresh by a thread of its own
//! every [`HEARTBEAT`] (also while a run takes long, and across a reload), and the metrics
//! textfile, which the loop and the gateways' couriers write one at a time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tracing::warn;

use super::Settings;
use super::beacon::{Beacon, Delivery, HEARTBEAT};
use crate::cmd::Result;
use crate::cmd::metrics::{self, Hook};

/// The watch file as watch keeps it.
#[derive(Debug)]
struct State {
    beacon: Beacon,
    /// Where it goes: beside the map, once a session wrote its first map (the directory it is
    /// in may not exist before).
    path: Option<PathBuf>,
    /// watch is stopping: the file is gone and stays gone.
    stopped: bool,
    /// The gateways of the config in force (a courier of the config before may still end a
    /// push after a reload).
    gateways: Vec<String>,
}

/// See the module.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    metrics: Mutex<()>,
    /// When a read last found the map current (seconds since the epoch; 0: not yet): what a
    /// push or a confirmation vouches for, however late it goes out.
    current_at: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// The shared state of this process, and its heartbeat thread.
    pub fn start() -> Arc<Self> {
        let shared = Arc::new(Self {
            state: Mutex::new(State {
                beacon: Beacon {
                    pid: std::process::id(),
                    started_at: crate::map::state::now(),
                    ..Beacon::default()
                },
                path: None,
                stopped: false,
                gateways: Vec::new(),
            }),
            current_at: std::sync::atomic::AtomicU64::new(0),
            metrics: Mutex::new(()),
        });
        let beating = Arc::downgrade(&shared);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(HEARTBEAT);
                match beating.upgrade() {
                    Some(shared) => shared.update(|_| {}),
                    None => return,
                }
            }
        });
        shared
    }

    /// From now on the file is at `path` (a session wrote its first map there) and names only
    /// `gateways`; a file a config before left elsewhere is removed.
    pub fn place(&self, path: PathBuf, gateways: &[String]) {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(old) = state.path.take().filter(|old| *old != path) {
                let _ = crate::fs::remove_file(old);
            }
            state.path = Some(path);
            state
                .beacon
                .gateways
                .retain(|name, _| gateways.contains(name));
            state.gateways = gateways.to_vec();
        }
        self.update(|_| {});
    }

    /// Notes that `gateway` acknowledged a change (when it is still one of the config's).
    pub fn delivered(&self, gateway: &str, delivery: Delivery) {
        let configured = {
            let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.gateways.iter().any(|g| g == gateway)
        };
        if configured {
            self.update(|b| {
                b.gateways.insert(gateway.to_owned(), delivery);
            });
        }
    }

    /// Notes that a read found the map current now.
    pub fn current(&self) {
        let now = crate::map::state::now();
        self.current_at
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// When a read last found the map current (None: none yet in this process).
    pub fn current_at(&self) -> Option<std::time::SystemTime> {
        let at = self.current_at.load(std::sync::atomic::Ordering::Relaxed);
        (at > 0).then(|| std::time::UNIX_EPOCH + std::time::Duration::from_secs(at))
    }

    /// Changes the file with `change` and writes it, when it has a place (a failure is
    /// logged: watch goes on without telling status).
    pub fn update(&self, change: impl FnOnce(&mut Beacon)) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.stopped {
            return;
        }
        change(&mut state.beacon);
        state.beacon.heartbeat_at = crate::map::state::now();
        if let Some(path) = &state.path
            && let Err(e) = state.beacon.write(path)
        {
            warn!("{e}; status will not show that watch runs");
        }
    }

    /// watch stops: the file goes now, before the pushes in progress end, so that status never
    /// reports a watch that stopped.
    pub fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.stopped = true;
        if let Some(path) = state.path.take() {
            let _ = crate::fs::remove_file(path);
        }
    }

    /// One run of `work` (extract, or a push) with `settings`, its metrics written after it as
    /// after a command.
    pub fn cycle(
        &self,
        settings: &Settings,
        work: impl FnOnce(&mut metrics::Observed) -> Result,
    ) -> Result {
        let started = Instant::now();
        let mut seen = metrics::Observed::default();
        let result = work(&mut seen);
        let hook = settings.metrics.as_deref().map(|textfile| Hook::Internal {
            textfile,
            map: Some(settings.extract.output.path.as_path()),
            gateways: &settings.gateways,
        });
        let _one = self.metrics.lock().unwrap_or_else(PoisonError::into_inner);
        metrics::record(hook, started, &result, &seen);
        result
    }
}
