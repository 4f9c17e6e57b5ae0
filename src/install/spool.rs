//! The spool directory between `receive` and `apply`.
//!
//! [`receive`] is what the gateway's SSH forced command runs: it reads one payload from its
//! input, checks it ([`crate::map::payload`]) while streaming it to a temporary file, and
//! renames that file to [`SPOOL_NAME`], header and body together. [`Spooled`] is how `apply`
//! opens that file (or the one named with `--from`) and checks the handle before it reads a
//! byte.
//!
//! Security: [`receive`] runs as the unprivileged SSH account. It reads only its input,
//! writes only the spool, refuses any command the client asked for other than
//! [`REMOTE_COMMAND`] (so the key cannot run commands or copy files), gives up on a sender
//! that stalls ([`Deadline`]) and holds a fixed amount of memory whatever the header claims.
//! A truncated, oversized or corrupt payload never replaces the spool file. This module
//! imports nothing of the configuration, the sources or the transport: the receiving side of
//! the privilege split depends only on the payload format, the atomic writer and the lock.
//!
//! [`Spooled`] is the root side of the same boundary: everything in the spool is controlled
//! by the spool account, so apply opens the one name it expects without following links and
//! without blocking, then checks the opened handle (a regular file with one link, owned by
//! root or the spool's owner, writable by nobody else, within `[install].max_bytes`) and
//! reads only from that handle. No name is looked up twice.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Seek as _, SeekFrom, Write as _};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::Digest as _;

use crate::lock::Lock;
use crate::map::atomic::{self, Replacement};
use crate::map::payload::{self, Header, REMOTE_COMMAND};

/// The spool file `receive` writes and `apply` takes: the payload as received.
pub const SPOOL_NAME: &str = "relay_recipients";

/// receive's lock, in the spool.
const RECEIVE_LOCK: &str = ".receive.lock";

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
            escape(spool.as_os_str())
        ));
    }
    let _lock = Lock::acquire(&spool.join(RECEIVE_LOCK)).map_err(|e| e.to_string())?;
    let target = spool.join(SPOOL_NAME);
    // Under the lock no other receive is writing: any temporary file is a killed run's.
    for leftover in atomic::remove_leftovers(&target).map_err(|e| e.to_string())? {
        tracing::info!(
            "removed {}, left by a receive that was killed",
            escape(leftover.as_os_str())
        );
    }
    let header = Header::read(input).map_err(|e| e.to_string())?;
    if header.length > max_bytes {
        return Err(payload::Error::TooLarge {
            length: header.length,
            limit: max_bytes,
        }
        .to_string());
    }
    let mut replacement = Replacement::new(&target, 0o644).map_err(|e| e.to_string())?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, replacement.file());
        out.write_all(header.text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| format!("store: {e}"))?;
        header
            .copy_body(input, max_bytes, &mut out)
            .map_err(|e| e.to_string())?;
        out.flush().map_err(|e| format!("store: {e}"))?;
    }
    replacement.commit().map_err(|e| e.to_string())?;
    match fs_err::remove_file(spool.join(OLD_HEADER)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("{e}"),
    }
    Ok(format!("OK {} {}", header.count, header.sha256))
}

/// A reader of a file descriptor that gives up at a deadline for the whole session, however
/// the peer trickles its bytes. It reads the descriptor directly (no buffer of its own), so
/// that waiting for input and reading it agree.
pub struct Deadline<F> {
    fd: F,
    deadline: Instant,
    timeout: Duration,
}

impl<F: AsFd> Deadline<F> {
    /// Reads `fd` for at most `timeout` from now.
    pub fn new(fd: F, timeout: Duration) -> Self {
        Self {
            fd,
            deadline: Instant::now() + timeout,
            timeout,
        }
    }
}

impl<F: AsFd> Read for Deadline<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no complete map within {} (receive --timeout)",
                        humantime::format_duration(self.timeout)
                    ),
                ));
            }
            let wait = Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match poll(&mut fds, Some(&wait)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            match rustix::io::read(&self.fd, &mut *buf) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A name as it may be printed: control characters and other bytes a terminal or a log
/// reader could act on are escaped, so a file name cannot forge log lines.
pub fn escape(name: &OsStr) -> String {
    name.to_string_lossy().escape_debug().to_string()
}

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
    reader: BufReader<fs_err::File>,
    body_start: u64,
    max_bytes: u64,
    /// The body's length, once [`Spooled::digest`] has read it.
    length: Option<u64>,
}

/// The file behind a descriptor `openat` returned, with `path` for messages.
#[allow(
    clippy::disallowed_types,
    reason = "openat hands over an OwnedFd; fs_err wraps the std File made from it"
)]
fn file_of(fd: std::os::fd::OwnedFd, path: &Path) -> fs_err::File {
    fs_err::File::from_parts(std::fs::File::from(fd), path)
}

/// Stray files named in apply's warning; the rest are counted.
const MAX_STRAYS: usize = 20;

impl Spooled {
    /// The map `receive` left in `dir`, if there is one. The directory must be writable by
    /// its owner only; the files apply does not take are returned (escaped) for a warning.
    pub fn from_spool(dir: &Path, max_bytes: u64) -> Result<(Option<Self>, Vec<String>), Error> {
        use rustix::fs::{Mode, OFlags};
        let io = |cause: std::io::Error| Error::Io {
            path: dir.to_owned(),
            cause,
        };
        // The directory is opened once; its checks, its listing and the open of the map all
        // go through that handle, so nobody can swap the directory in between.
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
                || atomic::is_temp_of(&text, SPOOL_NAME);
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
        let opened = rustix::fs::openat(
            &handle,
            SPOOL_NAME,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let file = match opened {
            Ok(fd) => file_of(fd, &path),
            Err(rustix::io::Errno::NOENT) => return Ok((None, strays)),
            Err(rustix::io::Errno::LOOP) => {
                return Err(Error::Unsafe {
                    path,
                    reason: "is a symbolic link; apply takes only the file receive wrote (give \
                             the real file with --from to apply another)"
                        .into(),
                });
            }
            Err(e) => {
                return Err(Error::Io {
                    path,
                    cause: e.into(),
                });
            }
        };
        let spooled = Self::check(file, &path, max_bytes, meta.st_uid)?;
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
        use fs_err::os::unix::fs::OpenOptionsExt as _;
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
        let file = fs_err::OpenOptions::new()
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
    fn check(file: fs_err::File, path: &Path, max_bytes: u64, trusted: u32) -> Result<Self, Error> {
        let io = |cause| Error::Io {
            path: path.to_owned(),
            cause,
        };
        let unsafe_file = |reason: String| Error::Unsafe {
            path: path.to_owned(),
            reason,
        };
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(unsafe_file(
                "is not a regular file (a FIFO, device or directory); it is not read".into(),
            ));
        }
        if meta.nlink() != 1 {
            return Err(unsafe_file(format!(
                "has {} hard links; a map to apply has exactly one (another name for the same \
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
        if meta.len() > max_bytes {
            return Err(unsafe_file(format!(
                "is {} bytes, more than [install].max_bytes = {max_bytes}; it is not read",
                meta.len()
            )));
        }
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let is_payload = reader
            .fill_buf()
            .map_err(io)?
            .starts_with(payload::MAGIC.as_bytes());
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
                header
                    .copy_body(&mut self.reader, self.max_bytes, &mut std::io::sink())
                    .map_err(|cause| Error::Payload {
                        path: path.clone(),
                        cause,
                    })?;
                self.length = Some(header.length);
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
    inner: std::io::Take<&'a mut BufReader<fs_err::File>>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::SystemTime;

    fn payload(body: &[u8]) -> Vec<u8> {
        let header = Header::new(
            body.len() as u64,
            payload::count_entries(body),
            &crate::map::digest::sha256_hex(body),
            "test",
            SystemTime::UNIX_EPOCH,
        );
        [header.text.as_bytes(), b"\n", body].concat()
    }

    fn spool() -> tempfile::TempDir {
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
        assert!(refused.unwrap_err().contains("may only deliver maps"));
        let truncated = receive(dir.path(), &mut &bytes[..bytes.len() - 1], 1 << 20, None);
        assert!(truncated.unwrap_err().contains("truncated"));
        let large = receive(dir.path(), &mut &bytes[..], 4, None);
        assert!(large.unwrap_err().contains("more than the limit"));
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
    fn leftovers_of_killed_receives_are_removed() {
        let dir = spool();
        let leftover = dir.path().join(".relay_recipients.abc123.tmp");
        fs_err::write(&leftover, vec![0u8; 4096]).unwrap();
        let bytes = payload(b"a@example.com OK\n");
        receive(dir.path(), &mut &bytes[..], 1 << 20, None).unwrap();
        assert!(!leftover.exists());
    }

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
        let e = Spooled::from_spool(dir.path(), 4).unwrap_err().to_string();
        assert!(e.contains("more than [install].max_bytes = 4"), "{e}");
        std::os::unix::fs::chown(&map, Some(4242), None).unwrap();
        assert!(refused("owner").contains("owned by uid 4242"));
        fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(refused("directory").contains("chmod go-w"));
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
    /// use the configuration, the sources or the transport.
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
            for forbidden in ["config", "source", "transport"] {
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
