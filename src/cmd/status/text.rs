//! status's text report: one line per fact, for the admin at a terminal.

use super::{Status, now};
use crate::cmd::{Printer, Result};

/// `value`, or what to say when it is not known.
fn or_unknown(value: Option<&str>, unknown: &str) -> String {
    value.unwrap_or(unknown).to_owned()
}

/// The report as lines of text.
pub(super) fn print_text(status: &Status, printer: Printer) -> Result<()> {
    let mut out = printer.out();
    if let Some(map) = &status.map {
        match (&map.recipients, &map.sha256) {
            (Some(count), Some(sha256)) => out.line(format_args!(
                "map {}: {count} recipients, sha256 {sha256}, updated {}",
                map.path,
                or_unknown(map.updated.as_deref(), "at an unknown time")
            ))?,
            _ => out.line(format_args!(
                "map {}: none yet (run rcptsync extract)",
                map.path
            ))?,
        }
        for source in &status.sources {
            let read = match (&source.method, &source.cursor) {
                (Some(method), _) if method == "full" => "last run read in full, ".to_owned(),
                (Some(method), Some(cursor)) => {
                    format!("last run read only the changes ({method}, cursor {cursor}), ")
                }
                _ => String::new(),
            };
            out.line(format_args!(
                "source {}: {read}last full run {}, change mark {}",
                source.name,
                or_unknown(source.last_full_run.as_deref(), "never"),
                or_unknown(source.change_mark.as_deref(), "none")
            ))?;
        }
        match status.drift {
            Some(0) => out.line(format_args!("last full reconcile: no drift"))?,
            Some(n) => out.line(format_args!(
                "last full reconcile: {n} object(s) the incremental reads had wrong (a bug: \
                 please report it)"
            ))?,
            None => {}
        }
        for gateway in &status.gateways {
            let acknowledged = match (&gateway.acknowledged_sha256, &gateway.pushed_at) {
                (None, _) => "nothing acknowledged yet".to_owned(),
                (Some(sha256), at) => format!(
                    "acknowledged sha256 {sha256} {}{}",
                    or_unknown(at.as_deref(), "at an unknown time"),
                    if gateway.current {
                        " (the current map)"
                    } else {
                        " (not the current map)"
                    }
                ),
            };
            let attempt = match (&gateway.last_attempt, &gateway.last_result) {
                (Some(at), Some(result)) => format!("; last push {at}: {result}"),
                _ => String::new(),
            };
            out.line(format_args!(
                "gateway {} ({}): {acknowledged}{attempt}",
                gateway.name, gateway.destination
            ))?;
        }
        if let Some(last) = &status.last_run {
            out.line(format_args!(
                "last run {}: exit {} ({}); map current as of {}",
                last.at,
                last.exit_status,
                last.result,
                or_unknown(last.current_as_of.as_deref(), "never")
            ))?;
        }
        if let Some(held) = &status.held {
            out.line(format_args!(
                "held: {} removal(s) since {} (change {}; {}): see rcptsync review",
                held.removals, held.since, held.id, held.guard
            ))?;
        }
        for line in status.watch.iter().flat_map(|w| w.beacon.describe(now())) {
            out.line(line)?;
        }
    }
    if let Some(install) = &status.install {
        match (&install.recipients, &install.sha256) {
            (Some(count), Some(sha256)) => out.line(format_args!(
                "installed {}: {count} recipients, sha256 {sha256}, installed {}{}",
                install.map,
                or_unknown(install.installed.as_deref(), "at an unknown time"),
                if install.as_installed {
                    ""
                } else {
                    " (not as apply installed it: no record, or changed since)"
                }
            ))?,
            _ => out.line(format_args!("installed {}: none yet", install.map))?,
        }
        let spool = &install.spool;
        match (&spool.recipients, &spool.sha256) {
            (Some(count), Some(sha256)) => out.line(format_args!(
                "spool {}: {} ({count} recipients, sha256 {sha256})",
                spool.path, spool.state
            ))?,
            _ => out.line(format_args!("spool {}: {}", spool.path, spool.state))?,
        }
        match &install.last_apply {
            Some(last) => out.line(format_args!(
                "last apply {}: exit {} ({})",
                or_unknown(last.at.as_deref(), "at an unknown time"),
                last.exit_status,
                last.result
            ))?,
            None => out.line("last apply: none recorded")?,
        }
        out.line(if install.rolled_back {
            "rollback: in force (the map rolled back from is not installed again until another arrives)"
        } else {
            "rollback: none"
        })?;
        match (&install.stale_since, &install.confirmed) {
            (Some(since), confirmed) => out.line(format_args!(
                "confirmed current: {}; stale since {since}: unknown recipients get 450 until \
                 the internal host confirms the map or sends a new one",
                or_unknown(confirmed.as_deref(), "never")
            ))?,
            (None, Some(at)) => out.line(format_args!("confirmed current: {at}"))?,
            (None, None) => {}
        }
    }
    out.finish()?;
    Ok(())
}
