//! The last step of every read: the map made of what the sources gave, the config's extra
//! addresses and the open domains; the rejected values reported; then the comparison with
//! the current map, the guards, the atomic write and the diff.

use std::borrow::Cow;

use anyhow::Context as _;
use tracing::{error, info, warn};

use super::{Run, Settings};
use crate::cmd::metrics::Observed;
use crate::cmd::{Change, ExitStatus, Failure as _, Printer, Result, report_guards};
use crate::hold::{self, Removals, approval::Approval, held::Held};
use crate::map::diff::{Previous, Side, Summary};
use crate::map::keys::KeySet;
use crate::map::{atomic, text};
use crate::rules::Rejection;
use crate::rules::guard::{Proposal, Verdict, Violation};

/// Adds the config's extra addresses and the open domains to `recipients` (what the sources
/// gave, finished), reports the rejected values (those not `known` are news; `gone` were
/// reported before and are no longer there) and what was left out, and installs the map.
pub(super) fn conclude(
    run: &Run<'_>,
    mut recipients: KeySet,
    stats: &crate::rules::Stats,
    rejections: &[Rejection],
    gone: usize,
    origins: &dyn Fn(&[String]) -> super::Origins,
    seen: &mut Observed,
) -> Result<Concluded> {
    let settings = run.settings;
    let sourced = recipients.len();
    if !settings.recipients.extra.is_empty() || !run.open.is_empty() {
        for address in &settings.recipients.extra {
            recipients.push(address);
        }
        // Postfix's wild-card for a domain without a complete recipient list: made here from
        // the config and Exchange's settings, never from a directory value (the rules refuse
        // an address without a local part).
        for domain in run.open {
            recipients.push(&format!("@{domain}"));
        }
        recipients.finish();
    }
    report(run, stats, rejections, gone);
    let concluded = install(
        settings,
        &recipients,
        sourced,
        origins,
        run.change,
        run.printer,
        seen,
    )?;
    if concluded.stands && !run.change.dry_run {
        seen.domains_changed = relay_domains(run)?;
    }
    Ok(concluded)
}

/// Writes the relay domains beside the map the run stands for ([`crate::map::domains`]): the
/// accepted ones, and the domain of every held removal that is no longer accepted, so that a
/// gateway goes on relaying the addresses its map still lists until the change is decided.
/// Whether they changed.
fn relay_domains(run: &Run<'_>) -> Result<bool> {
    let out = &run.settings.output.path;
    // A gateway refuses a payload with a name that is none: such a name (from Exchange's
    // accepted domains, say) is left out here and said, rather than stop every map.
    let mut patterns: Vec<String> = Vec::new();
    for pattern in run.rules.accepted.patterns() {
        match crate::rules::domains::relay_pattern(&pattern) {
            Some(normal) => patterns.push(normal),
            None => warn!(
                "accepted domain {:?} is not a domain name a gateway can relay; it is left out of the relay domains",
                pattern.chars().take(80).collect::<String>()
            ),
        }
    }
    let held = Held::read(&hold::held_path(out)).unwrap_or_else(|e| {
        warn!("{e}; the relay domains leave out the domains of its addresses");
        None
    });
    for address in held.iter().flat_map(|h| h.removals.addresses()) {
        if let Some((_, domain)) = address.rsplit_once('@')
            && !run.rules.accepted.contains(domain)
        {
            patterns.push(domain.to_owned());
        }
    }
    let text = crate::map::domains::render(patterns.iter().map(String::as_str));
    crate::map::domains::write(out, &text)
        .context("write the relay domains beside the map")
        .failure()
}

/// Reports the rejected values (those not `known` are news; `gone` were reported before and
/// are no longer there) and what the rules left out.
pub(super) fn report(
    run: &Run<'_>,
    stats: &crate::rules::Stats,
    rejections: &[Rejection],
    gone: usize,
) {
    // Each rejected value is warned about once, when it appears (-v lists them all), and its
    // going is said once too: an hourly full run must not mail the same news every hour.
    for rejection in rejections {
        if run.known.contains(&rejection.id()) {
            info!("{rejection} (reported before)");
        } else {
            warn!("{rejection}");
        }
    }
    if gone > 0 {
        run.printer.tell(format_args!(
            "{gone} directory value(s) rejected before are no longer there (fixed or removed)"
        ));
    }
    info!(
        "{} {} read; left out: {} requiring authenticated senders, {} non-SMTP proxy addresses, \
         {} outside the accepted domains, {} in excluded domains, {} invalid",
        stats.entries,
        if stats.entries == 1 {
            "entry"
        } else {
            "entries"
        },
        stats.auth_required,
        stats.other_types,
        stats.foreign,
        stats.excluded,
        rejections.len()
    );
}

/// What to do when the current map cannot be read.
const UNREADABLE: &str = "read the current map to compare against (fix or remove the line; \
                          removing the file also disables the removal guards for one run)";

/// Diff lines kept from the pass that counts them (about 5 MB), so that a change of that size
/// is printed without reading the map again.
const KEPT_DIFF: usize = 100_000;

/// Compares `recipients` with the current map, runs the guards and writes the map if allowed,
/// with the diff on stdout. A tripped removal guard holds the removals back ([`hold`]): the
/// map keeps those addresses and takes everything else.
fn install(
    settings: &Settings,
    recipients: &KeySet,
    sourced: usize,
    origins: &dyn Fn(&[String]) -> super::Origins,
    change: &Change,
    printer: Printer,
    seen: &mut Observed,
) -> Result<Concluded> {
    let out = &settings.output.path;
    let value = settings.output.value.as_str();
    // One pass over the current map: the counts for the guards, the domains opened and
    // closed, the removals (which a guard may hold), and the diff itself while it is small
    // (a larger one is read again to be printed). A map edited by hand into another order is
    // read whole.
    let mut old = Previous::streamed(out).context(UNREADABLE).failure()?;
    let (summary, opened, closed, kept, removed) = loop {
        let (mut opened, mut closed, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        let mut kept = old.exists().then(Vec::new);
        let merged = old.merge(recipients, |side, key| {
            match (key.strip_prefix('@'), side) {
                (Some(domain), Side::Added) => opened.push(domain.to_owned()),
                (Some(domain), Side::Removed) => closed.push(domain.to_owned()),
                (None, Side::Removed) => removed.push(key.to_owned()),
                (None, Side::Added) => {}
            }
            if let Some(lines) = &mut kept {
                match lines.len() < KEPT_DIFF {
                    true => lines.push((side, key.to_owned())),
                    false => kept = None,
                }
            }
        });
        match merged {
            Ok(summary) => break (summary, opened, closed, kept, removed),
            Err(e) if e.unsorted() => old = Previous::load(out).context(UNREADABLE).failure()?,
            Err(e) => return Err(e).context(UNREADABLE).failure(),
        }
    };
    // Removals an approval names go through; the rest are what the guards measure.
    let approvals = approvals(out);
    let (covered, uncovered): (Vec<String>, Vec<String>) = removed
        .into_iter()
        .partition(|k| approvals.iter().any(|a| a.removals.contains(k)));
    let proposal = Proposal {
        count: recipients.len(),
        sourced,
        previous: summary.map(|s| (s.previous, uncovered.len())),
        closed: &closed,
    };
    let verdict = Verdict::new(
        &settings.safety,
        &proposal,
        |k| recipients.contains(k),
        change.force,
    );
    // Only the removal guards hold; a guard that says the read itself is wrong refuses it.
    let holds = !verdict.allows()
        && verdict.violations.iter().all(|v| {
            matches!(
                v,
                Violation::TooManyRemoved { .. } | Violation::TooLargeShareRemoved { .. }
            )
        });
    let (map, summary, kept, held) = match holds {
        false => (Cow::Borrowed(recipients), summary, kept, None),
        true => {
            let mut map = recipients.clone();
            for key in &uncovered {
                map.push(key);
            }
            map.finish();
            let summary = summary.map(|s| Summary {
                removed: s.removed - uncovered.len(),
                ..s
            });
            let held = Removals::new(uncovered);
            let kept = kept.map(|mut lines| {
                lines.retain(|(side, key)| *side == Side::Added || !held.contains(key));
                lines
            });
            (Cow::Owned(map), summary, kept, Some(held))
        }
    };
    let map = map.as_ref();
    for approval in &approvals {
        let named = covered
            .iter()
            .filter(|k| approval.removals.contains(k))
            .count();
        if named > 0 {
            warn!(
                "approved change {}: removing {named} address(es) it names",
                approval.id()
            );
        }
    }
    let held_status =
        |dry_run: bool| hold_record(settings, held.as_ref(), origins, &verdict, dry_run);
    // The same keys: the map is left alone unless its text differs (its values, or lines
    // edited by hand).
    if summary.is_some_and(|s| s.added == 0 && s.removed == 0)
        && text::same_as_file(out, map, value)?
    {
        let status = held_status(change.dry_run)?;
        seen.held_news = status == ExitStatus::Refused;
        printer.note(format_args!(
            "{}: {} recipients, unchanged",
            out.display(),
            map.len()
        ))?;
        return Ok(Concluded {
            status,
            stands: true,
        });
    }

    // The diff: kept from the pass above, or the old map (its handle, so it can be read
    // after the rename) against the new one once more.
    let print = || -> Result<()> {
        printer.diff(
            |each| match &kept {
                Some(lines) => {
                    for (side, key) in lines {
                        each(*side, key);
                    }
                    Ok(summary)
                }
                None => Ok(old.merge(map, each)?),
            },
            |_| {
                let summary = summary.unwrap_or(Summary {
                    added: map.len(),
                    ..Summary::default()
                });
                summary.line(
                    &out.display(),
                    map.len(),
                    change.dry_run.then_some("dry run, nothing written"),
                )
            },
        )
    };
    let refusal = match summary {
        Some(_) => format!("refusing to replace {}, which is unchanged", out.display()),
        None => format!("refusing to write {}; there is no map yet", out.display()),
    };
    if held.is_none() {
        report_guards(&verdict, &refusal, "check the sources");
    }
    if change.dry_run {
        print()?;
        let status = match held {
            Some(_) => held_status(true)?,
            None if verdict.allows() => ExitStatus::Success,
            None => ExitStatus::Refused,
        };
        return Ok(Concluded {
            status,
            stands: false,
        });
    }
    if held.is_none() && !verdict.allows() {
        return Ok(Concluded {
            status: ExitStatus::Refused,
            stands: false,
        });
    }
    // Written before it is reported: a reader of the report that goes away (`| head`) must
    // not keep the map from being replaced.
    crate::crash::point("extract:before-map");
    atomic::write_with(out, 0o644, |w| text::write_map(map, value, w))?;
    crate::crash::point("extract:map-written");
    let status = held_status(false)?;
    seen.held_news = status == ExitStatus::Refused;
    // Said once, when it happens: the gateway stops checking recipients there.
    for domain in &opened {
        error!(
            "{domain} is now open: the map accepts every address in it (@{domain}), as a shared \
             address space whose recipients are not all in the directory; the gateways install \
             it only if their [install].internal_relay_domains lists it"
        );
    }
    seen.change = Some(summary.map_or((map.len(), 0), |s| (s.added, s.removed)));
    print()?;
    Ok(Concluded {
        status,
        stands: true,
    })
}

/// How the map came out of [`conclude`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Concluded {
    /// The run's exit status: a refusal, or a change held for the first time (or grown).
    pub(super) status: ExitStatus,
    /// Whether the map on disk is the one this read makes (written, or already so): the
    /// store and the snapshot may then stand for it.
    pub(super) stands: bool,
}

/// The approvals beside `map` that extract follows: those that are there, readable and not
/// expired (extract trusts its own directory; the gateways check the signatures).
fn approvals(map: &std::path::Path) -> Vec<Approval> {
    let path = hold::approval_path(map);
    let now = crate::map::state::now();
    match Approval::read_all(&path) {
        Ok(approvals) => approvals.into_iter().filter(|a| !a.expired(now)).collect(),
        Err(e) => {
            warn!("{e}; no approval is used");
            Vec::new()
        }
    }
}

/// Brings the held record in line with this run (`held`: what it holds back, if anything)
/// and says what changed: exit 3 when a change is held for the first time or grew, once;
/// success otherwise. A dry run writes nothing.
fn hold_record(
    settings: &Settings,
    held: Option<&Removals>,
    origins: &dyn Fn(&[String]) -> super::Origins,
    verdict: &Verdict,
    dry_run: bool,
) -> Result<ExitStatus> {
    let path = hold::held_path(&settings.output.path);
    let before = Held::read(&path).unwrap_or_else(|e| {
        warn!("{e}; it is replaced");
        None
    });
    let Some(held) = held else {
        if let Some(before) = before {
            if !dry_run {
                Held::remove(&path)
                    .with_context(|| format!("remove {}", path.display()))
                    .failure()?;
            }
            info!(
                "change {} is no longer held (approved, taken back by the directory, or within \
                 the limits now)",
                before.removals.id()
            );
        }
        return Ok(ExitStatus::Success);
    };
    let record = Held {
        removals: held.clone(),
        since: before
            .as_ref()
            .map_or_else(crate::map::state::now, |b| b.since),
        guard: verdict
            .violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        // Where each came from: as the run that first held it knew, or this one; with one
        // source, that one.
        origins: {
            let earlier = before.as_ref().map(|b| &b.origins);
            let unplaced: Vec<String> = held
                .addresses()
                .iter()
                .filter(|a| earlier.is_none_or(|o| !o.contains_key(*a)))
                .cloned()
                .collect();
            let found = match unplaced.is_empty() || dry_run {
                true => super::Origins::new(),
                false => origins(&unplaced),
            };
            held.addresses()
                .iter()
                .filter_map(|address| {
                    let origin = earlier
                        .and_then(|o| o.get(address))
                        .or_else(|| found.get(address))
                        .cloned()
                        .or_else(|| match &settings.sources[..] {
                            [source] => Some(source.name.clone()),
                            _ => None,
                        })?;
                    Some((address.clone(), origin))
                })
                .collect()
        },
    };
    if !dry_run && before.as_ref().is_none_or(|b| *b != record) {
        record.write(&path).failure()?;
    }
    let config = settings.config.display();
    let (id, count) = (held.id(), held.len());
    match &before {
        Some(before) if held.is_subset(&before.removals) => {
            if before.removals != *held {
                warn!(
                    "{} of the removals held are back in the directory; {count} still held as \
                     change {id} (`rcptsync review -c {config}`)",
                    before.removals.len() - count
                );
            } else {
                info!("{count} removal(s) still held as change {id}");
            }
            Ok(ExitStatus::Success)
        }
        _ => {
            for violation in &verdict.violations {
                error!("safety guard: {violation}");
            }
            error!(
                "holding back {count} removal(s) as change {id}: those addresses stay in the map, \
                 which takes every other change{}",
                if dry_run {
                    " (dry run, nothing written)"
                } else {
                    ""
                }
            );
            error!(
                "review it with `rcptsync review -c {config}`; let it through with \
                 `rcptsync approve {id} -c {config}`, or run again with --force"
            );
            Ok(ExitStatus::Refused)
        }
    }
}
