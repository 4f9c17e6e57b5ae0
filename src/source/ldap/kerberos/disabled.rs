//! The Kerberos types of a build without the `kerberos` feature: uninhabited (but for the
//! login's failure, which is the config check's refusal), so that the rest of the LDAP
//! source is written once for both builds, and that refusal ([`Credential::open`]) is the
//! only way in.

use super::keytab::{Error, Keytab};

/// Why a login failed: in this build only for want of Kerberos ([`Error::NotBuilt`]), which
/// the config check says before anything logs in. (A type of its own, uninhabited like the
/// others, would make the caller's handling of the login's result unreachable code.)
pub type Failure = Error;

/// A failure of the bind; none can happen in this build.
#[derive(Debug, thiserror::Error)]
pub(in crate::source::ldap) enum BindError {}

/// A failure to seal or unseal; none can happen in this build.
#[derive(Debug, thiserror::Error)]
pub enum SealError {}

/// A Kerberos credential; none can exist in this build.
#[derive(Debug)]
pub enum Credential {}

impl Credential {
    /// Always refused: this build has no Kerberos.
    pub fn open(_keytab: &Keytab) -> Result<Self, Error> {
        Err(Error::NotBuilt)
    }

    /// Never called: no credential exists.
    pub fn login(&self) -> Result<Login, Failure> {
        match *self {}
    }
}

/// A Kerberos login; none can exist in this build.
#[derive(Debug)]
pub enum Login {}

impl Login {
    /// Never called: no login exists.
    pub(in crate::source::ldap) async fn bind<W>(
        &self,
        _wire: &mut W,
        _host: &str,
        _binding: Option<&[u8]>,
    ) -> Result<Option<Seal>, BindError> {
        match *self {}
    }
}

/// The sealing of a connection; none can exist in this build.
#[derive(Debug)]
pub enum Seal {}

impl Seal {
    /// Never called.
    pub fn wrap(&mut self, _plain: &[u8]) -> Result<Vec<u8>, SealError> {
        match *self {}
    }

    /// Never called.
    pub fn unwrap(&mut self, _sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        match *self {}
    }

    /// Never called.
    pub fn max_send(&self) -> usize {
        match *self {}
    }
}
