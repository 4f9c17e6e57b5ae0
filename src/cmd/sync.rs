//! `rcptsync sync`: extract, then push, the internal host's whole job in one cron line. The
//! push happens only when the extract succeeded; a refused or failed extract ends the run with
//! its own exit status and the gateways keep their map.

use crate::cli::ExitStatus;
use crate::cli::args::Extraction;
use crate::cmd::{extract, push};
use crate::config::Config;

/// Runs sync.
pub fn run(config: &Config, args: &Extraction, verbose: bool) -> anyhow::Result<ExitStatus> {
    match extract::run(config, args, verbose)? {
        ExitStatus::Success => push::run(config, &args.change, verbose),
        other => Ok(other),
    }
}
