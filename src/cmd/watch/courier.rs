//! One thread per gateway that takes each new map to it, so that a gateway that is down or
//! slow holds up neither the reads nor the other gateways. A push that fails is tried again
//! after a wait that doubles up to `max_backoff` (a newer map meanwhile waits for the end of
//! the wait: it goes to a gateway that has not answered yet either); the gateway gets the
//! current map once it is back, whatever changed meanwhile ([`crate::cmd::push::to`] sends
//! the map as it is when the push starts, and only when the gateway lacks it).
//!
//! Maps written while a push is under way are coalesced: a courier holds at most one map to
//! take next, and keeps the time of the oldest change it carries, from which the gateway's
//! delivery time is measured.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info, warn};

use super::backoff::Backoff;
use crate::cmd::{ExitStatus, Result};

/// A map for the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Parcel {
    /// When the oldest change in it was announced (None: at the start of a session, a map that
    /// may be older than the gateway's).
    pub since: Option<SystemTime>,
}

/// The loop's end of a courier.
#[derive(Debug)]
pub struct Courier {
    inbox: SyncSender<Parcel>,
}

impl Courier {
    /// Hands `parcel` to the courier; when it already holds one, that one (older) is kept:
    /// the push takes the map as it is then, with this change too.
    pub fn hand(&self, parcel: Parcel) {
        // Full: a parcel waits already. Disconnected: the thread is gone (it never ends
        // before the loop drops this).
        let _ = self.inbox.try_send(parcel);
    }
}

/// A courier and the receiving end its thread runs [`deliver`] on.
pub fn pair() -> (Courier, Receiver<Parcel>) {
    let (inbox, parcels) = std::sync::mpsc::sync_channel(1);
    (Courier { inbox }, parcels)
}

/// The courier's thread: pushes each parcel with `push` (to its gateway, given the oldest
/// change it carries, and whether a failure is news to report at error) and retries after a
/// failure. A gateway that keeps failing is reported once, at error, and once more at warning
/// when it is back. Ends when the loop drops its [`Courier`].
pub fn deliver(
    parcels: Receiver<Parcel>,
    gateway: &str,
    max_backoff: Duration,
    push: impl Fn(Option<SystemTime>, bool) -> Result,
) {
    let mut failing = false;
    let mut backoff = Backoff::new(max_backoff);
    // When to push next, and the oldest change the gateway lacks.
    let mut due: Option<Instant> = None;
    let mut since: Option<SystemTime> = None;
    loop {
        let wait = due.map_or(Duration::from_secs(3600), |due| {
            due.saturating_duration_since(Instant::now())
        });
        match parcels.recv_timeout(wait) {
            Ok(parcel) => {
                if let Some(at) = parcel.since {
                    since = Some(since.map_or(at, |s| s.min(at)));
                }
                due.get_or_insert_with(Instant::now);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if due.is_none_or(|due| due > Instant::now()) {
            continue;
        }
        match push(since, !failing) {
            Ok(ExitStatus::Success) => {
                if failing {
                    warn!("gateway {gateway}: has the map again");
                }
                failing = false;
                backoff.reset();
                (due, since) = (None, None);
            }
            failed => {
                if let Err(e) = failed {
                    match failing {
                        false => error!("gateway {gateway}: {e}"),
                        true => info!("gateway {gateway}: {e}"),
                    }
                }
                let wait = backoff.wait();
                let again = super::backoff::show(wait);
                match failing {
                    false => warn!("gateway {gateway}: pushing again in {again}, and on"),
                    true => info!("gateway {gateway}: pushing again in {again}"),
                }
                failing = true;
                due = Some(Instant::now() + wait);
            }
        }
    }
}
