//! The metrics each run leaves in `[metrics].textfile` ([`crate::metrics`]): what extract,
//! push and sync report on the internal host, and what apply reports on a gateway.
//!
//! They are written after the run, whatever its outcome (a failure or a refusal is exactly
//! what monitoring must see), but not after a dry run, which is not a run of the job. A
//! textfile that cannot be written is logged as an error; it does not change the run's exit
//! status, and the stale file's timestamps make the alert fire.
//!
//! Security: runs with the privileges of the command it reports on; it reads only files
//! that command owns (the map, `PATH.pushed`, the installed map) and its own role's textfile
//! (for three numbers, through [`Textfile`]'s checked handle), and writes only that
//! textfile: `apply` and the internal host's commands each have their own
//! ([`crate::config::Metrics`]).

use std::path::Path;
use std::time::{Instant, SystemTime};

use tracing::error;

use super::watch::beacon::Beacon;
use super::{ExitStatus, Result};
use crate::hold::held::Summary;
use crate::map::with_suffix;
use crate::metrics::{self, Metric, Textfile, label};
use crate::transport::Gateway;
use crate::transport::record::Record;

/// Where a command's metrics go and what they describe: the one post-run hook every command
/// that writes metrics goes through ([`around`]).
#[derive(Debug, Clone, Copy)]
pub enum Hook<'a> {
    /// extract, push or sync on the internal host.
    Internal {
        /// `[metrics].textfile`.
        textfile: &'a Path,
        /// The map extract writes and push sends (`[output].path`), if the config has one.
        map: Option<&'a Path>,
        /// The gateways whose last push is reported.
        gateways: &'a [Gateway],
    },
    /// apply on a gateway.
    Apply {
        /// apply's own textfile ([`crate::config::Metrics::apply_textfile`]).
        textfile: &'a Path,
        /// The installed text map, if the config has `[install]`.
        installed: Option<&'a Path>,
        /// `apply --freshness`: only the freshness metrics are news; the others keep what
        /// the last apply of a map said.
        freshness: bool,
    },
}

/// Runs a command's `work` (its settings' resolution included, so that a config error is
/// reported too), then writes its metrics through `hook` (when the config has `[metrics]`),
/// whatever the outcome, but not after a dry run.
pub fn around(
    hook: Option<Hook<'_>>,
    dry_run: bool,
    work: impl FnOnce(&mut Observed) -> Result,
) -> Result {
    let started = Instant::now();
    let mut seen = Observed::default();
    let result = work(&mut seen);
    if !dry_run {
        record(hook, started, &result, &seen);
    }
    result
}

/// Writes the metrics of a run that began at `started` and ended with `result` (for watch,
/// whose threads run the work apart and write one at a time).
pub fn record(hook: Option<Hook<'_>>, started: Instant, result: &Result, seen: &Observed) {
    match hook {
        None => {}
        Some(Hook::Internal {
            textfile,
            map,
            gateways,
        }) => internal(textfile, map, gateways, started, result, seen),
        Some(Hook::Apply {
            textfile,
            installed,
            freshness,
        }) => apply(textfile, installed, started, result, freshness),
    }
}

/// What a run saw that the metrics report and the exit status does not tell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed {
    /// The change extract made to the map: (added, removed).
    pub change: Option<(usize, usize)>,
    /// How many objects the last full reconcile found the incremental reads had wrong.
    pub drift: Option<usize>,
    /// The map was written with removals held back that were not held before (the run
    /// exits 3, and sync still pushes the map: its additions must reach the gateways).
    pub held_news: bool,
    /// The relay domains beside the map changed (the gateways need them even when no
    /// address changed).
    pub domains_changed: bool,
    /// An `[[export]]` could not be made or its command failed: the run exits 1, though the
    /// map is in place, and sync and watch still push it (a filtering service's upload must
    /// not hold back the gateways).
    pub exports_failed: bool,
}

const LAST_SUCCESS: &str = "rcptsync_last_success_timestamp_seconds";
const ADDED: &str = "rcptsync_added";
const REMOVED: &str = "rcptsync_removed";
const DRIFT: &str = "rcptsync_drift_objects";
const APPLY_LAST_SUCCESS: &str = "rcptsync_apply_last_success_timestamp_seconds";

/// Writes the internal host's metrics after extract, push or sync ran for `started`.
fn internal(
    textfile: &Path,
    map: Option<&Path>,
    gateways: &[Gateway],
    started: Instant,
    result: &Result,
    seen: &Observed,
) {
    let Some(textfile) = open(textfile) else {
        return;
    };
    let now = metrics::unix_seconds(SystemTime::now());
    let status = status(result);
    let last_success = if status == ExitStatus::Success {
        now
    } else {
        textfile.previous(LAST_SUCCESS).unwrap_or(0.0)
    };
    let (added, removed) = match seen.change {
        Some((added, removed)) => (added as f64, removed as f64),
        None => (
            textfile.previous(ADDED).unwrap_or(0.0),
            textfile.previous(REMOVED).unwrap_or(0.0),
        ),
    };
    let recipients = map.and_then(|m| metrics::count_lines(m).ok()).unwrap_or(0);
    let record = map
        .and_then(|m| Record::read(&with_suffix(m, ".pushed")).ok())
        .unwrap_or_default();
    let state = map.and_then(|m| crate::map::state::Snapshot::read(&with_suffix(m, ".state")));
    let incremental = state
        .iter()
        .flat_map(|s| &s.methods)
        .map(|(source, method)| {
            (
                label("source", source),
                f64::from(u8::from(method != "full")),
            )
        })
        .collect();
    // A watch that stopped removed its file; one that died left it to go stale.
    let beacon = map
        .and_then(|m| Beacon::read(&with_suffix(m, ".watch")).ok().flatten())
        .filter(|b| b.fresh(now as u64));
    let held = map.and_then(|m| Summary::read(&crate::hold::held_path(m)).ok().flatten());
    let mut success = Vec::new();
    let mut pushed_at = Vec::new();
    let mut latency = Vec::new();
    for gateway in gateways {
        if let Some(delivery) = beacon.as_ref().and_then(|b| b.gateways.get(&gateway.name)) {
            latency.push((label("gateway", &gateway.name), delivery.seconds));
        }
        let entry = record.get(gateway);
        let labels = label("gateway", &gateway.name);
        let ok = entry.is_some_and(|e| e.succeeded());
        success.push((labels.clone(), f64::from(u8::from(ok))));
        if let Some(at) = entry.and_then(|e| e.acknowledged_at) {
            pushed_at.push((labels, at as f64));
        }
    }
    let list = [
        Metric::gauge(
            "rcptsync_last_run_timestamp_seconds",
            "When extract, push or sync last ran, whatever its outcome.",
            now,
        ),
        Metric::gauge(
            LAST_SUCCESS,
            "When a run last succeeded (0: never); alert when it is too old.",
            last_success,
        ),
        Metric::gauge(
            "rcptsync_last_exit_status",
            "The last run's exit status: 0 ok, 1 failure, 2 config error, 3 refused by a guard.",
            f64::from(status as u8),
        ),
        Metric::gauge(
            "rcptsync_guard_refused",
            "1 when the last run was refused by a safety guard (the map was kept), or newly \
             held removals back.",
            f64::from(u8::from(status == ExitStatus::Refused)),
        ),
        Metric::gauge(
            "rcptsync_held_removals",
            "Removals a removal guard holds back for review (0: none); they stay in the map \
             until `rcptsync approve` lets them through or the directory takes them back.",
            held.as_ref().map_or(0.0, |h| h.count as f64),
        ),
        Metric::gauge(
            "rcptsync_held_since_timestamp_seconds",
            "Since when the held change is held (0: nothing is held); alert when it is old.",
            held.as_ref().map_or(0.0, |h| h.since as f64),
        ),
        Metric::gauge(
            "rcptsync_recipients",
            "Recipients in the map now.",
            recipients as f64,
        ),
        Metric::gauge(ADDED, "Recipients the last change of the map added.", added),
        Metric::gauge(
            REMOVED,
            "Recipients the last change of the map removed.",
            removed,
        ),
        Metric::gauge(
            "rcptsync_run_duration_seconds",
            "How long the last run took.",
            started.elapsed().as_secs_f64(),
        ),
        Metric {
            name: "rcptsync_source_incremental",
            help: "1 when the last run read only what changed in the source, 0 when it read it in full.",
            kind: "gauge",
            samples: incremental,
        },
        Metric::gauge(
            DRIFT,
            "Objects the last full reconcile found the incremental reads had wrong (0: none; \
             anything else is a bug to report).",
            seen.drift
                .map_or_else(|| textfile.previous(DRIFT).unwrap_or(0.0), |d| d as f64),
        ),
        Metric::gauge(
            "rcptsync_last_full_read_timestamp_seconds",
            "When the sources were last read in full (0: never).",
            state.map_or(0.0, |s| s.full_at as f64),
        ),
        Metric {
            name: "rcptsync_gateway_push_success",
            help: "1 when the last push to the gateway worked (or it already had the map).",
            kind: "gauge",
            samples: success,
        },
        Metric {
            name: "rcptsync_gateway_last_push_timestamp_seconds",
            help: "When the gateway last acknowledged a map.",
            kind: "gauge",
            samples: pushed_at,
        },
        Metric::gauge(
            "rcptsync_watch_heartbeat_timestamp_seconds",
            "When a running watch last showed it runs (0: none runs), as of the last run \
             (watch runs at least every 10 minutes); alert when it is older than 20 minutes \
             while watch should run.",
            beacon.as_ref().map_or(0.0, |b| b.heartbeat_at as f64),
        ),
        Metric {
            name: "rcptsync_gateway_change_seconds",
            help: "watch: seconds from the directory's announcement of the last change to the \
                   gateway's acknowledgement of the map with it.",
            kind: "gauge",
            samples: latency,
        },
    ];
    write(&textfile, &list);
}

/// Writes a gateway's metrics after apply ran for `started`.
fn apply(
    textfile: &Path,
    installed: Option<&Path>,
    started: Instant,
    result: &Result,
    freshness: bool,
) {
    let Some(textfile) = open(textfile) else {
        return;
    };
    let now = metrics::unix_seconds(SystemTime::now());
    let status = status(result);
    let last_success = if status == ExitStatus::Success {
        now
    } else {
        textfile.previous(APPLY_LAST_SUCCESS).unwrap_or(0.0)
    };
    let map = installed;
    let installed = installed
        .and_then(|i| metrics::count_lines(i).ok())
        .unwrap_or(0);
    // apply --freshness says nothing new about applying maps: those values stay as they were
    // (a refused map stays reported as refused).
    let kept = |name: &str, value: f64| match freshness {
        true => textfile.previous(name).unwrap_or(value),
        false => value,
    };
    let confirmed = map
        .and_then(|m| crate::install::stale::confirmed_at(m).ok().flatten())
        .unwrap_or(0);
    let stale_since = map
        .and_then(|m| crate::install::stale::Switched::read(m).ok().flatten())
        .map_or(0, |s| s.since);
    let list = [
        Metric::gauge(
            "rcptsync_map_confirmed_timestamp_seconds",
            "When the installed map was last confirmed current by a new map or a confirmation (0: never).",
            confirmed as f64,
        ),
        Metric::gauge(
            "rcptsync_map_stale_since_timestamp_seconds",
            "Since when the installed map is stale and unknown recipients get 450 (0: it is not).",
            stale_since as f64,
        ),
        Metric::gauge(
            "rcptsync_apply_last_run_timestamp_seconds",
            "When apply last ran, whatever its outcome.",
            now,
        ),
        Metric::gauge(
            APPLY_LAST_SUCCESS,
            "When apply last succeeded (0: never).",
            kept(APPLY_LAST_SUCCESS, last_success),
        ),
        Metric::gauge(
            "rcptsync_apply_last_exit_status",
            "apply's last exit status: 0 ok, 1 failure, 2 config error, 3 refused.",
            kept("rcptsync_apply_last_exit_status", f64::from(status as u8)),
        ),
        Metric::gauge(
            "rcptsync_apply_refused",
            "1 when the last apply refused the map (the installed one was kept).",
            kept(
                "rcptsync_apply_refused",
                f64::from(u8::from(status == ExitStatus::Refused)),
            ),
        ),
        Metric::gauge(
            "rcptsync_installed_recipients",
            "Recipients in the installed Postfix map.",
            installed as f64,
        ),
        Metric::gauge(
            "rcptsync_apply_duration_seconds",
            "How long the last apply took.",
            kept(
                "rcptsync_apply_duration_seconds",
                started.elapsed().as_secs_f64(),
            ),
        ),
    ];
    write(&textfile, &list);
}

fn status(result: &Result) -> ExitStatus {
    match result {
        Ok(status) => *status,
        Err(e) => e.status(),
    }
}

/// The role's textfile, or None (logged) when its directory cannot be opened safely.
fn open(path: &Path) -> Option<Textfile> {
    Textfile::open(path)
        .map_err(|e| error!("metrics: {e}; monitoring sees the previous run's values"))
        .ok()
}

fn write(textfile: &Textfile, list: &[Metric]) {
    if let Err(e) = textfile.write(list) {
        error!("metrics: {e}; monitoring sees the previous run's values");
    }
}
