//! `rcptsync receive --spool DIR`: the gateway's forced SSH command. It can do one thing:
//! read one payload from stdin, check it, and put the map into the spool atomically.
//!
//! Security: runs as the unprivileged SSH account, from `authorized_keys`
//! (`restrict,command="rcptsync receive --spool DIR"`). It needs no config file and imports
//! nothing of the configuration, the sources or the transport: the whole job is
//! [`crate::receive::receive`]. The reply on stdout is one line, `OK COUNT SHA256` or
//! `ERROR reason`, for the pushing side to report.

use std::os::fd::AsFd as _;
use std::path::PathBuf;

use tracing::error;

use super::{ExitStatus, Printer, Result};
use crate::receive;

/// Where to receive.
#[derive(Debug, Clone)]
pub struct Options {
    /// The spool directory (apply's `[install].spool`).
    pub spool: PathBuf,
    /// Refuse maps larger than this many bytes.
    pub max_bytes: u64,
    /// The longest the whole session may take.
    pub timeout: std::time::Duration,
}

/// Receives one map from stdin into the spool.
pub fn run(options: &Options, printer: Printer) -> Result {
    let asked = std::env::var_os("SSH_ORIGINAL_COMMAND");
    let asked = asked.as_ref().map(|a| a.to_string_lossy());
    let stdin = std::io::stdin();
    let mut input = std::io::BufReader::with_capacity(
        1 << 16,
        receive::Deadline::new(stdin.as_fd(), options.timeout),
    );
    let received = receive::receive(
        &options.spool,
        &mut input,
        options.max_bytes,
        asked.as_deref(),
    );
    match received {
        Ok(reply) => {
            printer.line(reply)?;
            Ok(ExitStatus::Success)
        }
        Err(reason) => {
            error!("receive: {reason}; the spool is unchanged");
            printer.line(format_args!("ERROR {reason}"))?;
            Ok(ExitStatus::Failure)
        }
    }
}
