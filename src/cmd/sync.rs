//! `rcptsync sync`: extract, then push, the internal host's whole job in one cron line. The
//! push happens only when the extract succeeded; a refused or failed extract ends the run with
//! its own exit status and the gateways keep their map.
//!
//! Security: as extract and push, unprivileged.

use super::{ExitStatus, Printer, Result, extract, metrics, push};

/// What sync works with: extract's settings and push's, from one config and one set of
/// options (`cli/settings.rs`).
#[derive(Debug)]
pub struct Settings {
    /// The extract step.
    pub extract: extract::Settings,
    /// The push step.
    pub push: push::Settings,
}

/// Runs sync, then writes the metrics once for both steps (not after a dry run).
pub fn run(settings: &Settings, printer: Printer) -> Result {
    let extract = &settings.extract;
    metrics::around(
        extract.metrics(),
        extract.options.change.dry_run,
        |seen| match extract::extract(extract, printer, seen) {
            Ok(ExitStatus::Success) => push::push(&settings.push, printer),
            other => other,
        },
    )
}
