//! `rcptsync sync`: extract, then push, the internal host's whole job in one cron line. The
//! push happens only when the extract succeeded; a refused or failed extract ends the run with
//! its own exit status and the gateways keep their map.
//!
//! Security: as extract and push, unprivileged.

use super::{ExitStatus, Printer, Result, extract, push};
use crate::config::Config;

/// Runs sync.
pub fn run(config: &Config, options: &extract::Options, printer: Printer) -> Result {
    match extract::run(config, options, printer)? {
        ExitStatus::Success => push::run(config, &options.change, printer),
        other => Ok(other),
    }
}
