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

/// Removes the temporary files a killed run left beside `path` ([`is_temp_of`]); the
/// caller holds the lock that keeps other runs from writing there. Returns what it removed.
pub fn remove_leftovers(path: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut removed = Vec::new();
    for entry in crate::fs::read_dir(dir_of(path))? {
        let entry = entry?;
        if is_temp_of(&entry.file_name().to_string_lossy(), &name) && entry.file_type()?.is_file() {
            crate::fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

/// Flushes the directory after a rename; the rename has happened, so a failure is reported
/// but not returned (the caller must not think the live file is unchanged).
fn sync_dir(path: &Path) -> std::io::Result<()> {
    if let Err(e) = crate::fs::File::open(dir_of(path)).and_then(|d| d.sync_all()) {
        tracing::warn!(
            "{} was replaced, but flushing its directory failed: {e}",
            path.display()
        );
    }
    Ok(())
}

/// Owner, group and mode a replacement must have: the live file's, so that an admin's
/// `root:mail 0640` survives every run; for a new file, `mode` and the running user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    mode: u32,
    owner: Option<(u32, u32)>,
}

impl Attributes {
    /// The attributes for replacing `path` (a new file gets `mode`). A symbolic link is
    /// refused: the rename would replace the link itself, not the file it points to.
    pub fn of(path: &Path, mode: u32) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        match crate::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = crate::fs::read_link(path)
                    .map(|t| format!(" (to {})", t.display()))
                    .unwrap_or_default();
                Err(std::io::Error::other(format!(
                    "it is a symbolic link{target}; rcptsync replaces files by rename and would \
                     replace the link itself: name the real file in the configuration"
                )))
            }
            Ok(meta) => Ok(Self {
                mode: meta.mode() & 0o7777,
                owner: Some((meta.uid(), meta.gid())),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self { mode, owner: None }),
            Err(e) => Err(e),
        }
    }

    /// Gives `file` these attributes: owner and group first (changing them may clear mode
    /// bits), then the mode.
    #[allow(
        clippy::disallowed_types,
        reason = "tempfile and crate::fs both hand out std's File for handle operations"
    )]
    pub fn apply(&self, file: &std::fs::File) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt as _;
        if let Some((uid, gid)) = self.owner {
            let meta = file.metadata()?;
            if (meta.uid(), meta.gid()) != (uid, gid) {
                std::os::unix::fs::fchown(file, Some(uid), Some(gid)).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "cannot give the new file the owner and group of the one it replaces \
                             (uid {uid}, gid {gid}): {e}; run rcptsync as that user, or change the \
                             file's owner"
                        ),
                    )
                })?;
            }
        }
        file.set_permissions(std::fs::Permissions::from_mode(self.mode))
    }
}

/// A file being written to replace `path`: a temporary file beside it that becomes `path`
/// only by [`Replacement::commit`]; dropped uncommitted, it is removed and `path` is
/// untouched.
pub struct Replacement {
    temp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
    attributes: Attributes,
}

impl Replacement {
    /// Starts replacing `path`; see [`Attributes::of`] for what the new file will be like.
    pub fn new(path: &Path, mode: u32) -> Result<Self, Error> {
        let error = |cause| Error {
            path: path.to_owned(),
            cause,
        };
        let attributes = Attributes::of(path, mode).map_err(error)?;
        let temp = temp_beside(path).map_err(error)?;
        Ok(Self {
            temp,
            path: path.to_owned(),
            attributes,
        })
    }

    /// The temporary file, to write the new content to.
    #[allow(clippy::disallowed_types, reason = "tempfile hands out std's File")]
    pub fn file(&mut self) -> &mut std::fs::File {
        self.temp.as_file_mut()
    }

    /// Where the temporary file is (for tools that read it before it goes live).
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    fn error(&self, cause: std::io::Error) -> Error {
        Error {
            path: self.path.clone(),
            cause,
        }
    }

    /// Gives the temporary file its attributes and flushes it to disk, without putting it
    /// in place yet.
    pub fn finish(&self) -> Result<(), Error> {
        let file = self.temp.as_file();
        self.attributes.apply(file).map_err(|e| self.error(e))?;
        file.sync_all().map_err(|e| self.error(e))
    }

    /// Finishes the file and renames it over `path`, then flushes the directory.
    pub fn commit(self) -> Result<(), Error> {
        self.finish()?;
        let path = self.path.clone();
        self.temp.persist(&path).map_err(|e| Error {
            path: path.clone(),
            cause: e.error,
        })?;
        sync_dir(&path).map_err(|cause| Error { path, cause })
    }

    /// Finishes the file and hands over its path, for a caller that renames it itself
    /// (together with files built from it); the file is removed when the path is dropped.
    pub fn into_temp_path(self) -> Result<tempfile::TempPath, Error> {
        self.finish()?;
        Ok(self.temp.into_temp_path())
    }
}

/// Replaces `path` with `content` atomically. A new file gets mode `mode`; an existing file
/// keeps its owner, group and mode.
pub fn write(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    write_with(path, mode, |out| out.write_all(content))
}

/// Replaces one of rcptsync's own files beside the map (`PATH.state`, `PATH.exports`), named
/// by no config, with `content` atomically. Whatever else is at `path` (a link, a FIFO) is
/// removed first: there is no other file it could have been meant to reach, and a run that
/// refused to replace it would fail until someone removed it by hand.
pub fn write_own(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    if crate::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        crate::fs::remove_file(path).map_err(|cause| Error {
            path: path.to_owned(),
            cause,
        })?;
    }
    write(path, content, mode)
}

/// Replaces `path` atomically with what `fill` writes (buffered), for content too large to
/// build in memory first.
pub fn write_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let mut replacement = Replacement::new(path, mode)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, replacement.file());
        let filled = fill(&mut out).and_then(|()| out.flush());
        drop(out);
        filled.map_err(|e| replacement.error(e))?;
    }
    replacement.commit()
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

/// A flushed temporary copy of `source` (same owner, group and mode) beside `dest`, removed unless persisted.
pub fn copy_beside(source: &Path, dest: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let error = |e| Error {
        path: dest.to_owned(),
        cause: e,
    };
    let attributes = Attributes::of(source, 0o644).map_err(error)?;
    let mut temp = temp_beside(dest).map_err(error)?;
    std::io::copy(
        &mut crate::fs::File::open(source).map_err(error)?,
        &mut temp,
    )
    .map_err(error)?;
    attributes.apply(temp.as_file()).map_err(error)?;
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
    crate::fs::File::open(built)
        .and_then(|f| f.sync_all())
        .map_err(error)?;
    crate::fs::rename(built, dest).map_err(error)?;
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
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        write(&path, b"live\n", 0o644).unwrap();
        let inode = fs_err::metadata(&path).unwrap().ino();
        // The content fails half-way (a full disk, a broken source): the live file keeps its
        // bytes and its inode, and no temporary file is left beside it.
        let failed = write_with(&path, 0o644, |out| {
            out.write_all(b"half a ma")?;
            Err(std::io::Error::other("no space left on device"))
        });
        let e = failed.unwrap_err();
        assert_eq!(e.path, path);
        assert!(e.to_string().contains("no space left on device"), "{e}");
        assert_eq!(fs_err::read(&path).unwrap(), b"live\n");
        assert_eq!(fs_err::metadata(&path).unwrap().ino(), inode);
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
        // A directory in the way of the rename: the write fails and leaves nothing either.
        let blocked = dir.path().join("sub");
        fs_err::create_dir(&blocked).unwrap();
        fs_err::create_dir(blocked.join("x")).unwrap();
        assert!(write(&blocked, b"new\n", 0o644).is_err());
        assert!(blocked.join("x").is_dir());
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 2);
    }

    /// Giving a file to another owner and group needs root: in the system tier.
    #[cfg(feature = "system-tests")]
    #[test]
    fn owner_and_group_are_kept() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        write(&path, b"one\n", 0o600).unwrap();
        std::os::unix::fs::chown(&path, Some(4242), Some(8)).unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&path, b"two\n", 0o644).unwrap();
        let meta = fs_err::metadata(&path).unwrap();
        // The mode is set after the owner: a chown would have cleared a set-id bit.
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (4242, 8, 0o640)
        );
    }

    #[test]
    fn mode_is_kept_and_a_symlink_is_refused() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        write(&path, b"one\n", 0o600).unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&path, b"two\n", 0o644).unwrap();
        let meta = fs_err::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640);
        let link = dir.path().join("link");
        fs_err::os::unix::fs::symlink(&path, &link).unwrap();
        let e = write(&link, b"three\n", 0o644).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert_eq!(fs_err::read(&path).unwrap(), b"two\n");
        assert!(
            fs_err::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
