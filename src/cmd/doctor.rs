//! `rcptsync doctor`: the gateway's Postfix settings against the relay-gateway checklist.

use crate::cli::ExitStatus;

/// Not yet implemented.
pub fn run(
    _config: Option<&crate::config::Config>,
    _config_dir: &std::path::Path,
    _verbose: bool,
) -> anyhow::Result<ExitStatus> {
    tracing::error!("this command is not yet implemented in this version of rcptsync");
    Ok(ExitStatus::Usage)
}
