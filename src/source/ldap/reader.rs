//! An LDAP source as a [`Reader`](crate::source::Reader): one connection, made by
//! [`open`](crate::source::Reader::open), used for the change mark, the accepted domains and
//! the change feed, then consumed by the read.
//!
//! The change feed: where the server offers the LDAP Content Synchronization operation
//! (OpenLDAP with syncprov), reads of changes refresh from a cookie ([`super::sync`]) and
//! objects are keyed by `entryUUID`.

use base64::Engine as _;
use tracing::{info, warn};

use super::exchange::AcceptedDomains;
use super::sync::under;
use super::{Connection, Credentials, LdapSourceConfig};
use crate::rules::Entry;
use crate::source::{Cause, Change, Changes, Cursor, Error, Feed, Item, Read};

/// The attribute OpenLDAP keys objects by.
const IDENTITY: &str = "entryUUID";

/// An LDAP source with its credentials, connected once opened.
#[derive(Debug)]
pub struct Reader<'a> {
    name: &'a str,
    config: &'a LdapSourceConfig,
    credentials: Credentials,
    connection: Option<Connection>,
    /// The naming context the change feed syncs, once [`feed`](crate::source::Reader::feed)
    /// found one.
    context: Option<String>,
}

impl<'a> Reader<'a> {
    /// Source `name`, to be read with `credentials` (read before anything connects).
    pub fn new(name: &'a str, config: &'a LdapSourceConfig, credentials: Credentials) -> Self {
        Self {
            name,
            config,
            credentials,
            connection: None,
            context: None,
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

    /// The connection, with the whole `read_timeout` for what comes now.
    fn fresh(&mut self) -> Result<&mut Connection, Error> {
        let read_timeout = self.config.read_timeout;
        let connection = self.connection()?;
        connection.deadline = ldap3::tokio::time::Instant::now() + read_timeout;
        Ok(connection)
    }

    /// The cursor of a sync cookie: as text where it is printable (OpenLDAP's are, and
    /// status shows them), else in base64.
    fn cursor(cookie: &[u8]) -> Cursor {
        let entry = match std::str::from_utf8(cookie) {
            Ok(text) if text.bytes().all(|b| b.is_ascii_graphic()) => ("cookie", text.to_owned()),
            _ => (
                "cookie_base64",
                base64::engine::general_purpose::STANDARD.encode(cookie),
            ),
        };
        Cursor::from([(entry.0.to_owned(), entry.1)])
    }

    /// The cookie of a cursor [`Reader::cursor`] made.
    fn cookie(cursor: &Cursor) -> Option<Vec<u8>> {
        match (cursor.get("cookie"), cursor.get("cookie_base64")) {
            (Some(text), None) => Some(text.as_bytes().to_vec()),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok(),
            _ => None,
        }
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
        let identity = self.context.is_some().then_some(IDENTITY);
        super::read(self.config, connection, identity, |id, entry| match id {
            Some(id) => each(Item::Object { id, entry }),
            None => each(Item::Entry(entry)),
        })
        .map_err(|e| self.fail(e))?;
        Ok(Read::default())
    }

    fn feed(&mut self) -> Result<Option<Feed>, Error> {
        if !self.config.incremental {
            return Ok(None);
        }
        let base = &self.config.base_dn;
        let found = self.connection()?.sync_context(base);
        let context = found.map_err(|e| self.fail(e))?;
        let url = self.connection()?.url().to_owned();
        self.context = context.clone();
        Ok(context.map(|context| Feed {
            method: "syncrepl",
            identity: format!("{url} {context}"),
        }))
    }

    fn cursor_now(&mut self) -> Result<Cursor, Error> {
        let context = self.context.clone().unwrap_or_default();
        let refreshed = self.fresh()?.refresh(&context, None);
        match refreshed.map_err(|e| self.fail(e))? {
            Some(refresh) => Ok(Self::cursor(&refresh.cookie)),
            None => Ok(Cursor::new()),
        }
    }

    fn read_changes(
        &mut self,
        cursor: &Cursor,
        each: &mut dyn FnMut(Change<'_>),
    ) -> Result<Option<Changes>, Error> {
        let Some(cookie) = Self::cookie(cursor) else {
            return Ok(None);
        };
        let context = self.context.clone().unwrap_or_default();
        let refreshed = self.fresh()?.refresh(&context, Some(&cookie));
        let Some(refresh) = refreshed.map_err(|e| self.fail(e))? else {
            info!(
                "source {}: the server no longer has the changes since the last read \
                 (e-syncRefreshRequired); reading in full",
                self.name
            );
            return Ok(None);
        };
        let (base, filter) = (&self.config.base_dn, &self.config.filter);
        let mut attrs = Entry::ATTRIBUTES.to_vec();
        attrs.push(IDENTITY);
        for (dn, uuid) in &refresh.changed {
            let found = if under(dn, base) {
                let fetched = self.connection()?.fetch(dn, filter, &attrs);
                fetched.map_err(|e| self.fail(e))?
            } else {
                None
            };
            match found.map(|(dn, attrs)| super::entry_of(dn, attrs, Some(IDENTITY))) {
                // Another object at that DN (the one named was renamed away or deleted, and
                // this one comes as a change of its own): the one named is not there.
                Some((entry, Some(id))) if id == *uuid => each(Change::Changed {
                    id: &id,
                    entry: &entry,
                }),
                _ => each(Change::Gone { id: uuid }),
            }
        }
        for uuid in &refresh.deleted {
            each(Change::Gone { id: uuid });
        }
        Ok(Some(Changes {
            cursor: Self::cursor(&refresh.cookie),
            changed: refresh.changed.len() + refresh.deleted.len(),
            present: refresh.present,
        }))
    }
}
