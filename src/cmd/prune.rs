//! `rcptsync prune`: remove proxyAddresses in excluded domains from the directory.

use crate::cli::ExitStatus;

/// Not yet implemented.
pub fn run(
    _config: &crate::config::Config,
    _apply: bool,
    _undo: Option<&std::path::Path>,
) -> anyhow::Result<ExitStatus> {
    tracing::error!("this command is not yet implemented in this version of rcptsync");
    Ok(ExitStatus::Usage)
}
