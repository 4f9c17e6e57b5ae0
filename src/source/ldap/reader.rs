//! An LDAP source as a [`Reader`](crate::source::Reader): one connection, made by
//! [`open`](crate::source::Reader::open), used for the change mark and the accepted domains,
//! then consumed by the read.

use tracing::warn;

use super::exchange::AcceptedDomains;
use super::{Connection, Credentials, LdapSourceConfig};
use crate::source::{Cause, Cursor, Error, Item, Read};

/// An LDAP source with its credentials, connected once opened.
#[derive(Debug)]
pub struct Reader<'a> {
    name: &'a str,
    config: &'a LdapSourceConfig,
    credentials: Credentials,
    connection: Option<Connection>,
}

impl<'a> Reader<'a> {
    /// Source `name`, to be read with `credentials` (read before anything connects).
    pub fn new(name: &'a str, config: &'a LdapSourceConfig, credentials: Credentials) -> Self {
        Self {
            name,
            config,
            credentials,
            connection: None,
        }
    }

    fn fail(&self, cause: impl Into<Cause>) -> Error {
        Error {
            source_name: self.name.to_owned(),
            cause: Box::new(cause.into()),
        }
    }

    /// The open connection, made now if open() was not called.
    fn connection(&mut self) -> Result<&mut Connection, Error> {
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => super::connect(self.config, &self.credentials).map_err(|e| self.fail(e))?,
        };
        Ok(self.connection.insert(connection))
    }
}

impl crate::source::Reader for Reader<'_> {
    fn open(&mut self) -> Result<(), Error> {
        self.connection().map(|_| ())
    }

    fn change_mark(&mut self, _cursor: Option<&Cursor>) -> Option<String> {
        let (name, base) = (self.name, &self.config.base_dn);
        let connection = self.connection().ok()?;
        connection.change_mark(base).unwrap_or_else(|e| {
            warn!("source {name}: cannot read the change mark ({e}); searching in full");
            None
        })
    }

    fn accepted_domains(&mut self) -> Option<Result<AcceptedDomains, Error>> {
        let found = match self.connection() {
            Ok(connection) => connection.accepted_domains(),
            Err(e) => return Some(Err(e)),
        };
        Some(found.map_err(|e| self.fail(Cause::AcceptedDomains(Box::new(e.into())))))
    }

    fn read(&mut self, each: &mut dyn FnMut(Item<'_>)) -> Result<Read, Error> {
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => super::connect(self.config, &self.credentials).map_err(|e| self.fail(e))?,
        };
        super::read(self.config, connection, |entry| each(Item::Entry(entry)))
            .map_err(|e| self.fail(e))?;
        Ok(Read::default())
    }
}
