//! `rcptsync push`: sends the current map to every `[[gateway]]` in parallel, each only when
//! the map changed since the last successful push to it (or with `--resend`); for `sync` and
//! `watch`, a gateway that has it is sent a small confirmation once `confirm_every` has passed
//! since its last acknowledgement, so that it can tell a quiet directory from a stopped host.
//!
//! Security: runs as the unprivileged extract account; it reads the map it wrote and talks
//! to the gateways only through ssh with strict host-key checking. A gateway's answer is
//! trusted only when it names the digest that was sent ([`crate::transport::record`] keeps
//! what each gateway acknowledged).

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;
use tracing::{error, info, warn};

use super::{Change, ExitStatus, Failure as _, Printer, Result};
use crate::hold::approval::Approval;
use crate::lock::Lock;
use crate::map::confirm::Confirmation;
use crate::map::payload::Header;
use crate::map::with_suffix;
use crate::transport::record::Record;
use crate::transport::{Gateway, ssh};

/// What push works with, resolved from the config (`cli/settings.rs`).
#[derive(Debug)]
pub struct Settings {
    /// The map to send (`[output].path`).
    pub map: PathBuf,
    /// The gateways, at least one.
    pub gateways: Vec<crate::transport::Gateway>,
    /// The sources' names, for the payload header.
    pub sources: String,
    /// Dry run, resend.
    pub change: Change,
    /// Whether gateways that have the map are sent a confirmation once their
    /// `confirm_every` is up: only after a read of the directory (`sync`, `watch`), which is
    /// what makes the map current.
    pub confirm: bool,
}

/// Runs push (sync runs it after extract).
pub fn run(settings: &Settings, printer: Printer) -> Result {
    let all: Vec<&Gateway> = settings.gateways.iter().collect();
    // sync has just read the directory: the map is current now. A plain push vouches only
    // for the last read that found it current (or, with no record of one, for the time the
    // map was written).
    let as_of = match settings.confirm {
        true => SystemTime::now(),
        false => last_read(&settings.map),
    };
    to(settings, &all, printer, Report::Run, as_of)
}

/// How a push reports the gateways that did not get the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// `push` and `sync`: each at error, and how many of them.
    Run,
    /// watch's thread for one gateway: at error when `alarm` (the first of a series of
    /// failures), else at info; the record has every one.
    Courier {
        /// Whether this failure is news.
        alarm: bool,
    },
}

/// Pushes the map to `gateways` (some of the settings', each on its own for watch). The lock
/// beside the map is held while the map is measured and opened, and again while the record
/// is updated, not while the gateways take it: a slow gateway holds up no extract, and the
/// files opened stay the map that was measured when extract replaces it meanwhile. The
/// answers are recorded under a lock of the record's own (`PATH.pushed.lock`), which no long
/// run holds. Failures are reported as `report` says. `as_of` is when a read last found the
/// map current: the payload's time and a confirmation's, which a gateway counts its
/// freshness from.
pub fn to(
    settings: &Settings,
    gateways: &[&Gateway],
    printer: Printer,
    report: Report,
    as_of: SystemTime,
) -> Result {
    let alarm = report != Report::Courier { alarm: false };
    let report_failure = |text: std::fmt::Arguments| {
        if alarm {
            error!("{text}");
        } else {
            info!("{text}");
        }
    };
    let (out, change) = (&settings.map, &settings.change);
    // A key ssh would not use is this host's mistake: a config error with its fix, found
    // before any gateway is contacted (and never reported as the gateway refusing it).
    for gateway in gateways {
        ssh::check_identity(gateway).map_err(|e| super::Error::Usage(e.into()))?;
    }
    let lock_path = with_suffix(out, ".lock");
    let record_path = with_suffix(out, ".pushed");
    let lock = Lock::acquire_within(&lock_path, crate::lock::WAIT)?;
    let payload = Header::for_file(out, &settings.sources, as_of)
        .context("read the map to push (run `rcptsync extract` first)")
        .failure()?;
    // The relay domains go with every map, so that a gateway that installs them relays
    // what the directory accepts. An approval of held removals goes with every map while it
    // is valid: a gateway that missed the push that first carried it still needs it.
    let domains = crate::map::domains::read(out)
        .inspect_err(|e| warn!("{e}; the map is pushed without its relay domains"))
        .ok()
        .flatten();
    let delivered = crate::map::domains::delivered(&payload.sha256, domains.as_deref());
    let approval = approval(out);
    let length = |part: &Option<Vec<u8>>| part.as_ref().map(|p| p.len() as u64);
    let payload = payload.with_parts(length(&domains), length(&approval));
    let trailer: Vec<u8> = [domains, approval]
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let trailer = &trailer[..];
    let record = Record::read(&record_path)?;
    let (due, current): (Vec<&Gateway>, Vec<&Gateway>) = gateways
        .iter()
        .partition(|g| change.resend || !record.has(g, &delivered));
    let now = crate::map::state::now();
    let (confirming, current): (Vec<&Gateway>, Vec<&Gateway>) =
        current.into_iter().partition(|g| {
            let acknowledged = record.get(g).and_then(|e| e.acknowledged_at);
            settings.confirm && acknowledged.is_none_or(|at| now >= at + g.confirm_every.as_secs())
        });
    for gateway in current {
        printer.note(format_args!("{}: unchanged, not pushed", gateway.name))?;
    }
    if change.dry_run {
        for gateway in &confirming {
            printer.note(format_args!("{}: would confirm its map", gateway.name))?;
        }
        for gateway in &due {
            printer.line(format_args!(
                "{}: would push {} recipients to {}",
                gateway.name,
                payload.count,
                gateway.destination()
            ))?;
        }
        return Ok(ExitStatus::Success);
    }
    let files = due
        .iter()
        .map(|_| crate::fs::File::open(out))
        .collect::<std::io::Result<Vec<_>>>()
        .context("open the map to push")
        .failure()?;
    drop(lock);
    let confirmation = Confirmation::new(&payload.sha256, as_of);
    let results: Vec<(&Gateway, std::result::Result<String, ssh::Error>)> =
        std::thread::scope(|scope| {
            let pushes = due.iter().zip(files).map(|(gateway, file)| {
                let header = &payload.text;
                let send = move || ssh::send(gateway, header, file, trailer);
                (*gateway, scope.spawn(send))
            });
            let confirmations = confirming.iter().map(|gateway| {
                // The confirmation ends in its blank line; send adds that after a header.
                let text = confirmation.text.strip_suffix('\n').unwrap_or_default();
                let send = move || ssh::send(gateway, text, std::io::empty(), &[]);
                (*gateway, scope.spawn(send))
            });
            let handles: Vec<_> = pushes.chain(confirmations).collect();
            handles
                .into_iter()
                .map(|(gateway, handle)| {
                    let result = handle.join().unwrap_or_else(|_| {
                        Err(ssh::Error::Failed("the push thread panicked".into()))
                    });
                    (gateway, result)
                })
                .collect()
        });
    // The record as it is now: another push may have written it meanwhile.
    let _lock = Lock::acquire_within(&with_suffix(out, ".pushed.lock"), crate::lock::WAIT)?;
    let mut record = Record::read(&record_path)?;
    let mut failed = 0;
    let mut pushed = Vec::new();
    let at = crate::map::state::now();
    for (gateway, result) in results {
        match result {
            Ok(reply) if !reply.ends_with(&format!(" {}", payload.sha256)) => {
                failed += 1;
                let reason =
                    format!("the receiver answered {reply:?}, not the digest that was sent");
                report_failure(format_args!(
                    "gateway {} ({}): {reason}",
                    gateway.name, gateway.host
                ));
                record.fail(gateway, at, &reason);
            }
            Ok(reply) if confirming.iter().any(|c| std::ptr::eq(*c, gateway)) => {
                record.acknowledge(gateway, &delivered, at);
                info!("{}: confirmed its map is current ({reply})", gateway.name);
            }
            Ok(reply) => {
                record.acknowledge(gateway, &delivered, at);
                pushed.push(format!(
                    "{}: pushed {} recipients to {} ({reply})",
                    gateway.name, payload.count, gateway.host
                ));
            }
            Err(e) => {
                failed += 1;
                report_failure(format_args!(
                    "gateway {} ({}): push failed: {e}",
                    gateway.name, gateway.host
                ));
                record.fail(gateway, at, &format!("push failed: {e}"));
            }
        }
    }
    // Recorded before it is reported: a closed stdout must not make a delivered map look
    // undelivered. Gateways removed from the config are forgotten.
    record.retain(&settings.gateways);
    record.write(&record_path)?;
    for line in pushed {
        printer.line(line)?;
    }
    if failed > 0 {
        if report == Report::Run {
            error!(
                "{failed} of {} gateway(s) did not get the map or its confirmation",
                due.len() + confirming.len()
            );
        }
        return Ok(ExitStatus::Failure);
    }
    if !due.is_empty() {
        info!("pushed to {} gateway(s)", due.len());
    }
    Ok(ExitStatus::Success)
}

/// When a read last found the map at `map` current ([`crate::map::ran`]), or else when the
/// map was written.
pub fn last_read(map: &std::path::Path) -> SystemTime {
    match crate::map::ran::Ran::read(map).and_then(|r| r.success) {
        Some(at) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(at),
        None => crate::fs::metadata(map)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH),
    }
}

/// The text of the approvals beside `map` that push carries: those that are there, signed
/// and not expired (the gateways check the signatures; an unsigned approval counts only on
/// this host, and a payload without any is version 1, which a gateway that knows no
/// approvals takes too). A file that cannot be read is only a warning: the map goes without.
fn approval(map: &std::path::Path) -> Option<Vec<u8>> {
    let path = crate::hold::approval_path(map);
    let now = crate::map::state::now();
    let approvals = Approval::read_all(&path)
        .inspect_err(|e| warn!("{e}; the map is pushed without an approval"))
        .ok()?;
    let mut text = String::new();
    for approval in approvals
        .iter()
        .filter(|a| a.is_signed() && !a.expired(now))
    {
        match approval.to_text() {
            Ok(one) => text.push_str(&one),
            Err(e) => warn!("{e}; the map is pushed without it"),
        }
    }
    (!text.is_empty()).then(|| text.into_bytes())
}
