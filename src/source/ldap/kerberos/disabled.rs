//! The Kerberos types of a build without the `kerberos` feature: uninhabited, so that the
//! rest of the LDAP source is written once for both builds, and the config check's refusal
//! ([`Credential::open`]) is the only way in.

use super::keytab::{Error, Keytab};

/// A Kerberos credential; none can exist in this build.
#[derive(Debug)]
pub enum Credential {}

impl Credential {
    /// Always refused: this build has no Kerberos.
    pub fn open(_keytab: &Keytab) -> Result<Self, Error> {
        Err(Error::NotBuilt)
    }

    /// Never called: no credential exists.
    pub fn login(&self) -> Result<Login, String> {
        match *self {}
    }
}

/// A Kerberos login; none can exist in this build.
#[derive(Debug)]
pub enum Login {}

impl Login {
    /// Never called: no login exists.
    pub async fn bind<W>(
        &self,
        _wire: &mut W,
        _host: &str,
        _binding: Option<&[u8]>,
    ) -> Result<Option<Seal>, String> {
        match *self {}
    }
}

/// The sealing of a connection; none can exist in this build.
#[derive(Debug)]
pub enum Seal {}

impl Seal {
    /// Never called.
    pub fn wrap(&mut self, _plain: &[u8]) -> Result<Vec<u8>, String> {
        match *self {}
    }

    /// Never called.
    pub fn unwrap(&mut self, _sealed: &[u8]) -> Result<Vec<u8>, String> {
        match *self {}
    }

    /// Never called.
    pub fn max_send(&self) -> usize {
        match *self {}
    }
}
