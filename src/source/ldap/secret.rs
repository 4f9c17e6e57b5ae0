//! The bind password: read from a file only the service account can read, or from the
//! environment; never from argv (visible in `ps`), never printed.
//!
//! It lives beside the source that reads it: only the LDAP bind ever needs the password, and
//! only at connect time. The config holds just a [`PasswordSource`], where to find it.

use std::fmt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The environment variable that may hold the bind password (for systemd `LoadCredential=` or
/// a wrapper script); a password file in the config takes precedence.
pub const PASSWORD_ENV: &str = "RCPTSYNC_BIND_PASSWORD";

/// A password; `Debug` shows `[redacted]` so that it cannot leak through a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
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
    /// Group or others may read the file: refused, as ssh refuses such a key.
    #[error("{} is accessible by group or others (mode {mode:04o}); run `chmod 600 {}` (and chown it to the user rcptsync runs as)", path.display(), path.display())]
    TooOpen {
        /// The password file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file or variable is empty: an empty password would be an anonymous bind in disguise.
    #[error("the bind password in {0} is empty")]
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
            Self::File(path) => read_file(path),
            Self::Env => {
                let value = std::env::var(PASSWORD_ENV).map_err(|_| Error::Missing)?;
                non_empty(value, PASSWORD_ENV)
            }
        }
    }
}

fn read_file(path: &Path) -> Result<Secret, Error> {
    let file = fs_err::File::open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(Error::TooOpen {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
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
    use super::*;

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
