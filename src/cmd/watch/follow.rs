//! One thread per source that tells the watch loop when the source changed, as the server
//! announces it ([`crate::source::Reader::follow`]: OpenLDAP's refreshAndPersist, Active
//! Directory's change notifications). A source
//! that announces nothing is marked as one to poll, and its thread ends. A connection that
//! fails is made again after a wait that doubles up to `max_backoff`; the source wakes the loop
//! once it follows the changes again, so that the read catches up with what changed while it
//! was down (the read starts from the store's cursor, not from this thread's).
//!
//! The threads are not joined: a reload or a stop only raises their flag, and one stuck in a
//! connection that does not answer ends when its timeout does, without holding up the loop.
//! Their wakes are coalesced: however fast a server announces changes, a source has at most
//! one wake waiting for the loop ([`Follower::wake`]), so what the loop is sent is bounded.
//! The time of the last change is kept beside it ([`Follower::last_announced`]), so that
//! the loop still sees a burst go on and waits for it to be quiet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::backoff::Backoff;
use crate::source::{Followed, Source, SourceKind};

/// How a source tells the loop of its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// It announces them (a thread follows it).
    Announced,
    /// Every `[watch].poll`.
    Poll,
    /// Every `[watch].graph_poll`.
    Graph,
}

/// How `source` is to be watched, before anything connects: only an LDAP source may
/// announce its changes (whether it does is known once it is connected).
pub fn kind(source: &Source) -> Polled {
    match source.kind {
        SourceKind::Ldap(_) => Polled::Announced,
        SourceKind::Graph(_) => Polled::Graph,
        SourceKind::Ldif(_) | SourceKind::List(_) => Polled::Poll,
    }
}

/// Whether `source` may be read from another server than the one that announces its changes
/// (several `servers`, or `discover`).
pub fn several_servers(source: &Source) -> bool {
    match &source.kind {
        SourceKind::Ldap(config) => config.discover.is_some() || config.servers.len() > 1,
        _ => false,
    }
}

/// What a follower thread shares with the loop.
#[derive(Debug, Default)]
pub struct Follower {
    /// Raised when the loop no longer needs the thread (a reload, a stop).
    pub stop: AtomicBool,
    /// The source turned out not to announce its changes: the loop polls it.
    pub unannounced: AtomicBool,
    /// A change is announced that the loop has not started to read yet.
    pub pending: AtomicBool,
    /// When the last change not yet read was announced: only the first of a burst wakes the
    /// loop, so the loop looks here to see whether the burst has gone quiet.
    last: Mutex<Option<Instant>>,
}

impl Follower {
    /// Forgets the changes announced; the loop calls it just before a run reads, so that a
    /// change announced during the run wakes it again.
    pub fn take(&self) {
        *self.last() = None;
        self.pending.store(false, Ordering::Release);
    }

    /// When the last change not yet read was announced.
    pub fn last_announced(&self) -> Option<Instant> {
        *self.last()
    }

    /// Notes a change, and calls `wake` unless one is already waiting.
    fn wake(&self, wake: &dyn Fn()) {
        *self.last() = Some(Instant::now());
        if !self.pending.swap(true, Ordering::AcqRel) {
            wake();
        }
    }

    fn last(&self) -> MutexGuard<'_, Option<Instant>> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the thread that follows `source` (a copy: the thread may outlive the config it came
/// from); `wake` tells the loop.
pub fn start(
    source: Source,
    follower: Arc<Follower>,
    wake: impl Fn() + Send + 'static,
    max_backoff: Duration,
) {
    std::thread::spawn(move || {
        let mut backoff = Backoff::new(max_backoff);
        while !follower.stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let mut announce = || follower.wake(&wake);
            let followed = source
                .reader()
                .and_then(|mut reader| reader.follow(&follower.stop, &mut announce));
            match followed {
                Ok(Followed::Stopped) => return,
                Ok(Followed::Unsupported) => {
                    debug!(
                        "source {}: announces no changes; asked every [watch].poll",
                        source.name
                    );
                    follower.unannounced.store(true, Ordering::Relaxed);
                    wake();
                    return;
                }
                Err(e) => {
                    // A connection that lasted is not a server that keeps failing.
                    if started.elapsed() > max_backoff {
                        backoff.reset();
                    }
                    let wait = backoff.wait();
                    warn!(
                        "{e}; following its changes again in {}",
                        super::backoff::show(wait)
                    );
                    sleep(wait, &follower.stop);
                }
            }
        }
    });
}

/// Sleeps for `wait`, or less when `stop` is raised.
fn sleep(wait: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(100);
    let mut left = wait;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let now = left.min(step);
        std::thread::sleep(now);
        left -= now;
    }
}
