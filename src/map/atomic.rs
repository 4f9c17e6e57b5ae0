//! The one way rcptsync replaces a file another program may be reading.
//!
//! Postfix may open the map at any moment; a half-written or empty file under the live name
//! makes smtpd answer 451 (or, for cdb, die). So the new content goes to a temporary file in
//! the same directory, is flushed to disk, and is then renamed over the live name, which POSIX
//! makes atomic: a reader sees the old file or the new one, never a mix. The directory is
//! flushed afterwards so that the rename survives a crash. On any error before the rename the
//! temporary file is removed and the live file is untouched; a failure to flush the directory
//! after the rename is only a warning, because the new file is in place by then.

use std::io::Write;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Why a file could not be replaced; the live file is unchanged in every case.
#[derive(Debug, thiserror::Error)]
#[error("write {}: {cause}", path.display())]
pub struct Error {
    /// The live file that was to be replaced.
    pub path: std::path::PathBuf,
    /// The underlying failure.
    pub cause: std::io::Error,
}

/// The directory a file lives in (`.` for a bare name).
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A new temporary file beside `path`, named `.NAME.XXXXXX.tmp` so that [`is_temp_of`]
/// recognises it (and anything a tool derives from its name) as rcptsync's leftover.
pub fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir_of(path))
}

/// Whether `file_name` is one of [`temp_beside`]'s files for `name` (or postmap's output for
/// one, `.NAME.XXXXXX.tmp.db`): a leftover of a run that was killed.
pub fn is_temp_of(file_name: &str, name: &str) -> bool {
    file_name
        .strip_prefix(&format!(".{name}."))
        .is_some_and(|rest| rest.ends_with(".tmp") || rest.contains(".tmp."))
}

/// Flushes the directory after a rename; the rename has happened, so a failure is reported
/// but not returned (the caller must not think the live file is unchanged).
fn sync_dir(path: &Path) -> std::io::Result<()> {
    if let Err(e) = fs_err::File::open(dir_of(path)).and_then(|d| d.sync_all()) {
        tracing::warn!(
            "{} was replaced, but flushing its directory failed: {e}",
            path.display()
        );
    }
    Ok(())
}

/// The mode a replacement gets: the live file's if there is one (an admin may have tightened
/// it), `mode` otherwise.
pub fn mode_for(path: &Path, mode: u32) -> std::io::Result<u32> {
    match fs_err::metadata(path) {
        Ok(meta) => Ok(meta.permissions().mode() & 0o7777),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(mode),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `content` atomically. A new file gets mode `mode`; an existing file
/// keeps its mode.
pub fn write(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    write_with(path, mode, |out| out.write_all(content))
}

/// Replaces `path` atomically with what `fill` writes (buffered), for content too large to
/// build in memory first.
pub fn write_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let error = |cause| Error {
        path: path.to_owned(),
        cause,
    };
    let mode = mode_for(path, mode).map_err(error)?;
    let mut temp = temp_beside(path).map_err(error)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, temp.as_file_mut());
        fill(&mut out).map_err(error)?;
        out.flush().map_err(error)?;
    }
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(error)?;
    temp.as_file().sync_all().map_err(error)?;
    temp.persist(path).map_err(|e| error(e.error))?;
    sync_dir(path).map_err(error)
}

/// Replaces `dest` with a copy of `source` atomically. A copy, not a link: Postfix daemons
/// notice a replaced map only when the old file's link count drops to zero (or its mtime
/// changes), so the old inode must not stay linked under another name.
pub fn copy(source: &Path, dest: &Path) -> Result<(), Error> {
    let temp = copy_beside(source, dest)?;
    temp.persist(dest).map_err(|e| Error {
        path: dest.to_owned(),
        cause: e.error,
    })?;
    sync_dir(dest).map_err(|cause| Error {
        path: dest.to_owned(),
        cause,
    })
}

/// A flushed temporary copy of `source` (same mode) beside `dest`, removed unless persisted.
pub fn copy_beside(source: &Path, dest: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let error = |e| Error {
        path: dest.to_owned(),
        cause: e,
    };
    let mode = mode_for(source, 0o644).map_err(error)?;
    let mut temp = temp_beside(dest).map_err(error)?;
    std::io::copy(&mut fs_err::File::open(source).map_err(error)?, &mut temp).map_err(error)?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(error)?;
    temp.as_file().sync_all().map_err(error)?;
    Ok(temp)
}

/// Moves a complete file built by someone else (postmap) over `dest`: flushed first, then
/// renamed, then the directory flushed.
pub fn install(built: &Path, dest: &Path) -> Result<(), Error> {
    let error = |cause| Error {
        path: dest.to_owned(),
        cause,
    };
    fs_err::File::open(built)
        .and_then(|f| f.sync_all())
        .map_err(error)?;
    fs_err::rename(built, dest).map_err(error)?;
    sync_dir(dest).map_err(error)
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
    fn copy_makes_a_new_inode_and_install_renames() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (live, prev) = (dir.path().join("map"), dir.path().join("map.prev"));
        write(&live, b"one\n", 0o640).unwrap();
        copy(&live, &prev).unwrap();
        let (a, b) = (
            fs_err::metadata(&live).unwrap(),
            fs_err::metadata(&prev).unwrap(),
        );
        assert_ne!(a.ino(), b.ino());
        assert_eq!((a.nlink(), b.mode() & 0o777), (1, 0o640));
        assert_eq!(fs_err::read(&prev).unwrap(), b"one\n");
        let built = dir.path().join("built");
        fs_err::write(&built, b"two\n").unwrap();
        install(&built, &live).unwrap();
        assert_eq!(fs_err::read(&live).unwrap(), b"two\n");
        assert!(!built.exists());
    }

    #[test]
    fn temp_names_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let temp = temp_beside(&dir.path().join("relay_recipients")).unwrap();
        let name = temp
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(is_temp_of(&name, "relay_recipients"), "{name}");
        assert!(is_temp_of(&format!("{name}.db"), "relay_recipients"));
        assert!(!is_temp_of("relay_recipients.db", "relay_recipients"));
        assert!(!is_temp_of(".relay_recipients.lock", "relay_recipients"));
        assert!(!is_temp_of(&name, "relay"));
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
