//! What changed in the tenant since the saved deltaLinks: [`Client::changes`] only tells
//! whether anything did (the change mark of a source read in full), [`Client::changed_since`]
//! names each object added, changed or removed and reads the changed ones again by id (the
//! incremental read into the store).

use tracing::info;

use super::page::Object;
use super::read::{Collection, DOMAINS_KEY, End, RECIPIENTS, entry, key, refusal};
use super::{Client, DeltaLinks, Error};
use crate::rules::Entry;

/// What the delta rounds tell about the tenant since the saved deltaLinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// No round returned any object: the last full read is still the tenant's content.
    Unchanged,
    /// This collection changed (or has no saved link): read in full.
    Changed(&'static str),
    /// Graph no longer knows the token (HTTP 410): read in full.
    Expired,
}

/// The most changed objects an incremental read reads one by one; beyond, a full read.
const MAX_OBJECT_READS: usize = 1000;

impl Client {
    /// Replays the saved deltaLinks: [`Delta::Unchanged`] only when every round returned
    /// nothing.
    pub fn changes(&mut self, links: &DeltaLinks) -> Result<Delta, Error> {
        for collection in RECIPIENTS {
            // The state file is the extract user's to write: a saved link must at least be
            // this collection's delta function on Graph's origin.
            let Some(link) = self.saved_link(links, collection) else {
                return Ok(Delta::Changed(collection.name));
            };
            let mut changed = 0usize;
            match self.pages(link, collection, true, |_| changed += 1)? {
                End::Gone => return Ok(Delta::Expired),
                End::Done(_) if changed > 0 => return Ok(Delta::Changed(collection.name)),
                End::Done(_) => {}
            }
        }
        // No delta round covers /domains: its digest is compared instead (one request).
        if let Some(saved) = links.get(DOMAINS_KEY) {
            self.accepted_domains()?;
            if self.domains.as_ref() != Some(saved) {
                return Ok(Delta::Changed("domains"));
            }
        }
        Ok(Delta::Unchanged)
    }

    /// What changed since the saved deltaLinks: each collection's delta round names the
    /// objects added, changed or removed since; each one not removed is read again by its id
    /// (a round brings "at least the properties that changed", not all of them). None when a
    /// link is missing or expired, or when more objects changed than reading them one by one
    /// is worth (a full read is cheaper then).
    pub fn changed_since(
        &mut self,
        links: &DeltaLinks,
        mut each: impl FnMut(&str, Option<&Entry>),
    ) -> Result<Option<(DeltaLinks, usize)>, Error> {
        self.http.restart_deadline();
        let mut next = DeltaLinks::new();
        let mut named: Vec<(&Collection, String, bool)> = Vec::new();
        for collection in RECIPIENTS {
            let Some(link) = self.saved_link(links, collection) else {
                return Ok(None);
            };
            let mut round = Vec::new();
            let room = MAX_OBJECT_READS.saturating_sub(named.len());
            let mut too_many = false;
            let end = self.pages(link, collection, true, |object| {
                too_many |= round.len() >= room;
                if let Some(id) = object.id.filter(|_| !too_many) {
                    round.push((collection, id, object.removed.is_some()));
                }
            });
            match end.map_err(|e| Error::Incomplete(Box::new(e)))? {
                End::Gone => return Ok(None),
                End::Done(Some(link)) => {
                    next.insert(collection.name.to_owned(), link);
                }
                End::Done(None) => return Ok(None),
            }
            named.extend(round);
            if too_many {
                info!(
                    tenant = %self.http.tenant(),
                    "more than {MAX_OBJECT_READS} objects changed; reading in full is cheaper"
                );
                return Ok(None);
            }
        }
        let changed = named.len();
        for (collection, id, removed) in named {
            let key = key(collection, &id);
            if removed {
                each(&key, None);
                continue;
            }
            let object = self
                .object(collection, &id)
                .map_err(|e| Error::Incomplete(Box::new(e)))?;
            each(&key, object.map(|o| entry(collection, o)).as_ref());
        }
        if let Some(domains) = links.get(DOMAINS_KEY) {
            next.insert(DOMAINS_KEY.to_owned(), domains.clone());
        }
        Ok(Some((next, changed)))
    }

    /// The saved deltaLink of `collection`, if it is that collection's delta function on
    /// Graph's origin (the state is the extract user's to write).
    fn saved_link(&self, links: &DeltaLinks, collection: &Collection) -> Option<String> {
        let function = collection.delta.split('?').next().unwrap_or_default();
        links
            .get(collection.name)
            .filter(|link| {
                link.strip_prefix(self.http.origin())
                    .and_then(|rest| rest.strip_prefix(function))
                    .is_some_and(|rest| rest.starts_with('?'))
            })
            .cloned()
    }

    /// Object `id` of `collection` as the listing would give it; None when it is gone or
    /// not a recipient (a guest, a group that is not mail-enabled).
    fn object(&mut self, collection: &Collection, id: &str) -> Result<Option<Object>, Error> {
        let mut url = url::Url::parse(self.http.origin())
            .map_err(|e| self.http.error(self.http.origin(), e.to_string()))?;
        url.set_path(&format!("/v1.0/{}/", collection.name));
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(id);
        }
        url.set_query(Some(collection.one));
        let url = url.to_string();
        let reply = self.get(&url)?;
        if reply.status == 404 {
            return Ok(None);
        }
        if reply.status != 200 {
            return Err(self
                .http
                .error(&url, refusal(&reply, collection, self.http.tenant())));
        }
        let object: Object = reply
            .json()
            .ok_or_else(|| self.http.error(&url, "the answer is not a Graph object"))?;
        let recipient = match collection.name {
            "users" => object.user_type.as_deref() != Some("Guest"),
            "groups" => object.mail_enabled == Some(true),
            _ => true,
        };
        Ok(recipient.then_some(object))
    }
}
