//! `rcptsync import-ini`: the legacy Perl script's configuration converted to TOML.

use crate::cli::ExitStatus;

/// Not yet implemented.
pub fn run(
    _file: &std::path::Path,
    _password_file: &std::path::Path,
) -> anyhow::Result<ExitStatus> {
    tracing::error!("this command is not yet implemented in this version of rcptsync");
    Ok(ExitStatus::Usage)
}
