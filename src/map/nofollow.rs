//! Reading and replacing small files where another account may have put something else:
//! the files rcptsync keeps beside a map (`PATH.state`, `PATH.pushed`, `PATH.applied`),
//! which `status` or `apply` may read as root, and the metrics textfile, whose directory
//! node-exporter's account (or a group the admin adds) can write.
//!
//! A plain `open` of such a path follows a symbolic link to any file the reader may read
//! (root may read them all), blocks for ever on a FIFO, and reads `/dev/zero` until memory
//! runs out; even an open that does not block has effects of its own (it releases a FIFO's
//! waiting writer, it calls a device's driver). So every file here is first looked at through
//! an `O_PATH` handle, which opens nothing and follows no link ([`open_regular_at`]), and
//! opened for reading only when that handle is a regular file, by reopening the handle itself
//! (what is checked is what is read); and at most a stated number of bytes is read.
//!
//! The textfile's directory gets more: [`Dir::open`] walks the path one component at a time
//! from `/`, each by `openat` on its parent's handle without following a link, so a link
//! swapped in anywhere on the way is refused instead of steering root's write elsewhere, and
//! the file is then created, renamed and flushed through that one directory handle. What is
//! left to an account that can rename a directory on the way is to put a directory of its own
//! there, and have root's metrics written into it: [`Dir::swappable`] names such directories
//! so that the admin is told who could forge the metrics.
//!
//! Security: nothing here reads a byte before the handle is checked, and nothing follows a
//! link in the textfile's path; the temporary file is created with `O_EXCL` under a random
//! name, so a name planted in advance cannot be written through.

use std::ffi::OsStr;
use std::io::Read as _;
use std::os::fd::{AsFd, AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};

/// Flags for opening a file to read that another account may have replaced.
const READ: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

/// What a file type is called in a message (here and for the secret files).
pub(crate) fn kind_name(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::Unknown => "a special file",
    }
}

fn refused(reason: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, reason)
}

/// What [`open_regular_at`] found at a name.
#[derive(Debug)]
pub enum Found {
    /// Nothing.
    Missing,
    /// A symbolic link (not followed).
    Link,
    /// Something that is not a regular file (not opened).
    Special(FileType),
    /// A regular file, open to read (without blocking).
    Regular(OwnedFd),
}

/// Looks at `name` in `dir` (a path from the working directory when `dir` is [`CWD`])
/// through an `O_PATH` handle, which opens nothing and follows no link, and opens it to read
/// only when it is a regular file: by reopening that handle (`/proc/self/fd`), so the file
/// read is the file looked at, whatever is renamed in between.
pub fn open_regular_at(dir: impl AsFd, name: &Path) -> std::io::Result<Found> {
    let look = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let handle = match rustix::fs::openat(dir, name, look, Mode::empty()) {
        Ok(handle) => handle,
        Err(rustix::io::Errno::NOENT) => return Ok(Found::Missing),
        Err(e) => return Err(e.into()),
    };
    let seen = rustix::fs::fstat(&handle)?;
    match FileType::from_raw_mode(seen.st_mode) {
        FileType::RegularFile => {}
        FileType::Symlink => return Ok(Found::Link),
        kind => return Ok(Found::Special(kind)),
    }
    // The magic link names the inode the handle holds: no path is looked up again.
    let again = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let fd = rustix::fs::open(
        again.as_str(),
        READ.difference(OFlags::NOFOLLOW),
        Mode::empty(),
    )?;
    let opened = rustix::fs::fstat(&fd)?;
    if (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino) {
        return Err(refused(format!(
            "{} changed while it was opened",
            name.display()
        )));
    }
    Ok(Found::Regular(fd))
}

/// Opens `name` in `dir` to read, as everything here is opened ([`open_regular_at`]). None
/// when there is none; every refusal names `shown`.
fn open_at(dir: impl AsFd, name: &Path, shown: &Path) -> std::io::Result<Option<OwnedFd>> {
    let named =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("read {}: {e}", shown.display()));
    match open_regular_at(dir, name).map_err(named)? {
        Found::Missing => Ok(None),
        Found::Regular(fd) => Ok(Some(fd)),
        Found::Link => Err(refused(format!(
            "{} is a symbolic link; rcptsync follows none there, so it is not read (remove it, or \
             name the real file)",
            shown.display()
        ))),
        Found::Special(kind) => Err(not_regular(shown, kind)),
    }
}

/// The refusal of `shown`, which is a `kind`, not a regular file.
fn not_regular(shown: &Path, kind: FileType) -> std::io::Error {
    refused(format!(
        "{} is {}, not a regular file; rcptsync did not write it, so it is not read (remove it)",
        shown.display(),
        kind_name(kind)
    ))
}

/// `fd` (opened from `shown`) as a file, when it is a regular one: the check is made on the
/// handle, so what is checked is what is read.
#[allow(
    clippy::disallowed_types,
    reason = "the checked descriptor becomes an crate::fs::File named by `shown`"
)]
fn regular(fd: OwnedFd, shown: &Path) -> std::io::Result<crate::fs::File> {
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
    if kind != FileType::RegularFile {
        return Err(not_regular(shown, kind));
    }
    Ok(crate::fs::File::from_parts(std::fs::File::from(fd), shown))
}

/// Reads the regular file behind `fd` (opened from `shown`), at most `max` bytes.
fn read_checked(fd: OwnedFd, shown: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut content = Vec::new();
    regular(fd, shown)?
        .take(max + 1)
        .read_to_end(&mut content)?;
    if content.len() as u64 > max {
        return Err(refused(format!(
            "{} is larger than the {max} bytes rcptsync ever writes there, so it is not read \
             (remove it)",
            shown.display()
        )));
    }
    Ok(content)
}

/// The regular file at `path`, opened without following a link or blocking and checked on
/// the handle (a map `status` reads as root in a directory the rcptsync account owns): None
/// when there is none; an error naming the file when it is anything but a regular file.
pub fn open_regular(path: &Path) -> std::io::Result<Option<crate::fs::File>> {
    open_at(CWD, path, path)?
        .map(|fd| regular(fd, path))
        .transpose()
}

/// The text of the small file at `path`, which rcptsync wrote but another account may have
/// replaced: None when there is none; an error when it is a link, a FIFO, a device, a
/// directory, larger than `max` bytes or not UTF-8, each naming the file.
pub fn read_small(path: &Path, max: u64) -> std::io::Result<Option<String>> {
    let Some(fd) = open_at(CWD, path, path)? else {
        return Ok(None);
    };
    String::from_utf8(read_checked(fd, path, max)?)
        .map(Some)
        .map_err(|_| refused(format!("{} is not text (UTF-8)", path.display())))
}

/// A directory opened without following a link anywhere on its path, with what its walk saw.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    /// Each directory on the way (the last one included) that an account other than root and
    /// the running one can change: its path and who.
    swappable: Vec<(PathBuf, String)>,
}

impl Dir {
    /// Opens `path` one component at a time from `/` (or the working directory, for a
    /// relative path), refusing a symbolic link or a `..` on the way.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let named = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("open {}: {e}", path.display()))
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let start = if path.is_absolute() { "/" } else { "." };
        let mut fd = rustix::fs::open(start, flags, Mode::empty()).map_err(|e| named(e.into()))?;
        let mut walked = PathBuf::from(start);
        let mut swappable = Vec::new();
        let user = rustix::process::geteuid().as_raw();
        let mut note = |fd: &OwnedFd, walked: &Path| -> std::io::Result<()> {
            let stat = rustix::fs::fstat(fd)?;
            if let Some(who) = others_can_change(stat.st_uid, stat.st_gid, stat.st_mode, user) {
                swappable.push((walked.to_owned(), who));
            }
            Ok(())
        };
        note(&fd, &walked).map_err(named)?;
        for component in path.components() {
            let name = match component {
                Component::RootDir | Component::CurDir => continue,
                Component::Normal(name) => name,
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(named(refused(
                        "the path has a \"..\"; name the directory without it".into(),
                    )));
                }
            };
            fd = match rustix::fs::openat(&fd, name, flags | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(next) => next,
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    return Err(named(refused(format!(
                        "{} is a symbolic link or not a directory; rcptsync follows no link on \
                         this path (another account could swap it): name the real directory",
                        walked.join(name).display()
                    ))));
                }
                Err(e) => return Err(named(e.into())),
            };
            walked.push(name);
            note(&fd, &walked).map_err(named)?;
        }
        Ok(Self {
            fd,
            path: path.to_owned(),
            swappable,
        })
    }

    /// The directories on the path that an account other than root and the running one can
    /// change, and who: such an account can replace what lies below (and so forge what is
    /// written there), though not steer the write anywhere else.
    pub fn swappable(&self) -> &[(PathBuf, String)] {
        &self.swappable
    }

    /// The regular file `name` in this directory, at most `max` bytes: None when there is
    /// none, an error when it is anything but a regular file or larger.
    pub fn read(&self, name: &OsStr, max: u64) -> std::io::Result<Option<Vec<u8>>> {
        let shown = self.path.join(name);
        open_at(&self.fd, Path::new(name), &shown)?
            .map(|fd| read_checked(fd, &shown, max))
            .transpose()
    }

    #[allow(
        clippy::disallowed_types,
        reason = "the descriptor openat returned is written through std's File; errors name the path"
    )]
    /// Replaces `name` in this directory with `content`, atomically (a temporary file
    /// created under a random name, flushed, renamed over `name`, the directory flushed),
    /// with `mode` and the running user as owner, whatever was there before.
    pub fn replace(&self, name: &OsStr, content: &[u8], mode: u32) -> std::io::Result<()> {
        let shown = self.path.join(name);
        let named = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("write {}: {e}", shown.display()))
        };
        let (temp, fd) = self.create_temp(name).map_err(named)?;
        let written = (|| {
            let mut file = std::fs::File::from(fd);
            std::io::Write::write_all(&mut file, content)?;
            rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
            file.sync_all()?;
            rustix::fs::renameat(&self.fd, &temp, &self.fd, name)?;
            Ok::<_, std::io::Error>(())
        })();
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
            return Err(named(e));
        }
        if let Err(e) = rustix::fs::fsync(&self.fd) {
            tracing::warn!(
                "{} was replaced, but flushing its directory failed: {e}",
                shown.display()
            );
        }
        Ok(())
    }

    /// A new file `.NAME.XXXXXXXX.tmp` (random), created exclusively: nothing already there,
    /// a link included, is opened.
    fn create_temp(&self, name: &OsStr) -> std::io::Result<(Vec<u8>, OwnedFd)> {
        use ring::rand::SecureRandom as _;
        let rng = ring::rand::SystemRandom::new();
        for _ in 0..16 {
            let mut random = [0u8; 6];
            rng.fill(&mut random)
                .map_err(|_| std::io::Error::other("no random numbers for a temporary name"))?;
            let mut temp = b".".to_vec();
            temp.extend_from_slice(name.as_bytes());
            temp.push(b'.');
            temp.extend(
                random
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    .bytes(),
            );
            temp.extend_from_slice(b".tmp");
            let flags = OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::NOCTTY
                | OFlags::CLOEXEC;
            match rustix::fs::openat(
                &self.fd,
                OsStr::from_bytes(&temp),
                flags,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => return Ok((temp, fd)),
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(std::io::Error::other(
            "no free temporary name after 16 tries",
        ))
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Who other than root and `user` can add, remove or rename entries in a directory of this
/// owner, group and mode; None when nobody can. A sticky directory (`/tmp`) lets others remove
/// or rename only their own entries, which a root- or `user`-owned entry below is not.
fn others_can_change(uid: u32, gid: u32, mode: u32, user: u32) -> Option<String> {
    let sticky = mode & 0o1000 != 0;
    if uid != 0 && uid != user {
        Some(format!("its owner (uid {uid})"))
    } else if mode & 0o002 != 0 && !sticky {
        Some("every account (it is world-writable)".to_owned())
    } else if mode & 0o020 != 0 && !sticky && gid != 0 {
        Some(format!("the accounts of its group (gid {gid})"))
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A FIFO planted at a path, with a writer (another account's) blocked opening it until
    /// someone opens it to read: whether that happened is what [`WaitingWriter::released`]
    /// tells.
    pub(crate) struct WaitingWriter {
        path: PathBuf,
        opened: std::sync::mpsc::Receiver<()>,
        writer: Option<std::thread::JoinHandle<()>>,
    }

    impl WaitingWriter {
        pub(crate) fn plant(path: &Path) -> Self {
            rustix::fs::mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
            let (tell, opened) = std::sync::mpsc::channel();
            let fifo = path.to_owned();
            let writer = std::thread::spawn(move || {
                let _file = rustix::fs::open(&fifo, OFlags::WRONLY, Mode::empty()).unwrap();
                let _ = tell.send(());
            });
            // The writer is waiting in its open by the time the test looks.
            std::thread::sleep(std::time::Duration::from_millis(50));
            Self {
                path: path.to_owned(),
                opened,
                writer: Some(writer),
            }
        }

        /// Whether someone opened the FIFO to read since it was planted.
        pub(crate) fn released(&self) -> bool {
            self.opened
                .recv_timeout(std::time::Duration::from_millis(300))
                .is_ok()
        }
    }

    impl Drop for WaitingWriter {
        fn drop(&mut self) {
            // The test's own open to read lets the writer finish.
            let _reader =
                rustix::fs::open(&self.path, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty());
            if let Some(writer) = self.writer.take() {
                let _ = writer.join();
            }
        }
    }

    /// A FIFO planted where a small file belongs is looked at, never opened: a writer waiting
    /// on it (another account's) is not released, and the refusal names it.
    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.pushed");
        let writer = WaitingWriter::plant(&fifo);
        let e = read_small(&fifo, 10).unwrap_err().to_string();
        assert!(e.contains("is a FIFO, not a regular file"), "{e}");
        let e = open_regular(&fifo).unwrap_err().to_string();
        assert!(e.contains("is a FIFO, not a regular file"), "{e}");
        assert!(
            !writer.released(),
            "the FIFO was opened: its writer was released"
        );
    }

    #[test]
    fn small_files_are_read_only_when_regular_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.state");
        assert_eq!(read_small(&path, 10).unwrap(), None);
        fs_err::write(&path, "hello\n").unwrap();
        assert_eq!(read_small(&path, 10).unwrap().as_deref(), Some("hello\n"));
        assert!(
            read_small(&path, 5)
                .unwrap_err()
                .to_string()
                .contains("larger than the 5 bytes")
        );
        let link = dir.path().join("link");
        fs_err::os::unix::fs::symlink(&path, &link).unwrap();
        let e = read_small(&link, 10).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("link"), "{e}");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Returns at once (no writer is waited for) and says what it is.
        let e = read_small(&fifo, 10).unwrap_err().to_string();
        assert!(e.contains("is a FIFO"), "{e}");
        let e = read_small(Path::new("/dev/zero"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a device"), "{e}");
        assert!(
            read_small(dir.path(), 10)
                .unwrap_err()
                .to_string()
                .contains("a directory")
        );
    }

    #[test]
    fn a_directory_handle_follows_no_link_on_the_way() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real");
        fs_err::create_dir(&real).unwrap();
        fs_err::os::unix::fs::symlink(&real, root.path().join("link")).unwrap();
        fs_err::create_dir(real.join("sub")).unwrap();
        assert!(Dir::open(&real.join("sub")).is_ok());
        let e = Dir::open(&root.path().join("link/sub"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link or not a directory"), "{e}");
        let e = Dir::open(&real.join("sub/../sub")).unwrap_err().to_string();
        assert!(e.contains(".."), "{e}");
    }

    #[test]
    fn replace_writes_a_new_regular_file_over_whatever_was_there() {
        use std::os::unix::fs::MetadataExt as _;
        let root = tempfile::tempdir().unwrap();
        let dir = Dir::open(root.path()).unwrap();
        let name = OsStr::new("rcptsync.prom");
        let path = root.path().join(name);
        // A link to a file that must stay untouched, then a FIFO.
        let victim = root.path().join("victim");
        fs_err::write(&victim, "secret\n").unwrap();
        fs_err::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(
            dir.read(name, 100)
                .unwrap_err()
                .to_string()
                .contains("symbolic link")
        );
        dir.replace(name, b"one\n", 0o644).unwrap();
        assert_eq!(fs_err::read_to_string(&victim).unwrap(), "secret\n");
        assert_eq!(dir.read(name, 100).unwrap().unwrap(), b"one\n");
        let meta = fs_err::symlink_metadata(&path).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.mode() & 0o7777, 0o644);
        fs_err::remove_file(&path).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            FileType::Fifo,
            Mode::from_raw_mode(0o666),
            0,
        )
        .unwrap();
        assert!(
            dir.read(name, 100)
                .unwrap_err()
                .to_string()
                .contains("FIFO")
        );
        dir.replace(name, b"two\n", 0o644).unwrap();
        assert_eq!(dir.read(name, 100).unwrap().unwrap(), b"two\n");
        // Nothing but the file and the victim are left.
        let mut names: Vec<String> = fs_err::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["rcptsync.prom", "victim"]);
    }

    #[test]
    fn directories_others_can_change_are_named() {
        let me = 1000;
        assert_eq!(others_can_change(0, 0, 0o755, me), None);
        assert_eq!(others_can_change(me, 0, 0o755, me), None);
        assert_eq!(others_can_change(0, 0, 0o1777, me), None);
        assert!(
            others_can_change(123, 123, 0o755, me)
                .unwrap()
                .contains("uid 123")
        );
        assert!(
            others_can_change(0, 0, 0o777, me)
                .unwrap()
                .contains("world-writable")
        );
        assert!(
            others_can_change(0, 50, 0o775, me)
                .unwrap()
                .contains("gid 50")
        );
        // Group root's members are root's own business.
        assert_eq!(others_can_change(0, 0, 0o775, me), None);
    }
}
