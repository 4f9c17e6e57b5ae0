//! `rcptsync receive --spool DIR`: the gateway's forced SSH command. It can do one thing:
//! read one payload from stdin, check it, and put the map into the spool atomically.
//!
//! Security: runs as the unprivileged SSH account. It reads only stdin, writes only the
//! spool, and ignores the command the client asked for except to refuse anything but
//! `receive` (so the key cannot be used to run other commands or scp files). A truncated,
//! oversized or corrupt payload never replaces the spool file. The reply on stdout is one
//! line, `OK COUNT SHA256` or `ERROR reason`, for the pushing side to report.

use std::io::Write as _;
use std::path::Path;

use tracing::error;

use crate::cli::ExitStatus;
use crate::lock::Lock;
use crate::map::{atomic, payload::Payload};
use crate::transport::ssh::REMOTE_COMMAND;

/// The spool file `apply` takes (and its sidecar with the payload's header).
pub const SPOOL_NAME: &str = "relay_recipients";

/// Receives one map into `spool`, refusing bodies larger than `max_bytes`.
pub fn run(spool: &Path, max_bytes: u64) -> ExitStatus {
    match receive(spool, max_bytes) {
        Ok(reply) => {
            answer(&reply);
            ExitStatus::Success
        }
        Err(reason) => {
            error!("receive: {reason}; the spool is unchanged");
            answer(&format!("ERROR {reason}"));
            ExitStatus::Failure
        }
    }
}

fn answer(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn receive(spool: &Path, max_bytes: u64) -> Result<String, String> {
    if let Some(asked) = std::env::var_os("SSH_ORIGINAL_COMMAND") {
        let asked = asked.to_string_lossy();
        if !asked.is_empty() && asked != REMOTE_COMMAND {
            return Err(format!(
                "this key may only deliver maps; refusing the command {:?}",
                asked.chars().take(80).collect::<String>()
            ));
        }
    }
    if !spool.is_dir() {
        return Err(format!(
            "spool directory {} does not exist",
            spool.display()
        ));
    }
    let payload =
        Payload::read(&mut std::io::stdin().lock(), max_bytes).map_err(|e| e.to_string())?;
    let _lock = Lock::acquire(&spool.join(".receive.lock")).map_err(|e| e.to_string())?;
    let map = spool.join(SPOOL_NAME);
    atomic::write(&map, &payload.body, 0o644).map_err(|e| e.to_string())?;
    atomic::write(
        &spool.join(format!("{SPOOL_NAME}.header")),
        payload.header.as_bytes(),
        0o644,
    )
    .map_err(|e| e.to_string())?;
    Ok(format!("OK {} {}", payload.count, payload.sha256))
}
