//! `rcptsync sync`: extract, then push, the internal host's whole job in one cron line. The
//! push happens only when the extract succeeded or held removals back (the map it wrote has
//! the additions, which must reach the gateways); a refused or failed extract ends the run
//! with its own exit status and the gateways keep their map.
//!
//! Security: as extract and push, unprivileged.

use super::metrics::Observed;
use super::{ExitStatus, Printer, Result, extract, push};

/// What sync works with: extract's settings and push's, from one config and one set of
/// options (`cli/settings.rs`).
#[derive(Debug)]
pub struct Settings {
    /// The extract step.
    pub extract: extract::Settings,
    /// The push step.
    pub push: push::Settings,
}

/// Runs sync: the push only after an extract that succeeded or held a change (which still
/// exits 3, once, unless the push failed: that is the more urgent news).
pub fn run(settings: &Settings, printer: Printer, seen: &mut Observed) -> Result {
    let status = match extract::run(&settings.extract, printer, seen) {
        Ok(ExitStatus::Success) => push::run(&settings.push, printer),
        Ok(ExitStatus::Refused) if seen.held_news => match push::run(&settings.push, printer) {
            Ok(ExitStatus::Success) => Ok(ExitStatus::Refused),
            failed => failed,
        },
        // The map is in place, only an export failed: the gateways get the map all the same.
        Ok(ExitStatus::Failure) if seen.exports_failed => {
            push::run(&settings.push, printer).map(|_| ExitStatus::Failure)
        }
        other => return other,
    };
    // The exports' commands (an upload to a filtering service) once the gateways have the
    // map: however long one takes, it does not hold them back.
    if extract::commands(&settings.extract) {
        return status;
    }
    seen.exports_failed = true;
    match status {
        Ok(ExitStatus::Success) => Ok(ExitStatus::Failure),
        other => other,
    }
}
