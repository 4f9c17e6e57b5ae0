//! `rcptsync watch`: the internal host's job as a service. It keeps the map and every
//! `[[gateway]]` in step with the directory: a change is read (incrementally, as `extract`
//! reads), written through the same guards and pushed (as `push` pushes) within seconds, and
//! an idle directory costs next to nothing.
//!
//! How it learns of changes: a thread per source ([`follow`]) holds the server's own change
//! feed where it has one (OpenLDAP's refreshAndPersist) and wakes the loop; the other sources
//! are asked for their change mark every `[watch].poll` (`graph_poll` for Graph), which costs
//! one or two small requests when nothing changed. A burst of changes is one map: the loop
//! waits until the changes are `quiet` for a moment, at most `max_delay`. A read or a push that
//! fails is tried again after a wait that doubles up to `max_backoff`; the map and the gateways
//! keep what they have meanwhile. A guard that refuses is reported (by extract, at error) and
//! the loop goes on watching. At least every `[safety].full_every` a run is made whatever
//! happened, so that extract's full reconcile runs on time.
//!
//! Signals: SIGTERM and SIGINT end it (exit 0) once the run in progress is over, or after
//! [`GRACE`] (every write is atomic: a run cut short leaves the files as they were); SIGHUP
//! loads the config again, and a config that does not load is reported and the old one kept.
//! systemd hears of it through [`notify`].
//!
//! Security: as `sync`, unprivileged. The lock beside the map is held only while a run writes,
//! so that `sync`, `extract` or `push` started by hand wait for it instead of failing.

mod follow;
mod notify;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::metrics::{self, Hook};
use super::{ExitStatus, Printer, Result, extract, push};
use crate::config::Timing;
use follow::Polled;
use notify::Notifier;

/// How long a stop waits for the run in progress before the process ends anyway.
const GRACE: Duration = Duration::from_secs(10);

/// What watch works with, resolved from the config (`cli/settings.rs`); made again on SIGHUP.
#[derive(Debug)]
pub struct Settings {
    /// The extract step.
    pub extract: extract::Settings,
    /// The push step, when the config has gateways (without, watch keeps the map only).
    pub push: Option<push::Settings>,
    /// `[watch]`.
    pub timing: Timing,
    /// `[metrics].textfile`, rewritten after every run.
    pub metrics: Option<PathBuf>,
    /// The gateways, for the metrics.
    pub gateways: Vec<crate::transport::Gateway>,
}

/// What wakes the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Source number N changed.
    Changed(usize),
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP.
    Reload,
}

/// Waits that double from one second up to a cap, each cut by up to a quarter at random, so
/// that watchers that lost the same server do not all come back at the same moment.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at one second (or `max`, when smaller).
    pub fn new(max: Duration) -> Self {
        Self {
            next: Duration::from_secs(1).min(max),
            max,
        }
    }

    /// The next wait.
    pub fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        use std::hash::{BuildHasher as _, Hasher as _};

        // RandomState is seeded at random: its hash of anything is a random number.
        let cut = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            % 256;
        wait - wait * (cut as u32) / 1024
    }

    /// After a success: the next failure waits a second again.
    pub fn reset(&mut self) {
        self.next = Duration::from_secs(1).min(self.max);
    }
}

/// Runs watch until SIGTERM or SIGINT; `load` resolves the config (at start and on SIGHUP).
pub fn run(load: &dyn Fn() -> Result<Settings>, printer: Printer) -> Result {
    let mut settings = load()?;
    let (events, received) = std::sync::mpsc::channel();
    signals(events.clone())?;
    let notifier = Notifier::from_env();
    let mut ready = false;
    loop {
        let end = session(
            &settings, printer, &events, &received, &notifier, &mut ready,
        );
        match end {
            Event::Reload => {
                notifier.send("RELOADING=1");
                match load() {
                    Ok(loaded) => {
                        info!("configuration loaded again");
                        settings = loaded;
                    }
                    Err(e) => error!("{e}; going on with the configuration loaded before"),
                }
                notifier.send("READY=1");
            }
            Event::Stop | Event::Changed(_) => {
                notifier.send("STOPPING=1");
                info!("stopped");
                return Ok(ExitStatus::Success);
            }
        }
    }
}

/// Turns SIGTERM and SIGINT into [`Event::Stop`] and SIGHUP into [`Event::Reload`], on a thread
/// of their own; a second SIGTERM, or a stop the loop does not reach within [`GRACE`], ends
/// the process at once.
fn signals(events: Sender<Event>) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| super::Error::Failure(anyhow::anyhow!("cannot handle signals: {e}")))?;
    std::thread::spawn(move || {
        let mut stopping = false;
        for signal in signals.forever() {
            if signal == SIGHUP {
                let _ = events.send(Event::Reload);
                continue;
            }
            if stopping {
                info!("stopped during a run (its writes are atomic: nothing is half-written)");
                std::process::exit(0);
            }
            stopping = true;
            let _ = events.send(Event::Stop);
            std::thread::spawn(|| {
                std::thread::sleep(GRACE);
                info!(
                    "stopped during a run that took longer than {}s (its writes are atomic: \
                     nothing is half-written)",
                    GRACE.as_secs()
                );
                std::process::exit(0);
            });
        }
    });
    Ok(())
}

/// When the next run is due, from the changes of a burst.
#[derive(Debug, Default)]
struct Burst {
    first: Option<Instant>,
    due: Option<Instant>,
}

impl Burst {
    /// A change at `now`.
    fn changed(&mut self, now: Instant, timing: &Timing) {
        let first = *self.first.get_or_insert(now);
        self.due = Some((now + timing.quiet).min(first + timing.max_delay));
    }

    /// A run that cannot wait (the first, a poll, a retry).
    fn now(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.due = Some(self.due.map_or(now, |due| due.min(now)));
    }
}

/// Watches with one config until a stop or a reload: starts a thread per source, then runs
/// extract and push as the sources change.
fn session(
    settings: &Settings,
    printer: Printer,
    events: &Sender<Event>,
    received: &Receiver<Event>,
    notifier: &Notifier,
    ready: &mut bool,
) -> Event {
    let timing = settings.timing;
    let sources = &settings.extract.sources;
    let stop = AtomicBool::new(false);
    let unannounced: Vec<AtomicBool> = sources.iter().map(|_| AtomicBool::new(false)).collect();
    let kinds: Vec<Polled> = sources.iter().map(follow::kind).collect();
    std::thread::scope(|scope| {
        for (index, source) in sources.iter().enumerate() {
            if kinds[index] != Polled::Announced {
                continue;
            }
            let (stop, unannounced, events) = (&stop, &unannounced[index], events.clone());
            scope.spawn(move || {
                follow::follow(
                    source,
                    index,
                    stop,
                    unannounced,
                    &events,
                    timing.max_backoff,
                );
            });
        }
        let polled = |kind: Polled| {
            kinds
                .iter()
                .zip(&unannounced)
                .any(|(k, u)| *k == kind || (kind == Polled::Poll && u.load(Ordering::Relaxed)))
        };
        let mut burst = Burst::default();
        burst.now(Instant::now());
        let mut push_due: Option<Instant> = None;
        let mut read_backoff = Backoff::new(timing.max_backoff);
        let mut push_backoff = Backoff::new(timing.max_backoff);
        let start = Instant::now();
        let (mut next_poll, mut next_graph) = (start + timing.poll, start + timing.graph_poll);
        let mut next_reconcile = start + settings.extract.full_every;
        let end = loop {
            let now = Instant::now();
            let mut next = next_poll.min(next_graph).min(next_reconcile);
            for due in [burst.due, push_due].into_iter().flatten() {
                next = next.min(due);
            }
            if let Some(watchdog) = notifier.watchdog {
                next = next.min(now + watchdog);
            }
            match received.recv_timeout(next.saturating_duration_since(now)) {
                Ok(Event::Changed(_)) => burst.changed(Instant::now(), &timing),
                Ok(other) => break other,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break Event::Stop,
            }
            notifier.send("WATCHDOG=1");
            let now = Instant::now();
            if now >= next_poll {
                next_poll = now + timing.poll;
                if polled(Polled::Poll) {
                    burst.now(now);
                }
            }
            if now >= next_graph {
                next_graph = now + timing.graph_poll;
                if polled(Polled::Graph) {
                    burst.now(now);
                }
            }
            if now >= next_reconcile {
                next_reconcile = now + settings.extract.full_every;
                burst.now(now);
            }
            if burst.due.is_some_and(|due| due <= now) {
                burst = Burst::default();
                match cycle(settings, |seen| {
                    extract::run(&settings.extract, printer, seen)
                }) {
                    Ok(ExitStatus::Success) => {
                        read_backoff.reset();
                        if !*ready {
                            *ready = true;
                            notifier.send("READY=1");
                        }
                        notifier.send(&format!(
                            "STATUS=map current as of {}",
                            crate::map::state::now()
                        ));
                        if settings.push.is_some() {
                            push_due = Some(now);
                        }
                    }
                    // A guard refused: extract said why; the map keeps what it has until the
                    // directory changes again or someone forces the change.
                    Ok(ExitStatus::Refused) => {
                        notifier.send("STATUS=a change is refused by a safety guard");
                    }
                    failed => {
                        let wait = read_backoff.wait();
                        if let Err(e) = failed {
                            error!("{e}");
                        }
                        warn!(
                            "the map stays as it is; reading again in {}",
                            humantime::format_duration(wait)
                        );
                        notifier.send("STATUS=the last read failed; trying again");
                        burst.due = Some(Instant::now() + wait);
                    }
                }
            }
            if let Some(push) = &settings.push
                && push_due.is_some_and(|due| due <= Instant::now())
            {
                push_due = None;
                match cycle(settings, |_| push::run(push, printer)) {
                    Ok(ExitStatus::Success) => push_backoff.reset(),
                    failed => {
                        if let Err(e) = failed {
                            error!("{e}");
                        }
                        let wait = push_backoff.wait();
                        warn!(
                            "pushing to the gateways that did not get the map again in {}",
                            humantime::format_duration(wait)
                        );
                        push_due = Some(Instant::now() + wait);
                    }
                }
            }
        };
        stop.store(true, Ordering::Relaxed);
        end
    })
}

/// One run of `work` (extract or push), its metrics written after it as after a command.
fn cycle(settings: &Settings, work: impl FnOnce(&mut metrics::Observed) -> Result) -> Result {
    let hook = settings.metrics.as_deref().map(|textfile| Hook::Internal {
        textfile,
        map: Some(settings.extract.output.path.as_path()),
        gateways: &settings.gateways,
    });
    metrics::around(hook, false, work)
}
