//! File system calls whose errors read like Postfix's: `open /etc/rcptsync/bind.pw: No such
//! file or directory`, the operation, the path and the reason, once. An admin reading cron
//! mail at 3 a.m. learns which file and what went wrong, in the words Postfix's own logs use.
//!
//! The errors stay [`io::Error`]s of the same [`io::ErrorKind`], so callers that look at the
//! kind (a missing file is often fine) keep working. Only the subset rcptsync uses is here;
//! clippy (`clippy.toml`) keeps the rest of the code from calling `std::fs` directly.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "the one module that wraps std::fs"
)]

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An I/O error with the operation and the path it was about.
#[derive(Debug)]
struct Error {
    /// What was done, as Postfix says it (`open`, `read`, `rename`).
    op: &'static str,
    /// The path, and for a rename or link the second one.
    path: PathBuf,
    to: Option<PathBuf>,
    cause: io::Error,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op, self.path.display())?;
        if let Some(to) = &self.to {
            write!(f, " to {}", to.display())?;
        }
        write!(f, ": {}", reason(&self.cause))
    }
}

impl std::error::Error for Error {}

/// The system's words for `e`, without Rust's ` (os error N)`.
fn reason(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_owned(),
        None => text,
    }
}

fn wrap(op: &'static str, path: &Path, cause: io::Error) -> io::Error {
    io::Error::new(
        cause.kind(),
        Error {
            op,
            path: path.to_owned(),
            to: None,
            cause,
        },
    )
}

fn wrap2(op: &'static str, from: &Path, to: &Path, cause: io::Error) -> io::Error {
    io::Error::new(
        cause.kind(),
        Error {
            op,
            path: from.to_owned(),
            to: Some(to.to_owned()),
            cause,
        },
    )
}

/// [`std::fs::read`].
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// [`std::fs::read_to_string`]; text that is not UTF-8 is an error naming the file too.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    String::from_utf8(read(path)?).map_err(|_| {
        let cause = io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text");
        wrap("read", path, cause)
    })
}

/// [`std::fs::metadata`] (`stat`).
pub fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = path.as_ref();
    std::fs::metadata(path).map_err(|e| wrap("stat", path, e))
}

/// [`std::fs::symlink_metadata`] (`lstat`).
pub fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = path.as_ref();
    std::fs::symlink_metadata(path).map_err(|e| wrap("lstat", path, e))
}

/// [`std::fs::remove_file`] (`unlink`).
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    std::fs::remove_file(path).map_err(|e| wrap("unlink", path, e))
}

/// [`std::fs::rename`].
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    std::fs::rename(from, to).map_err(|e| wrap2("rename", from, to, e))
}

/// [`std::fs::create_dir_all`] (`mkdir -p`).
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    std::fs::create_dir_all(path).map_err(|e| wrap("mkdir", path, e))
}

/// [`std::fs::read_link`] (`readlink`).
pub fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref();
    std::fs::read_link(path).map_err(|e| wrap("readlink", path, e))
}

/// [`std::fs::read_dir`]: the entries of a directory, each error naming it.
pub fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref();
    let inner = std::fs::read_dir(path).map_err(|e| wrap("open directory", path, e))?;
    Ok(ReadDir {
        inner,
        path: path.to_owned(),
    })
}

/// The entries of a directory ([`read_dir`]).
#[derive(Debug)]
pub struct ReadDir {
    inner: std::fs::ReadDir,
    path: PathBuf,
}

impl Iterator for ReadDir {
    type Item = io::Result<std::fs::DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(
            self.inner
                .next()?
                .map_err(|e| wrap("read directory", &self.path, e)),
        )
    }
}

/// An open file that names its path in every error.
#[derive(Debug)]
pub struct File {
    file: std::fs::File,
    path: PathBuf,
}

impl File {
    /// Opens `path` for reading.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| wrap("open", path, e))?;
        Ok(Self::from_parts(file, path))
    }

    /// A file opened some other way (`openat` on a checked directory), named by `path`.
    pub fn from_parts(file: std::fs::File, path: impl Into<PathBuf>) -> Self {
        Self {
            file,
            path: path.into(),
        }
    }

    /// The handle, for calls on it (`fchown`, `fstat`).
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `fstat`.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.file
            .metadata()
            .map_err(|e| wrap("stat", &self.path, e))
    }

    /// A second handle on the same open file (`dup`), for a second reader.
    pub fn try_clone(&self) -> io::Result<Self> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| wrap("dup", &self.path, e))?;
        Ok(Self::from_parts(file, &self.path))
    }

    /// `fsync`.
    pub fn sync_all(&self) -> io::Result<()> {
        self.file
            .sync_all()
            .map_err(|e| wrap("fsync", &self.path, e))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).map_err(|e| wrap("read", &self.path, e))
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file)
            .read(buf)
            .map_err(|e| wrap("read", &self.path, e))
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file
            .write(buf)
            .map_err(|e| wrap("write", &self.path, e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| wrap("write", &self.path, e))
    }
}

impl Seek for File {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.file.seek(to).map_err(|e| wrap("seek", &self.path, e))
    }
}

/// [`std::fs::OpenOptions`], with the Unix mode and flags.
#[derive(Debug, Clone)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// Nothing set yet.
    pub fn new() -> Self {
        Self(std::fs::OpenOptions::new())
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.0.read(on);
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.0.write(on);
        self
    }

    /// Create the file if it does not exist.
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.0.create(on);
        self
    }

    /// Create the file, failing if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.0.create_new(on);
        self
    }

    /// Truncate an existing file.
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.0.truncate(on);
        self
    }

    /// The mode a created file gets (before the umask).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.0, mode);
        self
    }

    /// Extra `open(2)` flags (`O_NOFOLLOW`, `O_NONBLOCK`).
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
        self
    }

    /// Opens `path` (or creates it, as set).
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let file = self.0.open(path).map_err(|e| wrap("open", path, e))?;
        Ok(File::from_parts(file, path))
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_operation_path_and_reason_once() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("directory.ldif");
        let e = File::open(&missing).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            format!("open {}: No such file or directory", missing.display())
        );
        let e = rename(&missing, dir.path().join("b")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "rename {} to {}: No such file or directory",
                missing.display(),
                dir.path().join("b").display()
            )
        );
        let e = read_to_string(dir.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("read {}: Is a directory", dir.path().display())
        );
        let latin1 = dir.path().join("relay_recipients.ini");
        std::fs::write(&latin1, b"base=ou=B\xfcro\n").unwrap();
        let e = read_to_string(&latin1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            format!("read {}: not UTF-8 text", latin1.display())
        );
    }
}
