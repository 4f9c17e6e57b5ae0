//! `rcptsync watch`: the internal host's job as a service. It keeps the map and every
//! `[[gateway]]` in step with the directory: a change is read (incrementally, as `extract`
//! reads), written through the same guards and pushed (as `push` pushes) within seconds, and
//! an idle directory costs next to nothing.
//!
//! How it learns of changes: a thread per source ([`follow`]) holds the server's own change
//! feed where it has one (OpenLDAP's refreshAndPersist, Active Directory's change
//! notifications) and wakes the loop; the other sources (and those with several servers,
//! which may lag each other) are asked for their change mark every `[watch].poll`
//! (`graph_poll` for Graph), which costs one or two small requests when nothing changed. A
//! burst of changes is one map: the loop waits until the changes are `quiet` for a moment, at
//! most `max_delay`. Each new map is handed to a thread per gateway ([`courier`]), so that a
//! gateway that is down or hangs holds up nothing else. A read or a push that fails is tried
//! again after a wait that doubles up to `max_backoff`; the map and the gateways keep what
//! they have meanwhile. A guard that refuses is reported (by extract, at error) and the loop
//! goes on watching; a removal guard holds the removals back instead (said once), and the
//! rest of the change goes to the gateways as any change does. An approval `rcptsync approve`
//! writes beside the map is noticed at the next poll tick and read like a change. At least every `[safety].full_every` a run is made whatever happened, so
//! that extract's full reconcile runs on time. `status` learns that watch runs from the file
//! it keeps beside the map ([`beacon`], [`shared`]).
//!
//! Signals ([`signals`]): SIGTERM and SIGINT end it (exit 0) once the run in progress is over,
//! or after a grace period (every write is atomic: a run cut short leaves the files as they
//! were); SIGHUP loads the config again, and a config that does not load is reported and the
//! old one kept. systemd hears of it through [`notify`].
//!
//! Security: as `sync`, unprivileged. The lock beside the map is held only while a run reads
//! and writes (seconds; a full reconcile longer), never while watch waits, so that `sync`,
//! `extract` or `push` started by hand wait for it instead of failing.

mod backoff;
pub mod beacon;
mod courier;
mod follow;
mod notify;
mod shared;
mod signals;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info, warn};

use super::{ExitStatus, Printer, Result, extract, push};
use crate::config::Timing;
use crate::map::with_suffix;
use backoff::Backoff;
use beacon::Delivery;
use courier::{Courier, Parcel};
use follow::{Follower, Polled};
use notify::Notifier;
use shared::Shared;

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
enum Message {
    /// A source announced a change.
    Changed,
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP.
    Reload,
}

/// How a session with one config ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Stop,
    Reload,
}

/// The longest wait between two checks that a full reconcile is due: `[safety].full_every` is
/// decided by extract from the store's age, so the loop asks often enough not to let it slip.
const RECONCILE_CHECK: Duration = Duration::from_secs(600);

/// The most `+`/`-` lines a change of the map puts into watch's log; a larger change (the
/// first map, a bulk import) is logged as its summary line alone.
const DIFF_LINES: usize = 100;

/// Runs watch until SIGTERM or SIGINT; `load` resolves the config (at start and on SIGHUP).
pub fn run(load: &dyn Fn() -> Result<Settings>, printer: Printer) -> Result {
    let printer = printer.at_most(DIFF_LINES);
    let mut settings = Arc::new(load()?);
    let (events, received) = std::sync::mpsc::channel();
    let (stop, reload) = (events.clone(), events.clone());
    signals::handle(
        move || {
            let _ = stop.send(Message::Stop);
        },
        move || {
            let _ = reload.send(Message::Reload);
        },
    )
    .map_err(|e| super::Error::Failure(anyhow::anyhow!("cannot handle signals: {e}")))?;
    let notifier = Notifier::from_env();
    let mut ready = false;
    let shared = Shared::start();
    loop {
        match session(
            &settings, printer, &events, &received, &notifier, &mut ready, &shared,
        ) {
            End::Reload => {
                notifier.send("RELOADING=1");
                match load() {
                    Ok(loaded) => {
                        info!("configuration loaded again");
                        settings = Arc::new(loaded);
                    }
                    Err(e) => error!("{e}; going on with the configuration loaded before"),
                }
                if ready {
                    notifier.send("READY=1");
                }
            }
            End::Stop => {
                // A push in progress is left to end on its own (the receiver refuses a payload
                // cut short, and every write is atomic).
                shared.stop();
                notifier.send("STOPPING=1");
                info!("stopped");
                return Ok(ExitStatus::Success);
            }
        }
    }
}

/// When the next read is due, from the changes of a burst.
#[derive(Debug, Default)]
struct Burst {
    first: Option<Instant>,
    due: Option<Instant>,
    /// The earliest read asked for that does not wait for quiet.
    forced: Option<Instant>,
}

impl Burst {
    /// A change at `now`: the read waits until the changes are quiet, at most `max_delay`
    /// after the first, and never later than a read already asked for.
    fn changed(&mut self, now: Instant, timing: &Timing) {
        let first = *self.first.get_or_insert(now);
        let quiet = later(now, timing.quiet).min(later(first, timing.max_delay));
        self.due = Some(self.forced.map_or(quiet, |forced| forced.min(quiet)));
    }

    /// A read that need not wait for quiet (the first, a poll, a reconcile, a retry).
    fn now(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.forced = Some(self.forced.map_or(now, |forced| forced.min(now)));
        self.due = Some(self.due.map_or(now, |due| due.min(now)));
    }
}

/// How often the loop makes sure that a full reconcile is not overdue: an eighth of
/// `full_every`, not more often than the polls and not less often than [`RECONCILE_CHECK`]
/// (a poll of an hour included).
fn reconcile_every(full_every: Duration, poll: Duration) -> Duration {
    (full_every / 8).clamp(poll.min(RECONCILE_CHECK), RECONCILE_CHECK)
}

/// `at + wait`, or a year from `at` for a wait too long to add.
fn later(at: Instant, wait: Duration) -> Instant {
    at.checked_add(wait)
        .unwrap_or_else(|| at + Duration::from_secs(365 * 86_400))
}

/// Watches with one config until a stop or a reload: starts a thread per source that may
/// announce its changes and one per gateway ([`courier`]), then reads as the sources change
/// and hands each new map to the gateways' threads. Neither kind of thread is waited for
/// when the session ends: a follower ends at its next look at its flag, a courier once its
/// push in progress is over, without holding up the next session.
fn session(
    settings: &Arc<Settings>,
    printer: Printer,
    events: &Sender<Message>,
    received: &Receiver<Message>,
    notifier: &Notifier,
    ready: &mut bool,
    shared: &Arc<Shared>,
) -> End {
    let mut couriers = Vec::new();
    let gateways = settings.push.as_ref().map_or(0, |push| push.gateways.len());
    for index in 0..gateways {
        let (courier, parcels) = courier::pair();
        let (settings, shared) = (settings.clone(), shared.clone());
        std::thread::spawn(move || {
            let Some(push) = &settings.push else { return };
            let gateway = &push.gateways[index];
            let max_backoff = settings.timing.max_backoff;
            courier::deliver(parcels, &gateway.name, max_backoff, |since, alarm| {
                shared.cycle(&settings, |_| {
                    let report = push::Report::Courier { alarm };
                    // What the last read of this process found current (to the second:
                    // the record extract leaves is written at most once a minute).
                    let as_of = shared
                        .current_at()
                        .unwrap_or_else(|| push::last_read(&push.map));
                    let pushed = push::to(push, &[gateway], printer, report, as_of);
                    let took = since.and_then(|at| SystemTime::now().duration_since(at).ok());
                    if let (Ok(ExitStatus::Success), Some(took)) = (&pushed, took) {
                        let delivery = Delivery {
                            acknowledged_at: crate::map::state::now(),
                            seconds: took.as_secs_f64(),
                        };
                        shared.delivered(&gateway.name, delivery);
                    }
                    pushed
                })
            });
        });
        couriers.push(courier);
    }
    // The couriers are dropped when the loop ends: their threads end once their push in
    // progress is over.
    watch(
        settings, shared, printer, events, received, notifier, ready, &couriers,
    )
}

/// The loop of a session: reads when a source changed (or is due to be asked), and hands
/// each new map to the `couriers`.
#[allow(clippy::too_many_arguments)]
fn watch(
    settings: &Settings,
    shared: &Shared,
    printer: Printer,
    events: &Sender<Message>,
    received: &Receiver<Message>,
    notifier: &Notifier,
    ready: &mut bool,
    couriers: &[Courier],
) -> End {
    let timing = settings.timing;
    let sources = &settings.extract.sources;
    let kinds: Vec<Polled> = sources.iter().map(follow::kind).collect();
    let followers: Vec<Arc<Follower>> = sources.iter().map(|_| Arc::default()).collect();
    for ((source, kind), follower) in sources.iter().zip(&kinds).zip(&followers) {
        if *kind == Polled::Announced {
            let events = events.clone();
            let wake = move || {
                let _ = events.send(Message::Changed);
            };
            follow::start(source.clone(), follower.clone(), wake, timing.max_backoff);
        }
    }
    // A source with several servers is asked for its change mark too: a change one server
    // announces may be read from another that has not replicated it yet.
    let several: Vec<bool> = sources.iter().map(follow::several_servers).collect();
    let polled = |kind: Polled| {
        kinds
            .iter()
            .zip(&followers)
            .zip(&several)
            .any(|((k, f), several)| {
                *k == kind
                    || (kind == Polled::Poll && (*several || f.unannounced.load(Ordering::Relaxed)))
            })
    };
    let every = |wait| humantime::format_duration(wait).to_string();
    let feeds = || {
        sources
            .iter()
            .zip(&kinds)
            .zip(followers.iter().zip(&several))
            .map(|((source, kind), (follower, several))| {
                let announced = !follower.unannounced.load(Ordering::Relaxed);
                let how = match kind {
                    Polled::Announced if announced && !several => {
                        "announced by the server".to_owned()
                    }
                    Polled::Announced if announced => format!(
                        "announced by a server, and its change mark every {}",
                        every(timing.poll)
                    ),
                    Polled::Graph => format!("a delta round every {}", every(timing.graph_poll)),
                    _ => format!("its change mark every {}", every(timing.poll)),
                };
                (source.name.clone(), how)
            })
            .collect()
    };
    let start = Instant::now();
    let reconcile_every = reconcile_every(settings.extract.full_every, timing.poll);
    let (mut next_poll, mut next_graph) =
        (later(start, timing.poll), later(start, timing.graph_poll));
    let mut next_reconcile = later(start, reconcile_every);
    // A successful read makes the map current: the gateways that have it are handed it again
    // this often, and push sends the ones whose confirm_every is up a confirmation.
    let confirm_check = settings.push.as_ref().map_or(Duration::MAX, |push| {
        let shortest = push.gateways.iter().map(|g| g.confirm_every).min();
        (shortest.unwrap_or(Duration::MAX) / 2).max(Duration::from_secs(1))
    });
    let mut next_confirm = later(start, confirm_check);
    let approval_mark = || {
        let approval = crate::hold::approval_path(&settings.extract.output.path);
        crate::map::state::file_mark(&approval).ok()
    };
    let mut approval_seen = approval_mark();
    let mut burst = Burst::default();
    burst.now(start);
    // When the oldest change not read yet was announced.
    let mut announced = None::<SystemTime>;
    // A read that failed (or a change a guard refused) is not tried again before.
    let (mut read_after, mut read_backoff) = (None::<Instant>, Backoff::new(timing.max_backoff));
    // After a start or a reload: a gateway that missed the map gets it after the first run.
    let mut first = true;
    let end = loop {
        let now = Instant::now();
        let read_at = burst
            .due
            .map(|due| read_after.map_or(due, |after| due.max(after)));
        let mut next = next_poll.min(next_graph).min(next_reconcile);
        if let Some(at) = read_at {
            next = next.min(at);
        }
        if let Some(watchdog) = notifier.watchdog {
            next = next.min(later(now, watchdog));
        }
        match received.recv_timeout(next.saturating_duration_since(now)) {
            Ok(Message::Changed) => {
                announced.get_or_insert_with(SystemTime::now);
                burst.changed(Instant::now(), &timing);
            }
            Ok(Message::Stop) => break End::Stop,
            Ok(Message::Reload) => break End::Reload,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break End::Stop,
        }
        notifier.send("WATCHDOG=1");
        let now = Instant::now();
        if now >= next_poll {
            next_poll = later(now, timing.poll);
            // An approval written by `rcptsync approve` is a change too.
            let approval = approval_mark();
            if polled(Polled::Poll) || approval != approval_seen {
                approval_seen = approval;
                burst.now(now);
            }
        }
        if now >= next_graph {
            next_graph = later(now, timing.graph_poll);
            if polled(Polled::Graph) {
                burst.now(now);
            }
        }
        if now >= next_reconcile {
            next_reconcile = later(now, reconcile_every);
            burst.now(now);
        }
        // A burst that goes on wakes the loop only once: its later changes push the read back.
        let latest = followers.iter().filter_map(|f| f.last_announced()).max();
        if let (Some(at), Some(first)) = (latest, burst.first)
            && at > first
        {
            burst.changed(at, &timing);
        }
        let read_at = burst
            .due
            .map(|due| read_after.map_or(due, |after| due.max(after)));
        if read_at.is_none_or(|at| at > now) {
            continue;
        }
        burst = Burst::default();
        for follower in &followers {
            follower.take();
        }
        // A change found by a poll is timed from the read that finds it.
        let since = announced.take().unwrap_or_else(SystemTime::now);
        let (mut changed, mut held, mut exports_failed) = (false, false, false);
        let status = shared.cycle(settings, |seen| {
            let status = extract::run(&settings.extract, printer, seen);
            changed = seen.domains_changed
                || seen
                    .change
                    .is_some_and(|(added, removed)| added + removed > 0);
            held = seen.held_news;
            exports_failed = seen.exports_failed;
            status
        });
        // A change held for the first time was said at error, once; the map was written with
        // everything else, which goes to the gateways as any change does.
        let status = match status {
            Ok(ExitStatus::Refused) if held => {
                notifier.send("STATUS=removals are held for review (rcptsync review)");
                Ok(ExitStatus::Success)
            }
            // The map is in place and goes to the gateways; the export is tried again below.
            Ok(ExitStatus::Failure) if exports_failed => Ok(ExitStatus::Success),
            other => other,
        };
        let finished = Instant::now();
        let completed = matches!(status, Ok(ExitStatus::Success | ExitStatus::Refused));
        match status {
            Ok(ExitStatus::Success) => {
                shared.current();
                let at = humantime::format_rfc3339_seconds(SystemTime::now());
                notifier.send(&format!("STATUS=map current as of {at}"));
                if changed {
                    shared.update(|b| b.changed_at = Some(crate::map::state::now()));
                    for courier in couriers {
                        courier.hand(Parcel { since: Some(since) });
                    }
                } else if finished >= next_confirm {
                    for courier in couriers {
                        courier.hand(Parcel { since: None });
                    }
                }
                if finished >= next_confirm {
                    next_confirm = later(finished, confirm_check);
                }
                // The exports' commands, now that the couriers have the map: an upload that
                // fails says why at error and is tried again by a read after a wait that
                // doubles, as after a failed read (its backoff is not reset meanwhile).
                exports_failed |= !extract::commands(&settings.extract);
                if exports_failed {
                    read_after = Some(later(Instant::now(), read_backoff.wait()));
                    burst.now(Instant::now());
                    notifier.send("STATUS=an export failed; trying again");
                } else {
                    read_backoff.reset();
                    read_after = None;
                }
            }
            // A guard refused: extract said why, at error. The map keeps what it has; the
            // change is read again (after a wait that doubles up to max_backoff) when the
            // directory changes again, a poll or a reconcile is due, or a reload raised the
            // limit.
            Ok(ExitStatus::Refused) => {
                announced = Some(since);
                read_after = Some(later(finished, read_backoff.wait()));
                notifier.send("STATUS=a change is refused by a safety guard");
            }
            failed => {
                announced = Some(since);
                let wait = read_backoff.wait();
                if let Err(e) = failed {
                    error!("{e}");
                }
                warn!(
                    "the map stays as it is; reading again in {}",
                    backoff::show(wait)
                );
                notifier.send("STATUS=the last read failed; trying again");
                read_after = Some(later(finished, wait));
                burst.now(finished);
            }
        }
        // The first map of a session: the watch file goes beside it, and a gateway that
        // lacks it gets it, whatever changed.
        if completed && first {
            first = false;
            let gateways: Vec<String> = settings.gateways.iter().map(|g| g.name.clone()).collect();
            shared.place(
                with_suffix(&settings.extract.output.path, ".watch"),
                &gateways,
            );
            for courier in couriers {
                courier.hand(Parcel { since: None });
            }
        }
        shared.update(|b| b.feeds = feeds());
        // Ready once the directory was read and the map is what it should be (or what a guard
        // kept): a directory that is down at start is retried before.
        if completed && !*ready {
            *ready = true;
            notifier.send("READY=1");
        }
    };
    for follower in &followers {
        follower.stop.store(true, Ordering::Relaxed);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_read_once_quiet_and_at_the_latest_after_max_delay() {
        let timing = Timing {
            poll: Duration::from_secs(5),
            graph_poll: Duration::from_secs(30),
            quiet: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
        };
        let start = Instant::now();
        let mut burst = Burst::default();
        burst.changed(start, &timing);
        assert_eq!(burst.due, Some(start + Duration::from_secs(1)));
        // Changes every half second push the read back, but not past max_delay.
        for half in 1..40 {
            burst.changed(start + Duration::from_millis(500 * half), &timing);
        }
        assert_eq!(burst.due, Some(start + Duration::from_secs(10)));
        // A poll does not wait for quiet, and a change after it does not put it off.
        burst.now(start + Duration::from_secs(2));
        assert_eq!(burst.due, Some(start + Duration::from_secs(2)));
        burst.changed(start + Duration::from_secs(3), &timing);
        assert_eq!(burst.due, Some(start + Duration::from_secs(2)));
        // A wait too long to add is a year, not a panic.
        assert!(later(start, Duration::MAX) > start);
    }

    #[test]
    fn a_reconcile_is_checked_for_within_ten_minutes_whatever_the_poll() {
        let (day, hour) = (Duration::from_secs(86_400), Duration::from_secs(3600));
        assert_eq!(
            reconcile_every(day, Duration::from_secs(5)),
            RECONCILE_CHECK
        );
        assert_eq!(reconcile_every(day, hour), RECONCILE_CHECK);
        let minute = Duration::from_secs(60);
        assert_eq!(reconcile_every(minute, Duration::from_secs(5)), minute / 8);
        assert_eq!(reconcile_every(minute, minute), minute);
    }
}
