//! apply's guards: measured against the installed map, with the approval the map came with
//! ([`crate::install::approved`]) letting through exactly the removals it names.

use tracing::{error, warn};

use super::{Next, Settings};
use crate::cmd::{ExitStatus, report_guards};
use crate::hold::approval::Approval;
use crate::install::approved::Carried;
use crate::install::build::Built;
use crate::rules::guard::{Proposal, Verdict};

/// The guards, measured against the installed map: the built map goes on only if they allow
/// it (each violation reported), or if the approval it came with names every removal beyond
/// them; then that approval is returned, to be recorded as honoured.
pub(super) fn check<'c>(
    settings: &Settings,
    built: &Built,
    shown: &str,
    carried: &'c Carried,
) -> Next<Option<&'c Approval>> {
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
    let verdict = verdict_for(built.summary.map_or(0, |s| s.removed));
    if !verdict.allows() {
        match carried {
            Carried::Usable { approval, signer } => {
                let approval = approval.as_ref();
                let within = verdict_for(built.uncovered);
                if within.allows() {
                    warn!(
                        "approved change {} (signed by {signer}, valid until {}) lets {} \
                         removal(s) past the guards",
                        approval.id(),
                        approval.not_after_text(),
                        built.summary.map_or(0, |s| s.removed) - built.uncovered
                    );
                    return Next::Go(Some(approval));
                }
                error!(
                    "the approved change {} does not name {} of the removals",
                    approval.id(),
                    built.uncovered
                );
            }
            Carried::Unusable(why) => {
                error!("the map came with an approval that is not used: {why}")
            }
            Carried::None => {}
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
        Next::Go(None)
    } else {
        Next::End(ExitStatus::Refused)
    }
}
