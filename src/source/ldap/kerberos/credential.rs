//! rcptsync's own Kerberos credential: the keytab opened and checked like a secret, kept open
//! so that GSSAPI reads the very file that was checked (`/proc/self/fd/N`), and the login
//! (the AS exchange with the KDC) into a private in-memory cache, so that no kinit, shared
//! cache or cron wrapper is needed.

use std::io::Read as _;
use std::os::fd::AsRawFd as _;

use libgssapi::credential::Cred;

use super::failure::Failure;
use super::ffi;
use super::keytab::{Error, FormatError, Keytab, principals};

/// A keytab is small (a few keys per principal); anything larger is not one.
const MAX_KEYTAB_BYTES: u64 = 1024 * 1024;

/// The checked keytab, kept open for as long as the credential lives: GSSAPI reads it
/// through this process's handle, so what was checked is what is used.
pub struct Credential {
    principal: String,
    keytab: std::path::PathBuf,
    file: crate::fs::File,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .finish()
    }
}

impl Credential {
    /// Opens and checks the keytab and finds the principal in it; nothing is asked of
    /// the KDC yet ([`Credential::login`]).
    pub fn open(keytab: &Keytab) -> Result<Self, Error> {
        let path = &keytab.path;
        let file = crate::secret::open_private(path, "keytab")?;
        let mut bytes = Vec::new();
        (&file)
            .take(MAX_KEYTAB_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::File(e.into()))?;
        if bytes.len() as u64 > MAX_KEYTAB_BYTES {
            return Err(Error::Format {
                path: path.clone(),
                reason: FormatError::TooLarge(MAX_KEYTAB_BYTES),
            });
        }
        let found = principals(&bytes).map_err(|reason| Error::Format {
            path: path.clone(),
            reason,
        })?;
        if !found.contains(&keytab.principal) {
            return Err(Error::NoSuchPrincipal {
                path: path.clone(),
                principal: keytab.principal.clone(),
                found,
            });
        }
        Ok(Self {
            principal: keytab.principal.clone(),
            keytab: path.clone(),
            file,
        })
    }

    /// Logs in with the keytab's key (the AS exchange with the KDC) into a private
    /// in-memory credential cache, once for all the servers a run tries: the KDC is asked
    /// once, and a failure here (the clock, the realm, the key) is no server's fault.
    pub fn login(&self) -> Result<Login, Failure> {
        let store = [
            (
                "client_keytab".to_owned(),
                format!("FILE:/proc/self/fd/{}", self.file.file().as_raw_fd()),
            ),
            // Private to this process, gone when it exits: nothing on disk to steal. One
            // per login: MIT keeps one principal per cache, and sources may differ.
            (
                "ccache".to_owned(),
                format!("MEMORY:rcptsync-{}", next_cache()),
            ),
        ];
        let cred = ffi::acquire(&self.principal, &store)
            .map_err(|e| Failure::new(&self.principal, &self.keytab, "", e))?;
        Ok(Login {
            cred,
            principal: self.principal.clone(),
            keytab: self.keytab.clone(),
        })
    }
}

/// The credential of a logged-in principal, ready to bind.
pub struct Login {
    pub(super) cred: Cred,
    pub(super) principal: String,
    pub(super) keytab: std::path::PathBuf,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("principal", &self.principal)
            .finish()
    }
}

/// A number for each login's private credential cache.
fn next_cache() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
