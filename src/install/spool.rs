//! Root's side of the spool: how `apply` opens the map that `receive`
//! ([`crate::receive`], the spool account's side) left there, or the one named with `--from`,
//! and checks the handle before it reads a byte.
//!
//! Security: everything in the spool is controlled by the spool account, so apply opens the
//! one name it expects without following links and without blocking, then checks the opened
//! handle (a regular file with one link, owned by root or the spool's owner, writable by
//! nobody else, within `[install].max_bytes`) and reads only from that handle. No name is
//! looked up twice.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Seek as _, SeekFrom};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::map::atomic;
use crate::map::nofollow::{self, Found};
use crate::map::payload::{self, Header};
use crate::receive::RECEIVE_LOCK;
pub use crate::receive::{CONFIRM_NAME, SPOOL_NAME, escape};

/// Why a spooled map is not taken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It could not be opened or read.
    #[error("{}: {cause}", escape(path.as_os_str()))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        cause: std::io::Error,
    },
    /// It is not a file apply may read: refused.
    #[error("{}: {reason}", escape(path.as_os_str()))]
    Unsafe {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong, and the fix.
        reason: String,
    },
    /// Its header or body does not check out.
    #[error("{}: {cause}", escape(path.as_os_str()))]
    Payload {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        cause: payload::Error,
    },
}

impl Error {
    /// Whether the file was refused for what it is (exit 3), not for an I/O failure.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Io { .. })
    }
}

/// A map opened for `apply`: the checked handle, and the header when it is a payload.
#[derive(Debug)]
pub struct Spooled {
    /// Where it was opened (for messages only: it is never opened by name again).
    pub path: PathBuf,
    /// The payload header; None for a plain map given with `--from`.
    pub header: Option<Header>,
    reader: BufReader<crate::fs::File>,
    body_start: u64,
    max_bytes: u64,
    /// The body's length, once [`Spooled::digest`] has read it.
    length: Option<u64>,
    /// What came after the body, once [`Spooled::digest`] has read it.
    parts: payload::Parts,
}

/// The file behind a descriptor `openat` returned, with `path` for messages.
#[allow(
    clippy::disallowed_types,
    reason = "openat hands over an OwnedFd; crate::fs wraps the std File made from it"
)]
pub(super) fn file_of(fd: std::os::fd::OwnedFd, path: &Path) -> crate::fs::File {
    crate::fs::File::from_parts(std::fs::File::from(fd), path)
}

/// Stray files named in apply's warning; the rest are counted.
const MAX_STRAYS: usize = 20;

impl Spooled {
    /// The map `receive` left in `dir`, if there is one. The directory must be writable by
    /// its owner only; the files apply does not take are returned (escaped) for a warning.
    pub fn from_spool(dir: &Path, max_bytes: u64) -> Result<(Option<Self>, Vec<String>), Error> {
        let io = |cause: std::io::Error| Error::Io {
            path: dir.to_owned(),
            cause,
        };
        let (handle, meta) = open_dir(dir)?;
        let mut strays = Vec::new();
        let mut more = 0;
        for entry in rustix::fs::Dir::read_from(&handle).map_err(|e| io(e.into()))? {
            let entry = entry.map_err(|e| io(e.into()))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            let text = name.to_string_lossy();
            let ours = text == "."
                || text == ".."
                || text == SPOOL_NAME
                || text == RECEIVE_LOCK
                || text == CONFIRM_NAME
                || atomic::is_temp_of(&text, SPOOL_NAME)
                || atomic::is_temp_of(&text, CONFIRM_NAME);
            if ours {
                continue;
            }
            if strays.len() < MAX_STRAYS {
                strays.push(escape(name));
            } else {
                more += 1;
            }
        }
        strays.sort();
        if more > 0 {
            strays.push(format!("{more} more"));
        }
        let path = dir.join(SPOOL_NAME);
        // Looked at before it is opened: a FIFO or device planted there is never opened.
        let file = match nofollow::open_regular_at(&handle, Path::new(SPOOL_NAME)) {
            Ok(Found::Regular(fd)) => file_of(fd, &path),
            Ok(Found::Missing) => return Ok((None, strays)),
            Ok(Found::Link) => {
                return Err(Error::Unsafe {
                    path,
                    reason: "is a symbolic link; apply takes only the file receive wrote (give \
                             the real file with --from to apply another)"
                        .into(),
                });
            }
            Ok(Found::Special(_)) => {
                return Err(Error::Unsafe {
                    path,
                    reason: "is not a regular file (a FIFO, device or directory); it is not read"
                        .into(),
                });
            }
            Err(cause) => return Err(Error::Io { path, cause }),
        };
        let spooled = Self::check(file, &path, max_bytes, meta)?;
        if spooled.header.is_none() {
            return Err(Error::Unsafe {
                path,
                reason: "has no rcptsync payload header, so receive did not write it (apply \
                         --from FILE takes a plain map)"
                    .into(),
            });
        }
        Ok((Some(spooled), strays))
    }

    /// The map named with `--from`: root named it, so a symbolic link is followed, but the
    /// file it leads to gets the same checks as a spooled one (`trusted` is the other owner
    /// besides root that is accepted: the spool's).
    pub fn from_file(path: &Path, max_bytes: u64, trusted: u32) -> Result<Self, Error> {
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
        let file = crate::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(path)
            .map_err(|cause| Error::Io {
                path: path.to_owned(),
                cause,
            })?;
        Self::check(file, path, max_bytes, trusted)
    }

    /// Checks the opened `file` (read from `path`, named in messages) before reading a byte
    /// of it, then reads the payload header if it has one.
    fn check(
        file: crate::fs::File,
        path: &Path,
        max_bytes: u64,
        trusted: u32,
    ) -> Result<Self, Error> {
        let io = |cause| Error::Io {
            path: path.to_owned(),
            cause,
        };
        let unsafe_file = |reason: String| Error::Unsafe {
            path: path.to_owned(),
            reason,
        };
        let meta = file.metadata().map_err(io)?;
        check_file(&meta, path, trusted)?;
        // The map is bounded by max_bytes (checked again against the header); the header
        // and the parts after the map, by their own limits.
        let header_bytes = (payload::MAX_HEADER_LINES * (payload::MAX_HEADER_LINE + 1)) as u64;
        let parts = payload::MAX_DOMAINS + payload::MAX_APPROVAL;
        if meta.len() > max_bytes.saturating_add(parts + header_bytes) {
            return Err(unsafe_file(format!(
                "is {} bytes, more than [install].max_bytes = {max_bytes} (and a payload's \
                 header, domains and approval); it is not read",
                meta.len()
            )));
        }
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let is_payload = payload::is_payload(reader.fill_buf().map_err(io)?);
        let header = if is_payload {
            Some(Header::read(&mut reader).map_err(|cause| Error::Payload {
                path: path.to_owned(),
                cause,
            })?)
        } else {
            None
        };
        let body_start = reader.stream_position().map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            header,
            reader,
            body_start,
            max_bytes,
            length: None,
            parts: payload::Parts::default(),
        })
    }

    /// Reads the body once and returns its digest; a payload's body must match its header
    /// (length, digest, count, nothing after it). The length read is what [`Spooled::body`]
    /// reads again.
    pub fn digest(&mut self) -> Result<String, Error> {
        let path = self.path.clone();
        let io = |cause| Error::Io {
            path: path.clone(),
            cause,
        };
        self.reader
            .seek(SeekFrom::Start(self.body_start))
            .map_err(io)?;
        let digest = match &self.header {
            Some(header) => {
                let mut parts = payload::Parts::default();
                header
                    .copy_body(
                        &mut self.reader,
                        self.max_bytes,
                        &mut std::io::sink(),
                        Some(&mut parts),
                    )
                    .map_err(|cause| Error::Payload {
                        path: path.clone(),
                        cause,
                    })?;
                self.length = Some(header.length);
                self.parts = parts;
                header.sha256.clone()
            }
            None => {
                let mut counted = CountingWriter::default();
                let mut limited = (&mut self.reader).take(self.max_bytes);
                std::io::copy(&mut limited, &mut counted).map_err(io)?;
                self.length = Some(counted.bytes);
                crate::map::digest::hex(&counted.hasher.finalize())
            }
        };
        Ok(digest)
    }

    /// The approval the payload carried after the map ([`crate::hold::approval`]), as read
    /// by [`Spooled::digest`]: unchecked bytes from the spool account.
    pub fn approval(&self) -> Option<&[u8]> {
        self.parts.approval.as_deref()
    }

    /// The relay domains the payload carried after the map ([`crate::install::relay`]), as
    /// read by [`Spooled::digest`]: unchecked bytes from the spool account. None for a payload
    /// without them (a plain map, or one from an rcptsync that did not send them).
    pub fn domains(&self) -> Option<&[u8]> {
        self.parts.domains.as_deref()
    }

    /// The map text again, from its start: no more than [`Spooled::digest`] read, hashed as it
    /// is consumed. The spool account owns the file and may change it at any time, so what
    /// is built must be shown to be what was checked: compare [`Body::digest`] with the
    /// first read's.
    pub fn body(&mut self) -> std::io::Result<Body<'_>> {
        self.reader.seek(SeekFrom::Start(self.body_start))?;
        let limit = self.length.unwrap_or(0);
        Ok(Body {
            inner: (&mut self.reader).take(limit),
            hasher: sha2::Sha256::new(),
        })
    }
}

/// Counts and hashes what is written to it.
#[derive(Default)]
struct CountingWriter {
    hasher: sha2::Sha256,
    bytes: u64,
}

impl std::io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The body of a spooled map, read a second time (see [`Spooled::body`]).
pub struct Body<'a> {
    inner: std::io::Take<&'a mut BufReader<crate::fs::File>>,
    hasher: sha2::Sha256,
}

impl Body<'_> {
    /// SHA-256 of everything consumed so far.
    pub fn digest(&self) -> String {
        crate::map::digest::hex(&self.hasher.clone().finalize())
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl BufRead for Body<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The buffer is already filled (the caller just looked at it): no I/O here.
        if let Ok(buffer) = self.inner.fill_buf() {
            self.hasher.update(&buffer[..amount.min(buffer.len())]);
        }
        self.inner.consume(amount);
    }
}

/// The spool directory `dir`, opened once (its checks, its listing and the opens of its
/// files all go through that handle, so nobody can swap the directory in between), with its
/// owner: it must be writable by its owner only.
pub(super) fn open_dir(dir: &Path) -> Result<(rustix::fd::OwnedFd, u32), Error> {
    use rustix::fs::{Mode, OFlags};
    let io = |cause: std::io::Error| Error::Io {
        path: dir.to_owned(),
        cause,
    };
    let handle = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let meta = rustix::fs::fstat(&handle).map_err(|e| io(e.into()))?;
    if meta.st_mode & 0o022 != 0 {
        return Err(Error::Unsafe {
            path: dir.to_owned(),
            reason: format!(
                "the spool directory is writable by group or others (mode {:04o}); only the \
                     receiving account may write it: chmod go-w {}",
                meta.st_mode & 0o7777,
                escape(dir.as_os_str())
            ),
        });
    }
    Ok((handle, meta.st_uid))
}

/// The checks a file of the spool passes before apply reads a byte of it (`meta`, of the
/// opened handle; `path` for messages): a regular file with one link, owned by root or
/// `trusted` (the spool's owner), writable by its owner only.
pub(super) fn check_file(meta: &std::fs::Metadata, path: &Path, trusted: u32) -> Result<(), Error> {
    let unsafe_file = |reason: String| Error::Unsafe {
        path: path.to_owned(),
        reason,
    };
    if !meta.is_file() {
        return Err(unsafe_file(
            "is not a regular file (a FIFO, device or directory); it is not read".into(),
        ));
    }
    if meta.nlink() != 1 {
        return Err(unsafe_file(format!(
            "has {} hard links; a file apply reads has exactly one (another name for the same \
                 file could be a file the spool account must not make root read)",
            meta.nlink()
        )));
    }
    if meta.uid() != 0 && meta.uid() != trusted {
        return Err(unsafe_file(format!(
            "is owned by uid {}, neither root nor the spool's owner (uid {trusted}); it is \
                 not read",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_file(format!(
            "is writable by group or others (mode {:04o}); it is not read",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::nofollow::tests::WaitingWriter;
    use crate::receive::receive;
    use crate::receive::tests::{payload, spool};
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn apply_opens_the_spooled_payload_and_names_strays() {
        let dir = spool();
        let (none, strays) = Spooled::from_spool(dir.path(), 1 << 20).unwrap();
        assert!(none.is_none() && strays.is_empty());
        let body = b"a@example.com OK\n";
        receive(dir.path(), &mut &payload(body)[..], 1 << 20, None).unwrap();
        fs_err::write(dir.path().join("evil\nrcptsync: error: forged"), "x").unwrap();
        let (spooled, strays) = Spooled::from_spool(dir.path(), 1 << 20).unwrap();
        assert_eq!(strays, ["evil\\nrcptsync: error: forged"]);
        let mut spooled = spooled.unwrap();
        assert_eq!(spooled.header.as_ref().unwrap().count, 1);
        let digest = spooled.digest().unwrap();
        assert_eq!(digest, crate::map::digest::sha256_hex(body));
        let mut text = Vec::new();
        let mut again = spooled.body().unwrap();
        again.read_to_end(&mut text).unwrap();
        assert_eq!(text, body);
        assert_eq!(again.digest(), digest);
    }

    #[test]
    fn a_second_read_shows_a_file_changed_after_the_checks() {
        use std::io::{Seek as _, Write as _};
        let dir = spool();
        receive(
            dir.path(),
            &mut &payload(b"a@example.com OK\n")[..],
            1 << 20,
            None,
        )
        .unwrap();
        let (spooled, _) = Spooled::from_spool(dir.path(), 1 << 20).unwrap();
        let mut spooled = spooled.unwrap();
        let digest = spooled.digest().unwrap();
        // The spool account owns the file: it rewrites a byte in place, then makes it endless.
        let mut file = fs_err::OpenOptions::new()
            .write(true)
            .open(dir.path().join(SPOOL_NAME))
            .unwrap();
        let body_at = spooled.body_start;
        file.seek(SeekFrom::Start(body_at)).unwrap();
        file.write_all(b"b").unwrap();
        file.set_len(1 << 40).unwrap();
        let mut again = spooled.body().unwrap();
        let mut text = Vec::new();
        again.read_to_end(&mut text).unwrap();
        // No more than the first read found, and not what it found.
        assert_eq!(text, b"b@example.com OK\n");
        assert_ne!(again.digest(), digest);
    }

    #[test]
    fn unsafe_files_are_refused_before_reading() {
        let dir = spool();
        let map = dir.path().join(SPOOL_NAME);
        let secret = dir.path().join("secret");
        fs_err::write(&secret, "root@example.com OK\n").unwrap();
        let refused = |what: &str| {
            let e = Spooled::from_spool(dir.path(), 1 << 20).unwrap_err();
            assert!(e.is_refusal(), "{what}: {e}");
            e.to_string()
        };
        fs_err::os::unix::fs::symlink(&secret, &map).unwrap();
        assert!(refused("symlink").contains("symbolic link"));
        fs_err::remove_file(&map).unwrap();
        fs_err::hard_link(&secret, &map).unwrap();
        assert!(refused("hard link").contains("2 hard links"));
        fs_err::remove_file(&map).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &map,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(refused("fifo").contains("not a regular file"));
        fs_err::remove_file(&map).unwrap();
        fs_err::write(&map, "a@example.com OK\n").unwrap();
        assert!(refused("plain map").contains("no rcptsync payload header"));
        fs_err::write(&map, payload(b"a@example.com OK\n")).unwrap();
        fs_err::set_permissions(&map, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(refused("mode").contains("writable by group or others"));
        fs_err::set_permissions(&map, std::fs::Permissions::from_mode(0o644)).unwrap();
        // Sparse: larger than the map, a header, domains and an approval may be together.
        fs_err::File::options()
            .write(true)
            .open(&map)
            .unwrap()
            .set_len(payload::MAX_APPROVAL + payload::MAX_DOMAINS + (1 << 20))
            .unwrap();
        let e = Spooled::from_spool(dir.path(), 4).unwrap_err().to_string();
        assert!(e.contains("more than [install].max_bytes = 4"), "{e}");
        fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(refused("directory").contains("chmod go-w"));
    }

    /// The spool account plants a FIFO and waits on it as its writer: root's apply refuses it
    /// without opening it, so the writer learns nothing (its open stays blocked).
    #[test]
    fn a_fifo_in_the_spool_is_refused_without_being_opened() {
        let dir = spool();
        let writer = WaitingWriter::plant(&dir.path().join(SPOOL_NAME));
        let e = Spooled::from_spool(dir.path(), 1 << 20).unwrap_err();
        assert!(e.is_refusal(), "{e}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(
            !writer.released(),
            "apply opened the FIFO: its writer was released"
        );
    }

    /// Giving a file away needs root: in the system tier.
    #[cfg(feature = "system-tests")]
    #[test]
    fn a_map_owned_by_another_account_is_refused() {
        let dir = spool();
        let map = dir.path().join(SPOOL_NAME);
        fs_err::write(&map, payload(b"a@example.com OK\n")).unwrap();
        assert!(Spooled::from_spool(dir.path(), 1 << 20).is_ok());
        std::os::unix::fs::chown(&map, Some(4242), None).unwrap();
        let e = Spooled::from_spool(dir.path(), 1 << 20).unwrap_err();
        assert!(e.is_refusal(), "{e}");
        assert!(e.to_string().contains("owned by uid 4242"), "{e}");
    }
}
