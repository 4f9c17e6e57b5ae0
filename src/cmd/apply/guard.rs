//! apply's guards: measured against the installed map, with the approvals the map came with
//! ([`crate::install::approved`]) letting through exactly the removals they name.

use tracing::{error, warn};

use super::{Next, Settings};
use crate::cmd::{ExitStatus, report_guards};
use crate::install::approved::Carried;
use crate::install::build::Built;
use crate::rules::guard::{Proposal, Verdict};

/// The guards, measured against the installed map: the built map goes on only if they allow
/// it (each violation reported), or if the approvals it came with name every removal beyond
/// them. Addresses that stay in the map but lose their relay domain ([`Built::lost`]) count
/// as removed, and no approval names them.
pub(super) fn check(
    settings: &Settings,
    built: &Built,
    shown: &str,
    carried: &Carried,
) -> Next<()> {
    let lost = built.lost;
    let install = &settings.install;
    let verdict_for = |removed: usize| {
        let proposal = Proposal {
            count: built.count,
            sourced: built.count,
            previous: built.summary.map(|s| (s.previous, removed)),
            // Closing a domain is the directory side's decision, guarded by extract.
            closed: &[],
        };
        Verdict::new(
            &settings.safety,
            &proposal,
            |k| !built.missing_canaries.iter().any(|c| c == k),
            settings.options.change.force,
        )
    };
    if lost > 0 {
        warn!("{lost} address(es) of the map are in relay domains the payload removes");
    }
    let removed = built.summary.map_or(0, |s| s.removed) + lost;
    let uncovered = built.uncovered + lost;
    let verdict = verdict_for(removed);
    if !verdict.allows() {
        for why in &carried.unusable {
            error!("the map came with an approval that is not used: {why}");
        }
        if !carried.usable.is_empty() {
            if verdict_for(uncovered).allows() {
                for usable in carried.naming(&built.approvals_hit) {
                    warn!(
                        "approved change {} (signed by {}, valid until {}) lets removals past \
                         the guards",
                        usable.approval.id(),
                        usable.signer,
                        usable.approval.not_after_text(),
                    );
                }
                warn!(
                    "{} removal(s) approved, {} within the limits",
                    removed - uncovered,
                    uncovered
                );
                return Next::Go(());
            }
            error!("the approvals the map came with do not name {uncovered} of the removals");
        }
    }
    let refusal = match built.summary {
        Some(_) => format!(
            "refusing to install {shown} into {}; the installed map is unchanged",
            install.map
        ),
        None => format!(
            "refusing to install {shown} into {}; there is no map installed yet",
            install.map
        ),
    };
    report_guards(&verdict, &refusal, "");
    if verdict.allows() {
        Next::Go(())
    } else {
        Next::End(ExitStatus::Refused)
    }
}
