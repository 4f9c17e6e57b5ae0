//! `rcptsync status --plugin`: the same state in the form monitoring plugins take (the
//! Monitoring Plugins guidelines, which Icinga, Nagios, Checkmk and Zabbix read): one line,
//! `RCPTSYNC STATE - what | perfdata`, and the exit status 0 OK, 1 WARNING, 2 CRITICAL,
//! 3 UNKNOWN.
//!
//! On the internal host it measures the age of the last read that found the map current
//! (`PATH.run`); a run that failed is CRITICAL, a held change or a gateway that has not
//! acknowledged the current map a WARNING. On a gateway it measures how long ago the
//! installed map was confirmed current (`PATH.confirmed`); a map gone stale (unknown
//! recipients get 450) or a failed apply is CRITICAL, a refused map a WARNING. A host in both
//! roles reports the worse.

use std::time::Duration;

use super::{Settings, Status};
use crate::cmd::Result;
use crate::install::stale;
use crate::map::ran::Ran;

/// The age limits (`--warning`, `--critical`).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Older than this is a WARNING.
    pub warning: Duration,
    /// Older than this is CRITICAL.
    pub critical: Duration,
}

/// A plugin's state, ordered from best to worst; the value is its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// All is well.
    Ok = 0,
    /// Look at it soon.
    Warning = 1,
    /// Look at it now.
    Critical = 2,
    /// The state cannot be told (nothing recorded yet, or the config is broken).
    Unknown = 3,
}

impl State {
    /// How the line names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "WARNING",
            Self::Critical => "CRITICAL",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// The line for a state that could not be measured (`why`: a usage or config error).
pub fn unknown(why: &str) -> String {
    let why: String = why
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    format!("RCPTSYNC UNKNOWN - {why}")
}

/// What is found, worst first in the line.
#[derive(Default)]
struct Findings {
    state: Option<State>,
    said: Vec<(State, String)>,
    perfdata: Vec<String>,
}

impl Findings {
    fn add(&mut self, state: State, text: String) {
        self.state = self.state.max(Some(state));
        self.said.push((state, text));
    }

    /// The age check: `what` was `age` ago (None: never).
    fn age(&mut self, what: &str, label: &str, age: Option<u64>, limits: Thresholds) {
        let (warning, critical) = (limits.warning.as_secs(), limits.critical.as_secs());
        match age {
            None => self.add(State::Critical, format!("{what}: never")),
            Some(age) => {
                let state = match age {
                    a if a > critical => State::Critical,
                    a if a > warning => State::Warning,
                    _ => State::Ok,
                };
                let shown = humantime::format_duration(Duration::from_secs(age));
                self.add(state, format!("{what} {shown} ago"));
                self.perfdata
                    .push(format!("{label}={age}s;{warning};{critical};0"));
            }
        }
    }
}

/// The state of `settings`' roles and the plugin's line for it.
pub fn check(settings: &Settings, limits: Thresholds) -> Result<(State, String)> {
    let status = super::gather(settings)?;
    let now = crate::map::state::now();
    let mut found = Findings::default();
    if let Some(internal) = &settings.internal {
        internal_side(&mut found, &status, Ran::read(&internal.map), now, limits);
    }
    if let Some(install) = &settings.install {
        gateway_side(&mut found, &status, &install.map.path, now, limits);
    }
    let state = found.state.unwrap_or(State::Unknown);
    found.said.sort_by_key(|said| std::cmp::Reverse(said.0));
    let text: Vec<String> = found.said.into_iter().map(|(_, t)| t).collect();
    let mut line = format!("RCPTSYNC {} - {}", state.name(), text.join("; "));
    if !found.perfdata.is_empty() {
        line.push_str(" | ");
        line.push_str(&found.perfdata.join(" "));
    }
    Ok((state, line))
}

/// The internal host: the last run, the held change, the gateways.
fn internal_side(
    found: &mut Findings,
    status: &Status,
    ran: Option<Ran>,
    now: u64,
    limits: Thresholds,
) {
    let Some(ran) = ran else {
        found.add(
            State::Unknown,
            "no run recorded yet (has rcptsync sync or watch run?)".into(),
        );
        return;
    };
    found.age(
        "map current as of",
        "age",
        ran.success.map(|at| now.saturating_sub(at)),
        limits,
    );
    let held = status.held.as_ref().map_or(0, |h| h.removals);
    // A change held for the first time exits 3 with the map written: the held change says it.
    if ran.exit != 0 && !(ran.exit == 3 && held > 0) {
        found.add(
            State::Critical,
            format!(
                "the last run failed (exit {}: {})",
                ran.exit,
                super::meaning(ran.exit)
            ),
        );
    }
    if let Some(held) = &status.held {
        found.add(
            State::Warning,
            format!(
                "{} removal(s) held since {} (rcptsync review)",
                held.removals, held.since
            ),
        );
    }
    let behind: Vec<&str> = status
        .gateways
        .iter()
        .filter(|g| !g.current)
        .map(|g| g.name.as_str())
        .collect();
    if !behind.is_empty() {
        found.add(
            State::Warning,
            format!("not acknowledged the current map: {}", behind.join(", ")),
        );
    }
    if let Some(recipients) = status.map.as_ref().and_then(|m| m.recipients) {
        found.perfdata.push(format!("recipients={recipients}"));
    }
    found.perfdata.push(format!("held={held}"));
    found
        .perfdata
        .push(format!("gateways_behind={};0;;0", behind.len()));
}

/// A gateway: how long ago its map was confirmed, the stale switch, the last apply.
fn gateway_side(
    found: &mut Findings,
    status: &Status,
    map: &std::path::Path,
    now: u64,
    limits: Thresholds,
) {
    let Some(install) = &status.install else {
        return;
    };
    match stale::confirmed_at(map).ok().flatten() {
        None => found.add(
            State::Unknown,
            "no map confirmed yet (has apply run?)".into(),
        ),
        Some(at) => found.age(
            "installed map confirmed",
            "confirmed_age",
            Some(now.saturating_sub(at)),
            limits,
        ),
    }
    if let Some(since) = &install.stale_since {
        found.add(
            State::Critical,
            format!("stale since {since}: unknown recipients get 450"),
        );
    }
    match install.last_apply.as_ref().map(|l| l.exit_status) {
        Some(3) => found.add(State::Warning, "the last map was refused (apply)".into()),
        Some(exit @ (1 | 2)) => found.add(
            State::Critical,
            format!(
                "the last apply failed (exit {exit}: {})",
                super::meaning(exit)
            ),
        ),
        _ => {}
    }
    if let Some(recipients) = install.recipients {
        found.perfdata.push(format!("installed={recipients}"));
    }
}
