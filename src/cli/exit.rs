//! Exit codes: the contract scripts and monitoring rely on.

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done, whether or not anything changed.
    Success = 0,
    /// Runtime failure: directory, I/O, ssh, postmap.
    Failure = 1,
    /// Usage or config error.
    Usage = 2,
    /// Refused by a safety guard; the installed map is untouched.
    Refused = 3,
    /// verify or doctor found problems.
    Problems = 4,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        Self::from(status as u8)
    }
}
