//! Reading what changed on an OpenLDAP server (or any RFC 4533 provider): the LDAP Content
//! Synchronization operation in refreshOnly mode, from the cookie the last read left.
//!
//! The refresh runs on the whole naming context, unfiltered, and asks only for objectClass
//! (an OU or container that changed may have moved what is in it: a full read): it only says
//! which entries changed (with their DN and entryUUID), which were deleted, and,
//! when the provider cannot tell deletions (no session log covers the cookie), which are
//! still present. The changed entries under the source's base are then read again by
//! entryUUID with the source's own filter (the reader, in batches): one that no longer
//! matches the filter, that left the base by a move, or that is gone, leaves the map. That way nothing depends on how the provider treats an
//! entry that stops matching a filtered sync search.
//!
//! What the provider sends is bounded like a search (`max_entries` counts changed entries
//! and identities), parsed without trust ([`message`]), and a refresh that does not end with
//! success and a Sync Done control is an error; `e-syncRefreshRequired` (4096) means the
//! cookie is no longer valid and the run reads in full.

pub mod message;
mod persist;

use std::collections::HashSet;

use ldap3::asn1::{PL, StructureTag};
use ldap3::controls::RawControl;
use ldap3::{Scope, SearchEntry};

use super::{Connection, Error, MAX_CHANGES, failure, self_error};
use message::{Info, State};

/// The result code that says the cookie is too old to refresh from (RFC 4533 2.5).
const REFRESH_REQUIRED: u32 = 4096;

/// What a refresh found.
#[derive(Debug, Default)]
pub struct Refresh {
    /// Entries added or changed: (DN, entryUUID).
    pub changed: Vec<(String, String)>,
    /// entryUUIDs of deleted entries.
    pub deleted: Vec<String>,
    /// With a present phase, the entryUUIDs of the unchanged entries still there: every entry
    /// neither in it nor changed is gone.
    pub present: Option<HashSet<String>>,
    /// The cookie to start the next refresh from.
    pub cookie: Vec<u8>,
    /// More than [`MAX_CHANGES`] changed or deleted entries were named; they were not kept.
    pub too_many: bool,
    /// An OU or container was added or changed: it may have moved the entries in it, which
    /// are not named ([`super::is_container`]).
    pub container: bool,
}

impl Refresh {
    fn counted(&self) -> usize {
        self.changed.len() + self.deleted.len() + self.present.as_ref().map_or(0, HashSet::len)
    }

    fn present(&mut self) -> &mut HashSet<String> {
        self.present.get_or_insert_with(HashSet::new)
    }
}

impl Connection {
    /// The naming context `base` is in (the longest of the rootDSE's `namingContexts` that
    /// ends it), and whether the server offers the Content Synchronization operation (and is
    /// not Active Directory, which announces other change feeds).
    pub fn sync_context(&mut self, base: &str) -> Result<Option<String>, Error> {
        let root = self.read_base(
            "",
            &[
                "supportedControl",
                "namingContexts",
                "supportedCapabilities",
            ],
        )?;
        let has = |name: &str, oid: &str| {
            root.attrs
                .get(name)
                .is_some_and(|v| v.iter().any(|o| o == oid))
        };
        if !has("supportedControl", message::REQUEST)
            || has("supportedCapabilities", "1.2.840.113556.1.4.800")
        {
            return Ok(None);
        }
        Ok(naming_context(&root, base).map(str::to_owned))
    }

    /// A refreshOnly sync of `context` from `cookie` (None: a refresh that asks for nothing,
    /// to learn the cookie of now). None when the provider cannot refresh from the cookie (it
    /// is too old: `e-syncRefreshRequired`) or stops at its size limit.
    pub fn refresh(
        &mut self,
        context: &str,
        cookie: Option<&[u8]>,
    ) -> Result<Option<Refresh>, Error> {
        let result = self.refresh_inner(context, cookie);
        result.map_err(|e| self.explain(e))
    }

    fn refresh_inner(
        &mut self,
        context: &str,
        cookie: Option<&[u8]>,
    ) -> Result<Option<Refresh>, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            deadline,
            bounds,
            tripwire,
            ..
        } = self;
        let (url, deadline, max) = (url.as_str(), *deadline, bounds.entries);
        // Without a cookie, an entry no one has asked for: the refresh brings the cookie only.
        let filter = match cookie {
            Some(_) => "(objectClass=*)",
            None => "(entryUUID=00000000-0000-0000-0000-000000000000)",
        };
        let control = RawControl {
            ctype: message::REQUEST.to_owned(),
            crit: true,
            val: Some(message::request(cookie, false)),
        };
        let fail = |why: String| failure(url, context, why);
        let work = async {
            // A provider that has nothing newer may send no cookie: the old one stands.
            let mut refresh = Refresh {
                cookie: cookie.unwrap_or_default().to_vec(),
                ..Refresh::default()
            };
            let streaming = tripwire.streaming();
            let mut stream = ldap
                .with_controls(control)
                .with_timeout(*timeout)
                .streaming_search(context, Scope::Subtree, filter, vec!["objectClass"])
                .await
                .map_err(|e| self_error(url, context, &e))?;
            while let Some(raw) = stream
                .next()
                .await
                .map_err(|e| self_error(url, context, &e))?
            {
                streaming.took();
                if raw.is_intermediate() {
                    let info = intermediate(&raw.0).ok_or_else(|| {
                        fail("the server sent a malformed Sync Info message".into())
                    })?;
                    note(&mut refresh, info);
                } else if !raw.is_ref() {
                    let state = raw
                        .1
                        .iter()
                        .find(|c| c.1.ctype == message::STATE)
                        .and_then(|c| c.1.val.as_deref())
                        .and_then(message::state)
                        .ok_or_else(|| {
                            fail(
                                "the server sent an entry without a valid Sync State control"
                                    .into(),
                            )
                        })?;
                    let (dn, attrs) = super::search::decode(raw.0)
                        .ok_or_else(|| fail(super::search::MALFORMED.to_owned()))?;
                    if matches!(state.state, State::Add | State::Modify)
                        && attrs
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case("objectClass"))
                            .is_some_and(|(_, classes)| super::is_container(classes))
                    {
                        refresh.container = true;
                    }
                    match state.state {
                        State::Present => {
                            refresh.present().insert(state.uuid);
                        }
                        _ if refresh.changed.len() + refresh.deleted.len() >= MAX_CHANGES => {
                            refresh.too_many = true;
                        }
                        State::Add | State::Modify => refresh.changed.push((dn, state.uuid)),
                        State::Delete => refresh.deleted.push(state.uuid),
                    }
                }
                if refresh.counted() as u64 > max {
                    return Err(fail(format!(
                        "the sync refresh named more than {max} entries (max_entries); if the \
                         directory really is that large, raise max_entries in this [[source]]"
                    )));
                }
            }
            let result = stream.finish().await;
            Ok((refresh, result))
        };
        let (mut refresh, result) = rt.block_on(async {
            ldap3::tokio::time::timeout_at(deadline, work)
                .await
                .unwrap_or_else(|_| {
                    Err(fail(
                        "the sync refresh took longer than read_timeout".into(),
                    ))
                })
        })?;
        if result.rc == REFRESH_REQUIRED {
            return Ok(None);
        }
        if refresh.container {
            tracing::info!(
                "{url}: an OU or container in {context} changed (it may have moved the entries \
                 in it, which are not named as changed); reading in full"
            );
            return Ok(None);
        }
        if refresh.too_many {
            tracing::info!(
                "{url}: the sync refresh of {context} named more than {MAX_CHANGES} changed \
                 entries; reading in full costs less"
            );
            return Ok(None);
        }
        // sizeLimitExceeded: more changes than the account may read in one search (a paged
        // full read is not held to that).
        if result.rc == 4 {
            tracing::warn!(
                "{url}: the sync refresh of {context} stopped at the server's size limit; reading \
                 in full (to read large changes incrementally, let the bind account search \
                 without a size limit: OpenLDAP `limits dn.exact=\"BIND_DN\" size=unlimited`)"
            );
            return Ok(None);
        }
        if result.rc != 0 {
            return Err(fail(format!(
                "the sync refresh ended with {}",
                super::describe_result(result.rc, &result.text)
            )));
        }
        let done = result
            .ctrls
            .iter()
            .find(|c| c.1.ctype == message::DONE)
            .map(|c| message::done(c.1.val.as_deref().unwrap_or_default()))
            .ok_or_else(|| fail("the sync refresh ended without a Sync Done control".into()))?
            .ok_or_else(|| {
                fail("the sync refresh ended with a malformed Sync Done control".into())
            })?;
        if let Some(cookie) = done.cookie {
            refresh.cookie = cookie;
        }
        // refreshDeletes FALSE: the refresh was a present phase, and what it did not name
        // is gone (RFC 4533 3.4.1), even when it named nothing.
        if !done.deletes {
            refresh.present();
        }
        if refresh.cookie.is_empty() {
            return Err(fail("the sync refresh gave no cookie to go on from".into()));
        }
        Ok(Some(refresh))
    }
}

/// The naming context `base` is in: the longest of the rootDSE's `namingContexts` that ends
/// it (`root` read with that attribute).
pub(super) fn naming_context<'r>(root: &'r SearchEntry, base: &str) -> Option<&'r str> {
    root.attrs
        .get("namingContexts")
        .into_iter()
        .flatten()
        .filter(|nc| under(base, nc))
        .max_by_key(|nc| nc.len())
        .map(String::as_str)
}

/// Whether `dn` is `base` or below it (DNs compared case-insensitively, as AD and the
/// test directories write them; both come from the server).
pub fn under(dn: &str, base: &str) -> bool {
    let (dn, base) = (dn.to_ascii_lowercase(), base.to_ascii_lowercase());
    dn == base
        || dn
            .strip_suffix(&base)
            .is_some_and(|rest| rest.ends_with(','))
}

/// Takes in a Sync Info message.
fn note(refresh: &mut Refresh, info: Info) {
    match info {
        Info::NewCookie(cookie) => refresh.cookie = cookie,
        Info::PhaseEnd { present, cookie } => {
            if present {
                refresh.present();
            }
            if let Some(cookie) = cookie {
                refresh.cookie = cookie;
            }
        }
        Info::IdSet {
            cookie,
            deletes,
            uuids,
        } => {
            if deletes {
                let room =
                    MAX_CHANGES.saturating_sub(refresh.changed.len() + refresh.deleted.len());
                refresh.too_many |= uuids.len() > room;
                refresh.deleted.extend(uuids.into_iter().take(room));
            } else {
                refresh.present().extend(uuids);
            }
            if let Some(cookie) = cookie {
                refresh.cookie = cookie;
            }
        }
    }
}

/// The Sync Info message an IntermediateResponse carries; None for anything else.
fn intermediate(tag: &StructureTag) -> Option<Info> {
    let PL::C(parts) = &tag.payload else {
        return None;
    };
    let part = |id: u64| {
        parts.iter().find_map(|p| match &p.payload {
            PL::P(bytes) if p.id == id => Some(bytes.as_slice()),
            _ => None,
        })
    };
    if part(0)? != message::INFO.as_bytes() {
        return None;
    }
    message::info(part(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_compares_whole_rdns() {
        assert!(under(
            "CN=a,OU=Staff,DC=example,DC=com",
            "ou=staff,dc=example,dc=com"
        ));
        assert!(under("DC=example,DC=com", "DC=example,DC=com"));
        assert!(!under(
            "CN=a,OU=OldStaff,DC=example,DC=com",
            "OU=Staff,DC=example,DC=com"
        ));
        assert!(!under("DC=com", "DC=example,DC=com"));
    }
}
