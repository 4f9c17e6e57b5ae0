//! One thread per source that tells the watch loop when the source changed, as the server
//! announces it ([`crate::source::Reader::follow`]: OpenLDAP's refreshAndPersist). A source
//! that announces nothing is marked as one to poll, and its thread ends. A connection that
//! fails is made again after a wait that doubles up to `max_backoff`; the source wakes the loop
//! once it follows the changes again, so that the read catches up with what changed while it
//! was down (the read starts from the store's cursor, not from this thread's).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use tracing::{debug, warn};

use super::{Backoff, Event};
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

/// Follows source number `index` until `stop` is set, sending [`Event::Changed`] for each
/// change; sets `unannounced` and returns when the source does not announce its changes.
pub fn follow(
    source: &Source,
    index: usize,
    stop: &AtomicBool,
    unannounced: &AtomicBool,
    events: &Sender<Event>,
    max_backoff: Duration,
) {
    let mut backoff = Backoff::new(max_backoff);
    while !stop.load(Ordering::Relaxed) {
        let mut wake = || {
            let _ = events.send(Event::Changed(index));
        };
        let started = std::time::Instant::now();
        let followed = source
            .reader()
            .and_then(|mut reader| reader.follow(stop, &mut wake));
        match followed {
            Ok(Followed::Stopped) => return,
            Ok(Followed::Unsupported) => {
                debug!(
                    "source {}: announces no changes; asked every [watch].poll",
                    source.name
                );
                unannounced.store(true, Ordering::Relaxed);
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
                    humantime::format_duration(wait)
                );
                sleep(wait, stop);
            }
        }
    }
}

/// Sleeps for `wait`, or less when `stop` is set.
fn sleep(wait: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(100);
    let mut left = wait;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let now = left.min(step);
        std::thread::sleep(now);
        left -= now;
    }
}
