//! `rcptsync verify`: an SMTP probe of the gateway.

use crate::cli::ExitStatus;

/// Not yet implemented.
pub fn run(
    _config: &crate::config::Config,
    _smtp: &str,
    _starttls: bool,
) -> anyhow::Result<ExitStatus> {
    tracing::error!("this command is not yet implemented in this version of rcptsync");
    Ok(ExitStatus::Usage)
}
