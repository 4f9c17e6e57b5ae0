//! The spool directory between `receive` and `apply`.
//!
//! [`receive`] is what the gateway's SSH forced command runs: it reads one payload from its
//! input, checks it ([`crate::map::payload`]) and puts the map into the spool atomically, with
//! a sidecar holding the payload's header. [`newest`] is how `apply` finds it. Names starting
//! with a dot are temporary files still being written, and `*.header` files are `receive`'s
//! sidecars: neither is a map.
//!
//! Security: [`receive`] runs as the unprivileged SSH account. It reads only its input,
//! writes only the spool, and refuses any command the client asked for other than
//! [`REMOTE_COMMAND`] (so the key cannot run commands or copy files). A truncated, oversized
//! or corrupt payload never replaces the spool file. This module imports nothing of the
//! configuration, the sources or the transport: the receiving side of the privilege split
//! depends only on the payload format, the atomic writer and the lock.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::lock::Lock;
use crate::map::atomic;
use crate::map::payload::{Payload, REMOTE_COMMAND};

/// The spool file `apply` takes (and, with `.header`, its sidecar).
pub const SPOOL_NAME: &str = "relay_recipients";

/// Receives one payload from `input` into `spool`, refusing bodies larger than `max_bytes`.
/// `asked` is the command the client asked ssh for (`SSH_ORIGINAL_COMMAND`), if any. The
/// answer for the pushing side is `OK COUNT SHA256`; an error says why nothing was stored.
pub fn receive(
    spool: &Path,
    input: &mut impl BufRead,
    max_bytes: u64,
    asked: Option<&str>,
) -> Result<String, String> {
    if let Some(asked) = asked
        && !asked.is_empty()
        && asked != REMOTE_COMMAND
    {
        return Err(format!(
            "this key may only deliver maps; refusing the command {:?}",
            asked.chars().take(80).collect::<String>()
        ));
    }
    if !spool.is_dir() {
        return Err(format!(
            "spool directory {} does not exist",
            spool.display()
        ));
    }
    let payload = Payload::read(input, max_bytes).map_err(|e| e.to_string())?;
    let _lock = Lock::acquire(&spool.join(".receive.lock")).map_err(|e| e.to_string())?;
    atomic::write(&spool.join(SPOOL_NAME), &payload.body, 0o644).map_err(|e| e.to_string())?;
    atomic::write(
        &spool.join(format!("{SPOOL_NAME}.header")),
        payload.header.as_bytes(),
        0o644,
    )
    .map_err(|e| e.to_string())?;
    Ok(format!("OK {} {}", payload.count, payload.sha256))
}

/// The newest map file in `dir`, if any.
pub fn newest(dir: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".header") || name.ends_with(".lock") {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified()?;
        if best.as_ref().is_none_or(|(time, _)| modified > *time) {
            best = Some((modified, entry.path()));
        }
    }
    Ok(best.map(|(_, path)| path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn picks_the_newest_map_and_ignores_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(newest(dir.path()).unwrap(), None);
        let age = |name: &str, secs: u64| {
            let path = dir.path().join(name);
            fs_err::write(&path, "x@example.com OK\n").unwrap();
            let file = fs_err::File::options().write(true).open(&path).unwrap();
            file.set_modified(SystemTime::now() - Duration::from_secs(secs))
                .unwrap();
        };
        age("old", 300);
        age("new", 100);
        age(".partial.tmp", 1);
        age("new.header", 1);
        fs_err::create_dir(dir.path().join("subdir")).unwrap();
        assert_eq!(newest(dir.path()).unwrap(), Some(dir.path().join("new")));
    }

    #[test]
    fn receives_a_checked_payload_and_refuses_other_commands() {
        let dir = tempfile::tempdir().unwrap();
        let payload = Payload::new(
            b"a@example.com OK\n".to_vec(),
            "test",
            SystemTime::UNIX_EPOCH,
        );
        let bytes = payload.to_bytes();
        let reply = receive(dir.path(), &mut &bytes[..], 1 << 20, Some("receive")).unwrap();
        assert_eq!(reply, format!("OK 1 {}", payload.sha256));
        assert_eq!(
            fs_err::read(dir.path().join(SPOOL_NAME)).unwrap(),
            b"a@example.com OK\n"
        );
        let refused = receive(
            dir.path(),
            &mut &bytes[..],
            1 << 20,
            Some("cat /etc/shadow"),
        );
        assert!(refused.unwrap_err().contains("may only deliver maps"));
        let truncated = receive(dir.path(), &mut &bytes[..bytes.len() - 1], 1 << 20, None);
        assert!(truncated.unwrap_err().contains("truncated"));
    }

    /// The privilege split, checked where it can drift: the receiving side's modules must not
    /// import the configuration, the sources or the transport.
    #[test]
    fn the_receive_path_imports_no_config_source_or_transport() {
        for file in [
            "src/install/spool.rs",
            "src/cmd/receive.rs",
            "src/map/payload.rs",
            "src/map/atomic.rs",
            "src/map/digest.rs",
            "src/lock.rs",
        ] {
            let text =
                fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for forbidden in ["crate::config", "crate::source", "crate::transport"] {
                assert!(!code.contains(forbidden), "{file} uses {forbidden}");
            }
        }
    }
}
