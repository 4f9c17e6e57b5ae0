//! An LDAP source as a [`Reader`](crate::source::Reader): one connection, made by
//! [`open`](crate::source::Reader::open), used for the change mark, the accepted domains and
//! the change feed, then consumed by the read.
//!
//! The change feed: on Active Directory, polling on `uSNChanged` ([`super::usn`], objects
//! keyed by `objectGUID`), where the bind account can see deleted objects; where the server
//! offers the LDAP Content Synchronization operation (OpenLDAP with syncprov), a refresh from
//! a cookie ([`super::sync`], objects keyed by `entryUUID`). Either way each changed object
//! under the base is read again with the source's filter. For `watch`, the same operation in
//! refreshAndPersist mode announces each change as it is made ([`Connection::follow`]).

use std::sync::atomic::AtomicBool;

use base64::Engine as _;
use tracing::{info, warn};

use super::exchange::AcceptedDomains;
use super::notification::Notified;
use super::{Connection, Credentials, LdapSourceConfig};
use crate::rules::Entry;
use crate::source::{Cause, Change, Changes, Cursor, Error, Feed, Followed, Item, Read};

/// The change feed a source reads, once [`feed`](crate::source::Reader::feed) found one.
#[derive(Debug, Clone)]
enum Kind {
    /// RFC 4533 on this naming context.
    Sync(String),
    /// AD's uSNChanged on this DC.
    Usn(super::usn::Usn),
}

impl Kind {
    /// The attribute objects are keyed by.
    fn identity(&self) -> &'static str {
        match self {
            Kind::Sync(_) => "entryUUID",
            Kind::Usn(_) => "objectGUID",
        }
    }

    /// An identity as a filter value: entryUUID as it is written (hex and dashes), an
    /// objectGUID (kept as hex) as its bytes escaped (RFC 4515).
    fn filter_value(&self, id: &str) -> String {
        match self {
            Kind::Sync(_) => id
                .chars()
                .filter(|c| c.is_ascii_hexdigit() || *c == '-')
                .collect(),
            Kind::Usn(_) => id
                .as_bytes()
                .chunks(2)
                .map(|pair| format!("\\{}", String::from_utf8_lossy(pair)))
                .collect(),
        }
    }
}

/// Changed objects read again in one search.
const BATCH: usize = 200;

/// An LDAP source with its credentials, connected once opened.
#[derive(Debug)]
pub struct Reader<'a> {
    name: &'a str,
    config: &'a LdapSourceConfig,
    credentials: Credentials,
    connection: Option<Connection>,
    /// The change feed, once [`feed`](crate::source::Reader::feed) found one.
    kind: Option<Kind>,
}

impl<'a> Reader<'a> {
    /// Source `name`, to be read with `credentials` (read before anything connects).
    pub fn new(name: &'a str, config: &'a LdapSourceConfig, credentials: Credentials) -> Self {
        Self {
            name,
            config,
            credentials,
            connection: None,
            kind: None,
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
        let identity = self.kind.as_ref().map(Kind::identity);
        super::read(self.config, connection, identity, |id, entry| match id {
            Some(id) => each(Item::Object { id, entry }),
            None => each(Item::Entry(entry)),
        })
        .map_err(|e| self.fail(e))?;
        Ok(Read::default())
    }

    fn follow(&mut self, stop: &AtomicBool, wake: &mut dyn FnMut()) -> Result<Followed, Error> {
        let base = self.config.base_dn.clone();
        let found = self.fresh()?.sync_context(&base);
        if let Some(context) = found.map_err(|e| self.fail(e))? {
            let followed = self.fresh()?.follow(&context, stop, wake);
            followed.map_err(|e| self.fail(e))?;
            return Ok(Followed::Stopped);
        }
        let found = self.fresh()?.usn_feed(&base);
        let Some(usn) = found.map_err(|e| self.fail(e))? else {
            return Ok(Followed::Unsupported);
        };
        let notified = self.fresh()?.notify(&usn.context, stop, wake);
        match notified.map_err(|e| self.fail(e))? {
            Notified::Stopped => Ok(Followed::Stopped),
            Notified::Refused(why) => {
                warn!(
                    "source {}: the DC does not notify changes ({why}); its changes are looked \
                     for every [watch].poll instead",
                    self.name
                );
                Ok(Followed::Unsupported)
            }
        }
    }

    fn check(&mut self) -> Result<Vec<String>, Error> {
        let url = self.connection()?.url().to_owned();
        let mut found = vec![format!("bound to {url}")];
        let (base, filter) = (self.config.base_dn.clone(), self.config.filter.clone());
        let probe = self.fresh()?.probe(&base, &filter);
        let probe = probe.map_err(|e| self.fail(e))?;
        found.push(format!(
            "base_dn {base} is there; the server pages searches"
        ));
        match probe.first {
            Some(dn) => found.push(format!("an entry matches the filter: {dn}")),
            None => {
                return Err(self.fail(super::failure(
                    &url,
                    &base,
                    "no entry under base_dn matches the filter; a run would find no recipients \
                     (check base_dn, filter, and what this account may read)"
                        .to_owned(),
                )));
            }
        }
        found.push(match self.feed()? {
            Some(feed) => format!("change feed: {} (runs read only what changed)", feed.method),
            None if !self.config.incremental => {
                "incremental = false: every run reads in full".into()
            }
            None => "no change feed: every run reads in full (see the warning, if any)".into(),
        });
        Ok(found)
    }

    fn feed(&mut self) -> Result<Option<Feed>, Error> {
        if !self.config.incremental {
            return Ok(None);
        }
        let base = &self.config.base_dn;
        let found = self.connection()?.usn_feed(base);
        if let Some(usn) = found.map_err(|e| self.fail(e))? {
            let sees = self.connection()?.sees_deleted(&usn.context);
            if !sees.map_err(|e| self.fail(e))? {
                warn!(
                    "source {}: the bind account sees no deleted object in CN=Deleted \
                     Objects,{context}, so it could not see deletions: every run reads in full. \
                     To read only the changes, let it list deleted objects (as a domain admin: \
                     dsacls \"CN=Deleted Objects,{context}\" /takeownership, then dsacls \
                     \"CN=Deleted Objects,{context}\" /G DOMAIN\\ACCOUNT:LCRP); a domain where \
                     nothing was deleted yet reads in full until something is",
                    self.name,
                    context = usn.context
                );
                return Ok(None);
            }
            let identity = usn.identity.clone();
            self.kind = Some(Kind::Usn(usn));
            return Ok(Some(Feed {
                method: "usn",
                identity,
            }));
        }
        let found = self.connection()?.sync_context(base);
        let Some(context) = found.map_err(|e| self.fail(e))? else {
            return Ok(None);
        };
        let url = self.connection()?.url().to_owned();
        let identity = format!("{url} {context}");
        self.kind = Some(Kind::Sync(context));
        Ok(Some(Feed {
            method: "syncrepl",
            identity,
        }))
    }

    fn cursor_now(&mut self) -> Result<Cursor, Error> {
        match self.kind.clone() {
            Some(Kind::Sync(context)) => {
                let refreshed = self.fresh()?.refresh(&context, None);
                match refreshed.map_err(|e| self.fail(e))? {
                    Some(refresh) => Ok(Self::cursor(&refresh.cookie)),
                    None => Ok(Cursor::new()),
                }
            }
            Some(Kind::Usn(_)) => {
                let usn = self.fresh()?.highest_usn();
                let usn = usn.map_err(|e| self.fail(e))?;
                Ok(Cursor::from([("usn".to_owned(), usn.to_string())]))
            }
            None => Ok(Cursor::new()),
        }
    }

    fn read_changes(
        &mut self,
        cursor: &Cursor,
        each: &mut dyn FnMut(Change<'_>),
    ) -> Result<Option<Changes>, Error> {
        let changed = match self.kind.clone() {
            Some(Kind::Sync(context)) => self.sync_changes(&context, cursor)?,
            Some(Kind::Usn(usn)) => self.usn_changes(&usn, cursor)?,
            None => None,
        };
        let Some(changed) = changed else {
            return Ok(None);
        };
        let Some(kind) = self.kind.clone() else {
            return Ok(None);
        };
        let identity = kind.identity();
        let (base, page_size) = (&self.config.base_dn, self.config.page_size);
        let filter = match self.config.filter.starts_with('(') {
            true => self.config.filter.clone(),
            false => format!("({})", self.config.filter),
        };
        let mut attrs = Entry::ATTRIBUTES.to_vec();
        attrs.push(identity);
        // The changed objects are read again a batch at a time, by identity, under the base
        // and with the filter: one search per batch, on the identity's index, instead of one
        // per object. One not found no longer matches, left the base, or is gone.
        for batch in changed.changed.chunks(BATCH) {
            // Whether an object is under the base is the server's to say (DNs can be
            // spelled in more than one way): the search is on the base.
            let wanted: String = batch
                .iter()
                .map(|(_, id)| format!("({identity}={})", kind.filter_value(id)))
                .collect();
            let mut found = std::collections::HashMap::new();
            if !wanted.is_empty() {
                let query = format!("(&{filter}(|{wanted}))");
                let searched =
                    self.connection()?
                        .search(base, &query, &attrs, page_size, |dn, attrs| {
                            if let (entry, Some(id)) = super::entry_of(dn, attrs, Some(identity)) {
                                found.insert(id, entry);
                            }
                        });
                searched.map_err(|e| self.fail(e))?;
            }
            for (_, id) in batch {
                match found.get(id) {
                    Some(entry) => each(Change::Changed { id, entry }),
                    None => each(Change::Gone { id }),
                }
            }
        }
        for id in &changed.gone {
            each(Change::Gone { id });
        }
        Ok(Some(Changes {
            cursor: changed.cursor,
            changed: changed.changed.len() + changed.gone.len(),
            present: changed.present,
        }))
    }
}

/// What a feed said changed, before the changed objects are read.
struct Changed {
    /// Objects changed, moved or added: (DN, identity).
    changed: Vec<(String, String)>,
    /// Objects deleted.
    gone: Vec<String>,
    /// See [`Changes::present`].
    present: Option<std::collections::HashSet<String>>,
    /// Where the next read starts.
    cursor: Cursor,
}

impl Reader<'_> {
    /// What the sync refresh from the cursor's cookie says changed; None when the cookie is
    /// no longer valid.
    fn sync_changes(&mut self, context: &str, cursor: &Cursor) -> Result<Option<Changed>, Error> {
        let Some(cookie) = Self::cookie(cursor) else {
            return Ok(None);
        };
        let refreshed = self.fresh()?.refresh(context, Some(&cookie));
        let Some(refresh) = refreshed.map_err(|e| self.fail(e))? else {
            info!(
                "source {}: the server cannot tell the changes since the last read; reading in \
                 full",
                self.name
            );
            return Ok(None);
        };
        Ok(Some(Changed {
            changed: refresh.changed,
            gone: refresh.deleted,
            present: refresh.present,
            cursor: Self::cursor(&refresh.cookie),
        }))
    }

    /// What changed on the DC since the cursor's USN: tombstones are gone, the rest is read
    /// again. The DC's highest USN is read first: what changes while this runs is read again
    /// next time, never missed.
    fn usn_changes(
        &mut self,
        usn: &super::usn::Usn,
        cursor: &Cursor,
    ) -> Result<Option<Changed>, Error> {
        let Some(since) = cursor.get("usn").and_then(|u| u.parse::<u64>().ok()) else {
            return Ok(None);
        };
        let page_size = self.config.page_size;
        let connection = self.fresh()?;
        let found = connection.highest_usn().and_then(|now| {
            Ok((
                now,
                connection.changed_since(&usn.context, since, page_size)?,
            ))
        });
        let (now, found) = found.map_err(|e| self.fail(e))?;
        let Some(found) = found else {
            info!(
                "source {}: more than {} objects changed; reading in full costs less",
                self.name,
                super::MAX_CHANGES
            );
            return Ok(None);
        };
        if found.iter().any(|c| c.container && !c.deleted) {
            info!(
                "source {}: an OU or container changed (it may have moved the objects in it, \
                 which are not named as changed); reading in full",
                self.name
            );
            return Ok(None);
        }
        let (gone, changed): (Vec<_>, Vec<_>) = found.into_iter().partition(|c| c.deleted);
        Ok(Some(Changed {
            changed: changed.into_iter().map(|c| (c.dn, c.guid)).collect(),
            gone: gone.into_iter().map(|c| c.guid).collect(),
            present: None,
            cursor: Cursor::from([("usn".to_owned(), now.to_string())]),
        }))
    }
}
