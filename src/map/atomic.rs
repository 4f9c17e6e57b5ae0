//! The one way rcptsync replaces a file another program may be reading.
//!
//! Postfix may open the map at any moment; a half-written or empty file under the live name
//! makes smtpd answer 451 (or, for cdb, die). So the new content goes to a temporary file in
//! the same directory, is flushed to disk, and is then renamed over the live name, which POSIX
//! makes atomic: a reader sees the old file or the new one, never a mix. The directory is
//! flushed afterwards so that the rename survives a crash. On any error the temporary file is
//! removed and the live file is untouched.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Why a file could not be replaced; the live file is unchanged in every case.
#[derive(Debug, thiserror::Error)]
#[error("write {}: {source}", path.display())]
pub struct Error {
    /// The live file that was to be replaced.
    pub path: std::path::PathBuf,
    /// The underlying failure.
    #[source]
    pub source: std::io::Error,
}

/// Replaces `path` with `content` atomically. A new file gets mode `mode`; an existing file
/// keeps its mode (an admin may have tightened it).
pub fn write(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    let error = |source| Error {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mode = match fs_err::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => mode,
        Err(e) => return Err(error(e)),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(error)?;
    temp.write_all(content).map_err(error)?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(error)?;
    temp.as_file().sync_all().map_err(error)?;
    temp.persist(path).map_err(|e| error(e.error))?;
    fs_err::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        write(&path, b"one\n", 0o644).unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"one\n");
        assert_eq!(
            fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&path, b"two\n", 0o644).unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"two\n");
        assert_eq!(
            fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // No temporary file is left behind.
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_leaves_the_live_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        write(&path, b"live\n", 0o644).unwrap();
        // A directory in the way of the rename: the write must fail and change nothing.
        let blocked = dir.path().join("sub");
        fs_err::create_dir(&blocked).unwrap();
        fs_err::create_dir(blocked.join("x")).unwrap();
        assert!(write(&blocked, b"new\n", 0o644).is_err());
        assert_eq!(fs_err::read(&path).unwrap(), b"live\n");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 2);
    }
}
