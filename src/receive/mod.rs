//! The spool account's side of the privilege split: what the gateway's SSH forced command
//! (`rcptsync receive`) runs. It reads one payload from its input, checks it
//! ([`crate::map::payload`]) while streaming it to a temporary file in the spool, and renames
//! that file to [`SPOOL_NAME`], header and body together; or a confirmation that the map is
//! still current, kept as [`CONFIRM_NAME`]; or answers `check --connect`'s request, keeping
//! nothing. Root's side, which opens that file
//! for `apply` and trusts nothing in it, is the install side's spool reader
//! (`install/spool.rs`).
//!
//! Security: runs as the unprivileged SSH account. It reads only its input, writes only the
//! spool, refuses any command the client asked for other than [`REMOTE_COMMAND`] (so the key
//! cannot run commands or copy files), gives up on a sender that stalls ([`Deadline`]) and
//! holds a fixed amount of memory whatever the header claims. A truncated, oversized or
//! corrupt payload never replaces the spool file. This folder imports nothing of the
//! configuration, the sources, the transport or the install side: it depends only on the
//! payload format, the atomic writer and the lock (a test checks the `use` lines).

mod deadline;

use std::ffi::OsStr;
use std::io::{BufRead, Read as _, Write as _};
use std::path::Path;

pub use deadline::Deadline;

use crate::lock::{self, Lock};
use crate::map::atomic::{self, Replacement};
use crate::map::confirm::{Confirmation, is_check, is_confirmation};
use crate::map::payload::{self, Header, REMOTE_COMMAND};

/// Why nothing was stored; the reply for the pushing side says it after `ERROR`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client asked ssh to run something else (the text, cut to 80 characters).
    #[error("this key may only deliver maps; refusing the command {0:?}")]
    Command(String),
    /// The spool directory is missing (its name, escaped).
    #[error("spool directory {0} does not exist")]
    NoSpool(String),
    /// Another receive holds the spool, or its lock cannot be taken.
    #[error(transparent)]
    Lock(#[from] lock::Error),
    /// The payload does not check out (truncated, too large, wrong digest...).
    #[error(transparent)]
    Payload(#[from] payload::Error),
    /// The new spool file could not be made or put in place.
    #[error(transparent)]
    Replace(#[from] atomic::Error),
    /// Writing into the spool failed.
    #[error("store: {0}")]
    Store(std::io::Error),
}

/// The spool file `receive` writes and `apply` takes: the payload as received.
pub const SPOOL_NAME: &str = "relay_recipients";

/// The spool file where `receive` leaves the last confirmation ([`Confirmation`]).
pub const CONFIRM_NAME: &str = "confirmed";

/// receive's lock, in the spool.
pub const RECEIVE_LOCK: &str = ".receive.lock";

/// The sidecar earlier versions wrote beside the map; receive removes it.
const OLD_HEADER: &str = "relay_recipients.header";

/// Receives one payload from `input` into `spool`, refusing bodies larger than `max_bytes`.
/// `asked` is the command the client asked ssh for (`SSH_ORIGINAL_COMMAND`), if any. The
/// answer for the pushing side is `OK COUNT SHA256`; an error says why nothing was stored.
pub fn receive(
    spool: &Path,
    input: &mut impl BufRead,
    max_bytes: u64,
    asked: Option<&str>,
) -> Result<String, Error> {
    if let Some(asked) = asked
        && !asked.is_empty()
        && asked != REMOTE_COMMAND
    {
        return Err(Error::Command(asked.chars().take(80).collect()));
    }
    if !spool.is_dir() {
        return Err(Error::NoSpool(escape(spool.as_os_str())));
    }
    let _lock = Lock::acquire(&spool.join(RECEIVE_LOCK))?;
    let target = spool.join(SPOOL_NAME);
    // Under the lock no other receive is writing: any temporary file is a killed run's.
    for leftover in atomic::remove_leftovers(&target).map_err(Error::Store)? {
        tracing::info!(
            "removed {}, left by a receive that was killed",
            escape(leftover.as_os_str())
        );
    }
    // The first line says what comes (however few bytes the first read brought); it is
    // read again as part of what it starts.
    let mut first = Vec::new();
    input
        .by_ref()
        .take(payload::MAX_HEADER_LINE as u64 + 1)
        .read_until(b'\n', &mut first)
        .map_err(payload::Error::Io)?;
    // `check --connect`: the session reached this spool, and that is all it asks.
    if is_check(&first) {
        return Ok("OK CHECK".to_owned());
    }
    let confirmation = is_confirmation(&first);
    let input = &mut std::io::Cursor::new(first).chain(input);
    if confirmation {
        return confirm(spool, input);
    }
    let header = Header::read(input)?;
    if header.length > max_bytes {
        return Err(payload::Error::TooLarge {
            length: header.length,
            limit: max_bytes,
        }
        .into());
    }
    let mut replacement = Replacement::new(&target, 0o644)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, replacement.file());
        out.write_all(header.text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .map_err(Error::Store)?;
        header.copy_body(input, max_bytes, &mut out, None)?;
        out.flush().map_err(Error::Store)?;
    }
    replacement.commit()?;
    match crate::fs::remove_file(spool.join(OLD_HEADER)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("{e}"),
    }
    Ok(format!("OK {} {}", header.count, header.sha256))
}

/// Receives a confirmation from `input` into the spool (replacing the last one); the answer
/// is `OK CONFIRMED SHA256`.
fn confirm(spool: &Path, input: &mut impl BufRead) -> Result<String, Error> {
    let target = spool.join(CONFIRM_NAME);
    for leftover in atomic::remove_leftovers(&target).map_err(Error::Store)? {
        tracing::info!(
            "removed {}, left by a receive that was killed",
            escape(leftover.as_os_str())
        );
    }
    let confirmation = Confirmation::read(input)?;
    atomic::write(&target, confirmation.text.as_bytes(), 0o644)?;
    Ok(format!("OK CONFIRMED {}", confirmation.sha256))
}

/// A name as it may be printed: control characters and other bytes a terminal or a log
/// reader could act on are escaped, so a file name cannot forge log lines.
pub fn escape(name: &OsStr) -> String {
    name.to_string_lossy().escape_debug().to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::map::payload::Header;
    use std::io::BufReader;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::Path;
    use std::time::{Duration, Instant, SystemTime};

    pub(crate) fn payload(body: &[u8]) -> Vec<u8> {
        let header = Header::new(
            body.len() as u64,
            payload::count_entries(body),
            &crate::map::digest::sha256_hex(body),
            "test",
            SystemTime::UNIX_EPOCH,
        );
        [header.text.as_bytes(), b"\n", body].concat()
    }

    pub(crate) fn spool() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn receives_a_checked_payload_and_refuses_other_commands() {
        let dir = spool();
        let bytes = payload(b"a@example.com OK\n");
        let reply = receive(dir.path(), &mut &bytes[..], 1 << 20, Some("receive")).unwrap();
        assert!(reply.starts_with("OK 1 "), "{reply}");
        assert_eq!(fs_err::read(dir.path().join(SPOOL_NAME)).unwrap(), bytes);
        let refused = receive(
            dir.path(),
            &mut &bytes[..],
            1 << 20,
            Some("cat /etc/shadow"),
        );
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("may only deliver maps")
        );
        let truncated = receive(dir.path(), &mut &bytes[..bytes.len() - 1], 1 << 20, None);
        assert!(truncated.unwrap_err().to_string().contains("truncated"));
        let large = receive(dir.path(), &mut &bytes[..], 4, None);
        assert!(
            large
                .unwrap_err()
                .to_string()
                .contains("more than the limit")
        );
        assert_eq!(fs_err::read(dir.path().join(SPOOL_NAME)).unwrap(), bytes);
        // Nothing but the map and the lock: refused payloads leave no temporary file.
        let mut names: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [RECEIVE_LOCK, SPOOL_NAME]);
    }

    #[test]
    fn a_confirmation_or_a_map_arriving_a_byte_at_a_time_is_told_apart() {
        /// Hands out one byte per read, as a slow link may.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((&first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = first;
                self.0 = rest;
                Ok(1)
            }
        }
        let dir = spool();
        let map = payload(b"a@example.com OK\n");
        let mut input = BufReader::with_capacity(1, Trickle(&map));
        let reply = receive(dir.path(), &mut input, 1 << 20, None).unwrap();
        assert!(reply.starts_with("OK 1 "), "{reply}");
        let sha256 = "ab".repeat(32);
        let sent = Confirmation::new(&sha256, SystemTime::now());
        let mut input = BufReader::with_capacity(1, Trickle(sent.text.as_bytes()));
        let reply = receive(dir.path(), &mut input, 1 << 20, None).unwrap();
        assert_eq!(reply, format!("OK CONFIRMED {sha256}"));
        // The map spooled before is left as it was.
        assert_eq!(fs_err::read(dir.path().join(SPOOL_NAME)).unwrap(), map);
        assert_eq!(
            fs_err::read_to_string(dir.path().join(CONFIRM_NAME)).unwrap(),
            sent.text
        );
    }

    #[test]
    fn leftovers_of_killed_receives_are_removed() {
        let dir = spool();
        let leftover = dir.path().join(".relay_recipients.abc123.tmp");
        fs_err::write(&leftover, vec![0u8; 4096]).unwrap();
        let bytes = payload(b"a@example.com OK\n");
        receive(dir.path(), &mut &bytes[..], 1 << 20, None).unwrap();
        assert!(!leftover.exists());
    }

    #[test]
    fn a_stalled_sender_times_out() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let started = Instant::now();
        let mut input = BufReader::new(Deadline::new(reader, Duration::from_millis(200)));
        let e = Header::read(&mut input).unwrap_err().to_string();
        assert!(e.contains("no complete map within 200ms"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// The privilege split, checked where it can drift: the receiving side's modules must not
    /// use the configuration, the sources, the transport or root's install side.
    #[test]
    fn the_receive_path_imports_no_config_source_transport_or_install() {
        for file in [
            "src/receive/mod.rs",
            "src/receive/deadline.rs",
            "src/cmd/receive.rs",
            "src/map/payload.rs",
            "src/map/confirm.rs",
            "src/map/atomic.rs",
            "src/map/digest.rs",
            "src/lock.rs",
        ] {
            let text =
                fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for forbidden in ["config", "source", "transport", "install"] {
                assert!(
                    !code.contains(&format!("crate::{forbidden}")),
                    "{file} uses crate::{forbidden}"
                );
                // `use crate::{config, ...}` names it without the path.
                let grouped = code.split("use crate::{").skip(1).any(|group| {
                    let names = group.split('}').next().unwrap_or_default();
                    names
                        .split([',', ' ', '\n', ':'])
                        .any(|name| name == forbidden)
                });
                assert!(!grouped, "{file} imports {forbidden}");
            }
        }
    }
}
