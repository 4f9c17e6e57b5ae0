//! Reading what changed on Active Directory, as Microsoft documents it ("Polling for Changes
//! Using the USNChanged Attribute"): remember the DC and its `highestCommittedUSN` before a
//! read; next time, search the naming context for `(uSNChanged>=N+1)` with the Show Deleted
//! control, which brings the objects changed since (only their `objectGUID`, DN and
//! `isDeleted`), tombstones and objects moved out of the base included. A USN counts on one
//! DC only: the DC (`dsServiceName`) and its database (`invocationId`, which a restore from
//! backup changes) are the feed's identity, and another one means a full read.
//!
//! Deletions are seen only by an account that may list the Deleted Objects container; any
//! other account gets an empty, successful answer, and would miss them silently. So the feed
//! is offered only when the account sees a tombstone there ([`Connection::sees_deleted`]).

use ldap3::controls::RawControl;
use ldap3::{Scope, SearchOptions};

use super::{Connection, Error, failure, self_error};

/// The Show Deleted control (LDAP_SERVER_SHOW_DELETED_OID).
pub(super) const SHOW_DELETED: &str = "1.2.840.113556.1.4.417";
/// AD's capability OID (LDAP_CAP_ACTIVE_DIRECTORY_OID), which Samba announces too.
const ACTIVE_DIRECTORY: &str = "1.2.840.113556.1.4.800";
/// The well-known GUID of the Deleted Objects container.
const DELETED_OBJECTS: &str = "18e2ea80684f11d2b9aa00c04f79f805";

/// The feed of one DC.
#[derive(Debug, Clone)]
pub struct Usn {
    /// The naming context the base is in, which the changes are searched in.
    pub context: String,
    /// The DC and its database: `dsServiceName invocationId context`.
    pub identity: String,
}

/// One changed object.
#[derive(Debug, Clone)]
pub struct Changed {
    /// Its DN now.
    pub dn: String,
    /// Its objectGUID, in hex.
    pub guid: String,
    /// It is a tombstone.
    pub deleted: bool,
    /// It can hold other objects ([`super::is_container`]).
    pub container: bool,
}

fn show_deleted() -> RawControl {
    RawControl {
        ctype: SHOW_DELETED.to_owned(),
        crit: true,
        val: None,
    }
}

impl Connection {
    /// The feed for `base` when the server is Active Directory; None otherwise.
    pub fn usn_feed(&mut self, base: &str) -> Result<Option<Usn>, Error> {
        let root = self.read_base(
            "",
            &["supportedCapabilities", "namingContexts", "dsServiceName"],
        )?;
        let is_ad = root
            .attrs
            .get("supportedCapabilities")
            .is_some_and(|v| v.iter().any(|o| o == ACTIVE_DIRECTORY));
        let service = root.attrs.get("dsServiceName").and_then(|v| v.first());
        let context = super::sync::naming_context(&root, base);
        let (Some(service), Some(context)) = (service.filter(|_| is_ad), context) else {
            return Ok(None);
        };
        let (service, context) = (service.clone(), context.to_owned());
        let invocation = self.invocation_id(&service)?;
        Ok(Some(Usn {
            identity: format!("{service} {invocation} {context}"),
            context,
        }))
    }

    /// Whether the bind account sees a deleted object in the Deleted Objects container of
    /// `context`: an account without the right gets an empty answer, exactly as if there
    /// were none, so only a tombstone seen proves it (a directory where nothing was ever
    /// deleted reads in full until something is).
    pub fn sees_deleted(&mut self, context: &str) -> Result<bool, Error> {
        let container = format!("<WKGUID={DELETED_OBJECTS},{context}>");
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            deadline,
            ..
        } = self;
        let (url, deadline) = (url.as_str(), *deadline);
        let work = async {
            let found = ldap
                .with_controls(vec![show_deleted()])
                .with_search_options(SearchOptions::new().sizelimit(1))
                .with_timeout(*timeout)
                .search(
                    &container,
                    Scope::OneLevel,
                    "(isDeleted=TRUE)",
                    vec!["objectGUID"],
                )
                .await
                .map_err(|e| self_error(url, &container, &e))?;
            match found.1.rc {
                // success, or sizeLimitExceeded after the one entry asked for
                0 | 4 => Ok(!found.0.is_empty()),
                // noSuchObject, insufficientAccessRights: not for this account
                32 | 50 => Ok(false),
                _ => Err(failure(
                    url,
                    &container,
                    super::describe_result(found.1.rc, &found.1.text),
                )),
            }
        };
        let result = rt.block_on(async {
            ldap3::tokio::time::timeout_at(deadline, work)
                .await
                .unwrap_or_else(|_| {
                    Err(failure(
                        url,
                        "",
                        "the read took longer than read_timeout".to_owned(),
                    ))
                })
        });
        result.map_err(|e| self.explain(e))
    }

    /// The DC's `highestCommittedUSN`: the cursor of the next read of changes.
    pub fn highest_usn(&mut self) -> Result<u64, Error> {
        let root = self.read_base("", &["highestCommittedUSN"])?;
        root.attrs
            .get("highestCommittedUSN")
            .and_then(|v| v.first())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                super::failure(
                    self.url(),
                    "",
                    "the rootDSE has no highestCommittedUSN".to_owned(),
                )
            })
    }

    /// Every object of `context` changed after `usn`, tombstones included; None when there
    /// are more than [`super::MAX_CHANGES`] (a full read then costs less).
    pub fn changed_since(
        &mut self,
        context: &str,
        usn: u64,
        page_size: i32,
    ) -> Result<Option<Vec<Changed>>, Error> {
        let filter = format!("(uSNChanged>={})", usn.saturating_add(1));
        let mut changed = Vec::new();
        let mut too_many = false;
        self.search_with(
            context,
            &filter,
            &["objectGUID", "isDeleted", "objectClass"],
            page_size,
            &[show_deleted()],
            |dn, attrs| {
                let value = |name: &str| {
                    attrs
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .and_then(|(_, v)| v.first())
                };
                too_many |= changed.len() >= super::MAX_CHANGES;
                if let Some(guid) = value("objectGUID").filter(|_| !too_many) {
                    changed.push(Changed {
                        guid: guid.clone(),
                        deleted: value("isDeleted").is_some_and(|v| v.eq_ignore_ascii_case("TRUE")),
                        container: attrs
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case("objectClass"))
                            .is_some_and(|(_, classes)| super::is_container(classes)),
                        dn,
                    });
                }
            },
        )?;
        Ok((!too_many).then_some(changed))
    }
}
