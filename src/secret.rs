//! Secrets: the bind password, read from a file only the service account can read, or from
//! the environment; never from argv (visible in `ps`), never printed. The LDAP bind needs the
//! password only at connect time, and the config holds just a [`PasswordSource`], where to
//! find it. The Graph source reads its client secret and its certificate's key, and the
//! Kerberos bind its keytab, through [`read_private`] and [`open_private`]: the same checks,
//! in a module of their own that no source owns.
//!
//! The file is checked as ssh checks a private key, on the opened handle (so that nothing can
//! be swapped in between the check and the read): a regular file, owned by the user rcptsync
//! runs as or by root, and not accessible by group or others. It is opened without blocking:
//! a FIFO in its place would otherwise hang the run until someone writes to it. Every refusal
//! is one sentence naming the file, what is wrong and the fix; all of them are the admin's to
//! fix, so the commands report them as config errors (exit 2).

use std::fmt;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The environment variable that may hold the bind password (for systemd `LoadCredential=` or
/// a wrapper script); a password file in the config takes precedence.
pub const PASSWORD_ENV: &str = "RCPTSYNC_BIND_PASSWORD";

/// A password; `Debug` shows `[redacted]` so that it cannot leak through a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret that came from elsewhere (an access token), so that it is as safe from
    /// logs as a password.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The password itself, for the bind call only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why the password could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Not a regular file (a FIFO, a device, a directory): refused without reading it.
    #[error("{} is {what}, not a regular file; put the secret in a regular file (mode 0600, owned by the user rcptsync runs as) and name that file in {key}", path.display())]
    NotRegular {
        /// The password file.
        path: PathBuf,
        /// What it is instead ("a FIFO").
        what: &'static str,
        /// The config key that names the file (`bind_password_file`).
        key: &'static str,
    },
    /// Owned by another user, who could change the password or read it.
    #[error("{} is owned by uid {owner}, not by the user rcptsync runs as (uid {user}) or root; run `chown {user} {}`", path.display(), path.display())]
    WrongOwner {
        /// The password file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// The effective uid of this process.
        user: u32,
    },
    /// Group or others may read the file: refused, as ssh refuses such a key.
    #[error("{} is accessible by group or others (mode {mode:04o}); run `chmod 600 {}` (and chown it to the user rcptsync runs as)", path.display(), path.display())]
    TooOpen {
        /// The password file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file or variable is empty: an empty password would be an anonymous bind in disguise.
    #[error("the secret in {0} is empty")]
    Empty(String),
    /// Neither a file nor the variable.
    #[error(
        "bind_dn is set but there is no password: set bind_password_file or the {PASSWORD_ENV} environment variable"
    )]
    Missing,
}

/// Where the password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// A file (mode 0600 or stricter); the trailing line end is not part of the password.
    File(PathBuf),
    /// The `RCPTSYNC_BIND_PASSWORD` environment variable.
    Env,
}

impl PasswordSource {
    /// Reads the password.
    pub fn read(&self) -> Result<Secret, Error> {
        match self {
            Self::File(path) => read_private(path, "bind_password_file"),
            Self::Env => {
                let value = std::env::var(PASSWORD_ENV).map_err(|_| Error::Missing)?;
                non_empty(value, PASSWORD_ENV)
            }
        }
    }
}

/// Opens a file that only its owner can read (a password file, a keytab), with every check
/// of the module doc made on the opened handle; the caller reads what was checked.
pub fn open_private(path: &Path, key: &'static str) -> Result<crate::fs::File, Error> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It changes
    // nothing for the regular file that is read below.
    let file = crate::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    // fstat of the opened file: what is checked is what is read.
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(Error::NotRegular {
            path: path.to_owned(),
            what: crate::map::nofollow::kind_name(rustix::fs::FileType::from_raw_mode(meta.mode())),
            key,
        });
    }
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != user && meta.uid() != 0 {
        return Err(Error::WrongOwner {
            path: path.to_owned(),
            owner: meta.uid(),
            user,
        });
    }
    let mode = meta.mode();
    if mode & 0o077 != 0 {
        return Err(Error::TooOpen {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(file)
}

/// Reads a secret from a file that only its owner can read, with every check of the module doc
/// (the Graph source's client secret and certificate key go through the same door); `key` is
/// the config key that names the file, for the message that says which key to fix. The
/// trailing line end is not part of the secret.
pub fn read_private(path: &Path, key: &'static str) -> Result<Secret, Error> {
    let file = open_private(path, key)?;
    let text = std::io::read_to_string(file)?;
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    non_empty(password.to_owned(), &path.display().to_string())
}

fn non_empty(value: String, origin: &str) -> Result<Secret, Error> {
    if value.is_empty() {
        Err(Error::Empty(origin.to_owned()))
    } else {
        Ok(Secret(value))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// The error reading `path` gives, within `limit` (a hang fails the test instead of
    /// stalling it).
    fn refusal(path: &Path, limit: Duration) -> Error {
        let (tx, rx) = mpsc::channel();
        let source = PasswordSource::File(path.to_owned());
        std::thread::spawn(move || tx.send(source.read()));
        match rx.recv_timeout(limit) {
            Ok(result) => result.unwrap_err(),
            Err(_) => panic!("reading {} did not return within {limit:?}", path.display()),
        }
    }

    /// A refusal is one sentence naming the file: no cause chain that would print it twice.
    fn one_message(e: &Error, path: &Path) -> String {
        assert!(std::error::Error::source(e).is_none(), "{e:?}");
        let text = e.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        text
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bind.pw");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = refusal(&path, Duration::from_secs(5));
        let text = one_message(&e, &path);
        assert!(
            text.contains("is a FIFO, not a regular file") && text.contains("mode 0600"),
            "{text}"
        );
    }

    /// Giving a file away needs root: in the system tier, where it must not skip.
    #[cfg(feature = "system-tests")]
    #[test]
    fn a_file_owned_by_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bind.pw");
        fs_err::write(&path, "s3cret\n").unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let me = rustix::process::geteuid().as_raw();
        let other = if me == 4242 { 4243 } else { 4242 };
        rustix::fs::chown(&path, Some(rustix::fs::Uid::from_raw(other)), None)
            .expect("the system tests run as root");
        let e = refusal(&path, Duration::from_secs(5));
        let text = one_message(&e, &path);
        assert!(
            text.contains(&format!(
                "is owned by uid {other}, not by the user rcptsync runs as (uid {me}) or root; run `chown {me} {}`",
                path.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn a_file_group_can_read_is_refused_in_one_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bind.pw");
        fs_err::write(&path, "s3cret\n").unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = refusal(&path, Duration::from_secs(5));
        let text = one_message(&e, &path);
        assert_eq!(
            text,
            format!(
                "{0} is accessible by group or others (mode 0640); run `chmod 600 {0}` (and chown it to the user rcptsync runs as)",
                path.display()
            )
        );
    }

    #[test]
    fn file_must_be_private_and_loses_its_line_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bind.pw");
        fs_err::write(&path, "s3cret \r\n").unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = PasswordSource::File(path.clone())
            .read()
            .unwrap_err()
            .to_string();
        assert!(e.contains("mode 0640") && e.contains("chmod 600"), "{e}");
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = PasswordSource::File(path.clone()).read().unwrap();
        assert_eq!(secret.expose(), "s3cret ");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        fs_err::write(&path, "\n").unwrap();
        assert!(matches!(
            PasswordSource::File(path).read(),
            Err(Error::Empty(_))
        ));
    }
}
