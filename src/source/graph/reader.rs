//! A Graph source as a [`Reader`](crate::source::Reader): authenticated when opened; its
//! change mark comes from delta rounds replayed from the deltaLinks the last full read left,
//! and a full read leaves new ones.

use tracing::{info, warn};

use super::{Client, Credentials, Delta, DeltaLinks, GraphSourceConfig};
use crate::source::ldap::exchange::AcceptedDomains;
use crate::source::{Cause, Change, Changes, Cursor, Error, Feed, Item, Read};

/// A Graph source with its credential, a client once opened.
#[derive(Debug)]
pub struct Reader<'a> {
    name: &'a str,
    config: &'a GraphSourceConfig,
    credentials: Option<Credentials>,
    client: Option<Client>,
    /// The delta rounds are the change feed ([`feed`](crate::source::Reader::feed)): the
    /// objects go to the store.
    feeding: bool,
    /// The deltaLinks taken before the full read ([`cursor_now`](crate::source::Reader::cursor_now)).
    links: Option<DeltaLinks>,
}

impl<'a> Reader<'a> {
    /// Source `name`, to be read with `credentials` (read before anything connects).
    pub fn new(name: &'a str, config: &'a GraphSourceConfig, credentials: Credentials) -> Self {
        Self {
            name,
            config,
            credentials: Some(credentials),
            client: None,
            feeding: false,
            links: None,
        }
    }

    fn fail(&self, cause: impl Into<Cause>) -> Error {
        Error {
            source_name: self.name.to_owned(),
            cause: Box::new(cause.into()),
        }
    }

    /// The authenticated client, set up now if open() was not called.
    fn client(&mut self) -> Result<&mut Client, Error> {
        let client = match (self.client.take(), self.credentials.take()) {
            (Some(client), _) => client,
            (None, Some(credentials)) => {
                let mut client =
                    super::connect(self.config, credentials).map_err(|e| self.fail(e))?;
                client.authenticate().map_err(|e| self.fail(e))?;
                client
            }
            // A client whose setup failed is not set up again: the credential is spent.
            (None, None) => {
                return Err(self.fail(super::Error::Request {
                    tenant: self.config.tenant.clone(),
                    endpoint: self.config.graph_url.clone(),
                    reason: "the client could not be set up".into(),
                }));
            }
        };
        Ok(self.client.insert(client))
    }
}

impl crate::source::Reader for Reader<'_> {
    fn open(&mut self) -> Result<(), Error> {
        self.client().map(|_| ())
    }

    /// The constant mark when the delta rounds from `cursor` saw no change, None (a full
    /// read) otherwise. A failing round only costs the shortcut.
    fn change_mark(&mut self, cursor: Option<&Cursor>) -> Option<String> {
        let name = self.name;
        let links = cursor?;
        let mark = self.config.mark();
        match self.client().ok()?.changes(links) {
            Ok(Delta::Unchanged) => Some(mark),
            Ok(Delta::Changed(collection)) => {
                info!(
                    "source {name}: {collection} changed since the last full read; reading in full"
                );
                None
            }
            Ok(Delta::Expired) => {
                info!("source {name}: the delta token expired; reading in full");
                None
            }
            Err(e) => {
                warn!("source {name}: the delta round failed ({e}); reading in full");
                None
            }
        }
    }

    /// The tenant's verified Email domains; /domains does not tell a domain's type, so none
    /// is open (`internal_relay` opens them).
    fn accepted_domains(&mut self) -> Option<Result<AcceptedDomains, Error>> {
        let found = match self.client() {
            Ok(client) => client.accepted_domains(),
            Err(e) => return Some(Err(e)),
        };
        Some(
            found
                .map(|accepted| AcceptedDomains {
                    accepted,
                    open: Vec::new(),
                })
                .map_err(|e| self.fail(Cause::AcceptedDomains(Box::new(e.into())))),
        )
    }

    /// Everything, and the deltaLinks that stand for it, with the constant mark.
    fn read(&mut self, each: &mut dyn FnMut(Item<'_>)) -> Result<Read, Error> {
        let (feeding, links) = (self.feeding, self.links.take());
        let links = self
            .client()?
            .read(links, |id, entry| match feeding {
                true => each(Item::Object { id, entry }),
                false => each(Item::Entry(entry)),
            })
            .map_err(|e| self.fail(e))?;
        Ok(Read {
            cursor: Some(links),
            mark: Some(self.config.mark()),
        })
    }

    fn check(&mut self) -> Result<Vec<String>, Error> {
        let tenant = self.config.tenant.clone();
        let mut found = vec![format!("token for tenant {tenant}")];
        let probed = self.client()?.probe();
        found.extend(probed.map_err(|e| self.fail(e))?);
        found.push(match self.config.incremental {
            true => "change feed: delta (runs read only what changed)".to_owned(),
            false => "incremental = false: every run reads in full".to_owned(),
        });
        Ok(found)
    }

    fn feed(&mut self) -> Result<Option<Feed>, Error> {
        self.feeding = self.config.incremental;
        Ok(self.feeding.then(|| Feed {
            method: "delta",
            identity: format!("{} {}", self.config.graph_url, self.config.tenant),
        }))
    }

    fn cursor_now(&mut self) -> Result<Cursor, Error> {
        let links = self.client()?.latest_links();
        self.links = Some(links.clone());
        Ok(links)
    }

    fn read_changes(
        &mut self,
        cursor: &Cursor,
        each: &mut dyn FnMut(Change<'_>),
    ) -> Result<Option<Changes>, Error> {
        let found = self
            .client()?
            .changed_since(cursor, |id, entry| match entry {
                Some(entry) => each(Change::Changed { id, entry }),
                None => each(Change::Gone { id }),
            });
        let Some((links, changed)) = found.map_err(|e| self.fail(e))? else {
            info!(
                "source {}: the delta rounds cannot say what changed (a link expired or \
                 missing, or too many changes); reading in full",
                self.name
            );
            return Ok(None);
        };
        Ok(Some(Changes {
            cursor: links,
            present: None,
            changed,
        }))
    }
}
