//! One module per subcommand: each wires the pipeline stages together for one job, takes
//! plain options (no command-line types), writes through the [`Printer`] and returns how the
//! run ended. The stages themselves live in their own modules.
//!
//! The exit code is decided where an error arises, by its kind ([`Error`]): a mistake in the
//! configuration is [`Error::Usage`] from the moment it is found, a directory or disk
//! failure is [`Error::Failure`]; nobody searches an error chain afterwards.

pub mod apply;
pub mod approve;
pub mod check;
pub mod doctor;
pub mod extract;
pub mod import_ini;
pub mod metrics;
pub mod printer;
pub mod prune;
pub mod push;
pub mod receive;
pub mod review;
pub mod status;
pub mod sync;
pub mod verify;
pub mod watch;

use tracing::error;

pub use printer::Printer;

use crate::rules::guard::Verdict;

/// How a run ended: the exit codes scripts and monitoring rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done, whether or not anything changed.
    Success = 0,
    /// Runtime failure: directory, I/O, ssh, postmap.
    Failure = 1,
    /// Usage or config error.
    Usage = 2,
    /// Refused by a safety guard, the installed map untouched; or removals held back for the
    /// first time (the rest of the change written).
    Refused = 3,
    /// verify or doctor found problems.
    Problems = 4,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        Self::from(status as u8)
    }
}

/// Why a command could not finish. The variant is chosen where the error is created and
/// picks the exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fix the configuration or the command line (exit 2).
    #[error("{0:#}")]
    Usage(anyhow::Error),
    /// Retry, or fix the directory, the network, the disk (exit 1).
    #[error("{0:#}")]
    Failure(anyhow::Error),
    /// stdout was closed (a pager quit, `| head`): the run ends quietly.
    #[error("stdout was closed")]
    Closed,
}

impl Error {
    /// The exit status for this error.
    pub fn status(&self) -> ExitStatus {
        match self {
            Self::Usage(_) => ExitStatus::Usage,
            Self::Failure(_) => ExitStatus::Failure,
            Self::Closed => ExitStatus::Success,
        }
    }
}

/// What a command returns.
pub type Result<T = ExitStatus> = std::result::Result<T, Error>;

/// Says where an error arises that it is a runtime failure (exit 1): there is no blanket
/// conversion, so every error a command returns has had its exit code chosen on purpose.
trait Failure<T> {
    /// This error, as a runtime failure: retry, or fix the directory, the network, the disk.
    fn failure(self) -> Result<T>;
}

impl<T, E: Into<anyhow::Error>> Failure<T> for std::result::Result<T, E> {
    fn failure(self) -> Result<T> {
        self.map_err(|e| Error::Failure(e.into()))
    }
}

impl From<crate::config::Error> for Error {
    fn from(e: crate::config::Error) -> Self {
        Self::Usage(e.into())
    }
}

impl From<crate::source::Error> for Error {
    fn from(e: crate::source::Error) -> Self {
        if e.is_usage() {
            Self::Usage(e.into())
        } else {
            Self::Failure(e.into())
        }
    }
}

impl From<printer::Error> for Error {
    fn from(e: printer::Error) -> Self {
        if e.0.kind() == std::io::ErrorKind::BrokenPipe {
            Self::Closed
        } else {
            Self::Failure(e.into())
        }
    }
}

/// Runtime failures of the stages: each is a [`Error::Failure`] as it is.
macro_rules! failures {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for Error {
            fn from(e: $error) -> Self {
                Self::Failure(e.into())
            }
        }
    )*};
}

failures!(
    std::io::Error,
    crate::lock::Error,
    crate::map::atomic::Error,
    crate::map::diff::Error,
    crate::map::state::Error,
    crate::map::text::Error,
    crate::transport::record::Error,
    crate::install::build::Error,
    crate::install::swap::Error,
    crate::postfix::Error,
    crate::verify::probe::Error,
    crate::store::Error,
);

/// Reports the guards' verdict on stderr: each violation, and whether `--force` overrides it,
/// can help, or cannot. `refusal` says what is not done (and that the live map is unchanged),
/// `advice` what to look at (may be empty).
fn report_guards(verdict: &Verdict, refusal: &str, advice: &str) {
    for violation in &verdict.violations {
        if verdict.forced {
            error!("--force overrides safety guard: {violation}");
        } else if violation.overridable() {
            error!("safety guard: {violation}");
        } else {
            error!("safety guard: {violation} (--force cannot override this)");
        }
    }
    if !verdict.allows() {
        let force = "run again with --force if this change is intended";
        match (verdict.overridable(), advice.is_empty()) {
            (true, false) => error!("{refusal}; {advice}, or {force}"),
            (true, true) => error!("{refusal}; {force}"),
            (false, false) => error!("{refusal}; {advice}"),
            (false, true) => error!("{refusal}"),
        }
    }
}

/// The options of every command that changes something.
#[derive(Debug, Clone, Copy, Default)]
pub struct Change {
    /// Show what would change, change nothing.
    pub dry_run: bool,
    /// Override the safety guards that may be overridden (logged loudly).
    pub force: bool,
    /// Push even to a gateway that already acknowledged the map.
    pub resend: bool,
}
