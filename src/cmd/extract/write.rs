//! The last step of every read: the map made of what the sources gave, the config's extra
//! addresses and the open domains; the rejected values reported; then the comparison with
//! the current map, the guards, the atomic write and the diff.

use anyhow::Context as _;
use tracing::{error, info, warn};

use super::{Run, Settings};
use crate::cmd::metrics::Observed;
use crate::cmd::{Change, ExitStatus, Failure as _, Printer, Result, report_guards};
use crate::map::diff::{Previous, Side, Summary};
use crate::map::keys::KeySet;
use crate::map::{atomic, text};
use crate::rules::Rejection;
use crate::rules::guard::{Proposal, Verdict};

/// Adds the config's extra addresses and the open domains to `recipients` (what the sources
/// gave, finished), reports the rejected values (those not `known` are news; `gone` were
/// reported before and are no longer there) and what was left out, and installs the map.
pub(super) fn conclude(
    run: &Run<'_>,
    mut recipients: KeySet,
    stats: &crate::rules::Stats,
    rejections: &[Rejection],
    gone: usize,
    seen: &mut Observed,
) -> Result {
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
    install(
        settings,
        &recipients,
        sourced,
        run.change,
        run.printer,
        seen,
    )
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
        "{} entries read; left out: {} requiring authenticated senders, {} non-SMTP proxy addresses, \
         {} outside the accepted domains, {} in excluded domains, {} invalid",
        stats.entries,
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
/// with the diff on stdout.
fn install(
    settings: &Settings,
    recipients: &KeySet,
    sourced: usize,
    change: &Change,
    printer: Printer,
    seen: &mut Observed,
) -> Result {
    let out = &settings.output.path;
    let value = settings.output.value.as_str();
    // One pass over the current map: the counts for the guards, the domains opened and
    // closed, and the diff itself while it is small (a larger one is read again to be
    // printed). A map edited by hand into another order is read whole.
    let mut old = Previous::streamed(out).context(UNREADABLE).failure()?;
    let (summary, opened, closed, kept) = loop {
        let (mut opened, mut closed) = (Vec::new(), Vec::new());
        let mut kept = old.exists().then(Vec::new);
        let merged = old.merge(recipients, |side, key| {
            if let Some(domain) = key.strip_prefix('@') {
                match side {
                    Side::Added => opened.push(domain.to_owned()),
                    Side::Removed => closed.push(domain.to_owned()),
                }
            }
            if let Some(lines) = &mut kept {
                match lines.len() < KEPT_DIFF {
                    true => lines.push((side, key.to_owned())),
                    false => kept = None,
                }
            }
        });
        match merged {
            Ok(summary) => break (summary, opened, closed, kept),
            Err(e) if e.unsorted() => old = Previous::load(out).context(UNREADABLE).failure()?,
            Err(e) => return Err(e).context(UNREADABLE).failure(),
        }
    };
    // The same keys: the map is left alone unless its text differs (its values, or lines
    // edited by hand).
    if summary.is_some_and(|s| s.added == 0 && s.removed == 0)
        && text::same_as_file(out, recipients, value)?
    {
        printer.note(format_args!(
            "{}: {} recipients, unchanged",
            out.display(),
            recipients.len()
        ))?;
        return Ok(ExitStatus::Success);
    }
    let proposal = Proposal {
        count: recipients.len(),
        sourced,
        previous: summary.map(|s| (s.previous, s.removed)),
        closed: &closed,
    };
    let verdict = Verdict::new(
        &settings.safety,
        &proposal,
        |k| recipients.contains(k),
        change.force,
    );

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
                None => Ok(old.merge(recipients, each)?),
            },
            |_| {
                let summary = summary.unwrap_or(Summary {
                    added: recipients.len(),
                    ..Summary::default()
                });
                summary.line(
                    &out.display(),
                    recipients.len(),
                    change.dry_run.then_some("dry run, nothing written"),
                )
            },
        )
    };
    let refusal = match summary {
        Some(_) => format!("refusing to replace {}, which is unchanged", out.display()),
        None => format!("refusing to write {}; there is no map yet", out.display()),
    };
    if change.dry_run {
        print()?;
        report_guards(&verdict, &refusal, "check the sources");
        return Ok(if verdict.allows() {
            ExitStatus::Success
        } else {
            ExitStatus::Refused
        });
    }
    report_guards(&verdict, &refusal, "check the sources");
    if !verdict.allows() {
        return Ok(ExitStatus::Refused);
    }
    // Written before it is reported: a reader of the report that goes away (`| head`) must
    // not keep the map from being replaced.
    crate::crash::point("extract:before-map");
    atomic::write_with(out, 0o644, |w| text::write_map(recipients, value, w))?;
    crate::crash::point("extract:map-written");
    // Said once, when it happens: the gateway stops checking recipients there.
    for domain in &opened {
        error!(
            "{domain} is now open: the map accepts every address in it (@{domain}), as a shared \
             address space whose recipients are not all in the directory; the gateways install \
             it only if their [install].internal_relay_domains lists it"
        );
    }
    seen.change = Some(summary.map_or((recipients.len(), 0), |s| (s.added, s.removed)));
    print()?;
    Ok(ExitStatus::Success)
}
