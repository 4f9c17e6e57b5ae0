//! `rcptsync sync`: extract, then push, the internal host's whole job in one cron line. The
//! push happens only when the extract succeeded; a refused or failed extract ends the run with
//! its own exit status and the gateways keep their map.
//!
//! Security: as extract and push, unprivileged.

use super::{ExitStatus, Printer, Result, extract, metrics, push};
use crate::config::Config;

/// Runs sync, then writes the metrics once for both steps (not after a dry run).
pub fn run(config: &Config, options: &extract::Options, printer: Printer) -> Result {
    let started = std::time::Instant::now();
    let mut seen = metrics::Observed::default();
    let result = match extract::extract(config, options, printer, &mut seen) {
        Ok(ExitStatus::Success) => push::push(config, &options.change, printer),
        other => other,
    };
    if !options.change.dry_run {
        metrics::internal(config, started, &result, &seen);
    }
    result
}
