//! The listings and delta rounds: users, mail-enabled groups and org contacts, each with
//! `$select` (Graph returns `proxyAddresses` only when it is selected) and `$top=999`, pages
//! followed through `@odata.nextLink` until there is none; delta rounds until the
//! `@odata.deltaLink`. Every chain is checked: a link that repeats, is longer than
//! [`MAX_LINK`], leaves `graph_url` or goes on past [`MAX_PAGES`] fails the read. A chain
//! remembers the SHA-256 of each link it followed, not the link: 32 bytes a page, where whole
//! links cost some 70 MB after 1,000 pages.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Deserialize;
use sha2::Digest as _;
use tracing::{info, warn};

use super::http::Reply;
use super::page::{self, Link, Object};
use super::{Client, DeltaLinks, Error, MAX_LINK, MAX_PAGES, said, shown};
use crate::rules::Entry;

/// One collection Graph lists.
pub(super) struct Collection {
    /// Its name in URLs and in the state file.
    pub(super) name: &'static str,
    /// What an object is called in messages (`graph user <id>`).
    label: &'static str,
    /// The listing's path and query.
    listing: &'static str,
    /// The delta function's path and query (`$select` goes in the first request only; Graph
    /// keeps it in the links).
    pub(super) delta: &'static str,
    /// The query of a read of one object by id.
    pub(super) one: &'static str,
    /// The application permission that reading it needs.
    permission: &'static str,
}

const USERS: Collection = Collection {
    name: "users",
    label: "user",
    listing: "/v1.0/users?$select=id,userPrincipalName,proxyAddresses,accountEnabled,userType&$top=999",
    delta: "/v1.0/users/delta?$select=id,userPrincipalName,proxyAddresses,accountEnabled,userType",
    one: "$select=id,userPrincipalName,proxyAddresses,accountEnabled,userType",
    permission: "User.Read.All",
};

const GROUPS: Collection = Collection {
    name: "groups",
    label: "group",
    listing: "/v1.0/groups?$filter=mailEnabled%20eq%20true&$select=id,proxyAddresses&$top=999",
    // The delta function has no $filter on mailEnabled: it tracks the property instead.
    delta: "/v1.0/groups/delta?$select=id,proxyAddresses,mailEnabled",
    one: "$select=id,proxyAddresses,mailEnabled",
    permission: "Group.Read.All",
};

const CONTACTS: Collection = Collection {
    name: "contacts",
    label: "contact",
    listing: "/v1.0/contacts?$select=id,proxyAddresses&$top=999",
    delta: "/v1.0/contacts/delta?$select=id,proxyAddresses",
    one: "$select=id,proxyAddresses",
    permission: "OrgContact.Read.All",
};

const DOMAINS: Collection = Collection {
    name: "domains",
    label: "domain",
    listing: "/v1.0/domains?$select=id,isVerified,supportedServices",
    delta: "",
    one: "",
    permission: "Domain.Read.All",
};

/// An object's key in the store: its collection and id (ids are unique in a tenant, but
/// the collection says what it is).
pub(super) fn key(collection: &Collection, id: &str) -> String {
    format!("{}/{id}", collection.name)
}

/// The collections recipients come from, in the order they are read.
pub(super) const RECIPIENTS: [&Collection; 3] = [&USERS, &GROUPS, &CONTACTS];

/// The entry beside the deltaLinks that holds the digest of the accepted domains read with
/// the listing, when `domains = "exchange"` reads them from this tenant.
pub(super) const DOMAINS_KEY: &str = "domains";

/// How a chain of pages ended.
pub(super) enum End {
    /// With this deltaLink (None for a listing).
    Done(Option<String>),
    /// With HTTP 410 on a delta round.
    Gone,
}

impl Client {
    /// GET with the token, asking for a new token once if Graph says it expired.
    pub(super) fn get(&mut self, url: &str) -> Result<Reply, Error> {
        let token = self.auth.token(&self.http)?;
        let reply = self.http.get(url, token)?;
        if reply.status != 401 {
            return Ok(reply);
        }
        self.auth.forget();
        let token = self.auth.token(&self.http)?;
        self.http.get(url, token)
    }

    /// Follows the chain of pages from `first`, calling `each` for every object as its page is
    /// parsed (a page is never held as objects, only as its body).
    pub(super) fn pages(
        &mut self,
        first: String,
        collection: &Collection,
        delta: bool,
        mut each: impl FnMut(Object),
    ) -> Result<End, Error> {
        let mut seen: HashSet<[u8; 32]> = HashSet::new();
        let mut url = first;
        for _ in 0..MAX_PAGES {
            let reply = self.get(&url)?;
            if delta && reply.status == 410 {
                return Ok(End::Gone);
            }
            if reply.status != 200 {
                return Err(self
                    .http
                    .error(&url, refusal(&reply, collection, self.http.tenant())));
            }
            let links = page::read(&reply.body, &mut each).map_err(|e| {
                self.http.error(
                    &url,
                    format!("the answer is not a Graph page ({})", cut(&e.to_string())),
                )
            })?;
            drop(reply);
            if !links.has_value {
                return Err(self
                    .http
                    .error(&url, "the answer has no \"value\" list of objects"));
            }
            seen.insert(digest(&url));
            let link = |name: &str, link: Link| match link {
                Link::Absent => Ok(None),
                Link::Text(link) if link.len() > MAX_LINK => Err(self.http.error(
                    &url,
                    format!(
                        "the answer's {name} is {} bytes long; Graph's links are far shorter (at \
                         most {MAX_LINK} are accepted), so the listing cannot be complete",
                        link.len()
                    ),
                )),
                Link::Text(link) => {
                    self.http.check_origin(&link)?;
                    Ok(Some(link))
                }
                Link::NotText => Err(self.http.error(
                    &url,
                    format!("the answer's {name} is not a link; the listing cannot be complete"),
                )),
            };
            if let Some(next) = link("@odata.nextLink", links.next)? {
                if seen.contains(&digest(&next)) {
                    return Err(self.http.error(
                        &next,
                        "the server sent a nextLink that was already read; the paging loops, so the \
                         listing cannot be complete",
                    ));
                }
                url = next;
                continue;
            }
            let link = link("@odata.deltaLink", links.delta)?;
            if delta && link.is_none() {
                return Err(self
                    .http
                    .error(&url, "the delta round ended without a deltaLink"));
            }
            return Ok(End::Done(link));
        }
        Err(self.http.error(
            &url,
            format!(
                "more than {MAX_PAGES} pages; the listing does not end, so it cannot be complete"
            ),
        ))
    }

    /// The current deltaLink of each collection, without its objects (`$deltatoken=latest`).
    /// A collection whose link cannot be had only costs the next run its shortcut.
    pub fn latest_links(&mut self) -> DeltaLinks {
        let mut links = DeltaLinks::new();
        for collection in RECIPIENTS {
            let url = format!(
                "{}{}&$deltatoken=latest",
                self.http.origin(),
                collection.delta
            );
            match self.pages(url, collection, true, |_| {}) {
                Ok(End::Done(Some(link))) => {
                    links.insert(collection.name.to_owned(), link);
                }
                Ok(_) => warn!(
                    tenant = %self.http.tenant(),
                    "no deltaLink for {}; the next run reads in full",
                    collection.name
                ),
                Err(e) => warn!(
                    "no deltaLink for {} ({e}); the next run reads in full",
                    collection.name
                ),
            }
        }
        links
    }

    /// Reads every recipient of the tenant, calling `each` for each object (with its key,
    /// `COLLECTION/ID`); returns the deltaLinks taken just before the listing (`links`, when
    /// the caller took them already), so that a change made during it shows next time.
    pub fn read(
        &mut self,
        links: Option<DeltaLinks>,
        each: impl FnMut(&str, &Entry),
    ) -> Result<DeltaLinks, Error> {
        self.read_inner(links, each)
            .map_err(|e| Error::Incomplete(Box::new(e)))
    }

    fn read_inner(
        &mut self,
        links: Option<DeltaLinks>,
        mut each: impl FnMut(&str, &Entry),
    ) -> Result<DeltaLinks, Error> {
        self.http.restart_deadline();
        let links = links.unwrap_or_else(|| self.latest_links());
        let (mut guests, mut disabled) = (0usize, 0usize);
        for collection in RECIPIENTS {
            let mut count = 0usize;
            let url = format!("{}{}", self.http.origin(), collection.listing);
            self.pages(url, collection, false, |object| {
                if collection.name == "users" {
                    if object.user_type.as_deref() == Some("Guest") {
                        guests += 1;
                        return;
                    }
                    disabled += usize::from(object.account_enabled == Some(false));
                }
                count += 1;
                let key = key(collection, object.id.as_deref().unwrap_or_default());
                each(&key, &entry(collection, object));
            })?;
            info!(tenant = %self.http.tenant(), "read {count} {}", collection.name);
        }
        info!(
            tenant = %self.http.tenant(),
            "{guests} guests not exported; {disabled} disabled users kept (shared mailboxes are disabled users)"
        );
        let mut links = links;
        if let Some(domains) = &self.domains {
            links.insert(DOMAINS_KEY.to_owned(), domains.clone());
        }
        Ok(links)
    }

    /// For `check --connect`: the first page of one object of each collection (`$top=1`),
    /// which proves the token and each application permission; what each page held.
    pub fn probe(&mut self) -> Result<Vec<String>, Error> {
        self.http.restart_deadline();
        let mut found = Vec::new();
        for collection in RECIPIENTS {
            let url = format!(
                "{}{}",
                self.http.origin(),
                collection.listing.replace("$top=999", "$top=1")
            );
            let reply = self.get(&url)?;
            if reply.status != 200 {
                return Err(self
                    .http
                    .error(&url, refusal(&reply, collection, self.http.tenant())));
            }
            let mut objects = 0usize;
            page::read(&reply.body, &mut |_| objects += 1).map_err(|e| {
                self.http
                    .error(&url, format!("the reply is not a Graph page: {e}"))
            })?;
            found.push(format!(
                "{} readable ({}){}",
                collection.name,
                collection.permission,
                if objects == 0 { "; none there" } else { "" }
            ));
        }
        Ok(found)
    }

    /// The tenant's verified domains that support Email: what `domains = "exchange"` means
    /// for a Graph source.
    pub fn accepted_domains(&mut self) -> Result<Vec<String>, Error> {
        let domains = self.domains().map_err(|e| Error::Incomplete(Box::new(e)))?;
        self.domains = Some(format!(
            "sha256:{}",
            crate::map::digest::sha256_hex(domains.join("\n").as_bytes())
        ));
        Ok(domains)
    }

    fn domains(&mut self) -> Result<Vec<String>, Error> {
        let url = format!("{}{}", self.http.origin(), DOMAINS.listing);
        let mut domains = Vec::new();
        let mut other = Vec::new();
        self.pages(url.clone(), &DOMAINS, false, |domain| {
            let name = domain.id.unwrap_or_default().to_ascii_lowercase();
            let verified = domain.is_verified == Some(true);
            let email = domain.supported_services.0.iter().any(|s| s == "Email");
            if crate::rules::address::normalize_domain(&name).is_err() {
                warn!(
                    "tenant domain {} is not a domain name; ignored",
                    crate::rules::address::quote(&name)
                );
            } else if verified && email {
                domains.push(name);
            } else {
                other.push(name);
            }
        })?;
        if domains.is_empty() {
            return Err(self.http.error(
                &url,
                "no verified domain with the Email service; list the domains in recipients.domains instead",
            ));
        }
        domains.sort();
        domains.dedup();
        info!(
            "accepted domains from the tenant: {} (not for mail or not verified: {})",
            domains.join(", "),
            other.join(", ")
        );
        Ok(domains)
    }
}

/// The SHA-256 of a link: what a chain remembers of the links it followed.
fn digest(link: &str) -> [u8; 32] {
    sha2::Sha256::digest(link.as_bytes()).into()
}

/// A parser's message cut to a few hundred characters: serde_json quotes the value it
/// stumbled on, and that value can be as long as the page.
fn cut(message: &str) -> String {
    const KEPT: usize = 300;
    match message.char_indices().nth(KEPT) {
        Some((at, _)) => format!("{}... ({} bytes)", &message[..at], message.len()),
        None => message.to_owned(),
    }
}

/// The recipient rules' view of one Graph object, named by kind, id and UPN so that a rejected
/// value points at the object to fix. The id and UPN are the tenant's: [`shown`] quotes them
/// when they are not plain, so that a newline in one cannot forge a line of the cron mail.
pub(super) fn entry(collection: &Collection, object: Object) -> Entry {
    let id = object.id.as_deref().map_or(Cow::Borrowed("(no id)"), shown);
    let dn = match object.user_principal_name.as_deref() {
        Some(upn) => format!("graph {} {id} ({})", collection.label, shown(upn)),
        None => format!("graph {} {id}", collection.label),
    };
    Entry {
        dn,
        proxy_addresses: object.proxy_addresses.0,
        ..Entry::default()
    }
}

/// Graph's error JSON: `{"error": {"code": ..., "message": ...}}`, and nothing else of it.
#[derive(Debug, Default, Deserialize)]
struct ErrorAnswer {
    error: Option<GraphError>,
}

#[derive(Debug, Default, Deserialize)]
struct GraphError {
    code: Option<String>,
    message: Option<String>,
}

/// Graph's refusal as a sentence: status, Graph's error code and message (quoted where they are
/// not plain: they are the tenant's words), and the fix.
pub(super) fn refusal(reply: &Reply, collection: &Collection, tenant: &str) -> String {
    let error = reply
        .json::<ErrorAnswer>()
        .and_then(|a| a.error)
        .unwrap_or_default();
    let code = error.code.as_deref().unwrap_or_default();
    let fix = match (reply.status, code) {
        (403, _) | (_, "Authorization_RequestDenied") => format!(
            "grant the application permission {} (type Application, not Delegated) and admin \
             consent: App registrations > API permissions > Add a permission > Microsoft Graph > \
             Application permissions, then \"Grant admin consent\"",
            collection.permission
        ),
        (401, _) | (_, "InvalidAuthenticationToken") => format!(
            "Graph refused the token: check that the app registration is in tenant {tenant} and \
             that authority and graph_url are the same cloud"
        ),
        (404, _) => "check graph_url (Graph's address, without a path)".to_owned(),
        (410, _) => "the delta token expired".to_owned(),
        (s, _) if s >= 500 => "Graph failed; the next run tries again".to_owned(),
        _ => "Graph refused the request".to_owned(),
    };
    let code = error
        .code
        .as_deref()
        .map_or(Cow::Borrowed("no error code"), shown);
    let message = error.message.as_deref().map(said).unwrap_or_default();
    format!("HTTP {} {code}: {message}; {fix}", reply.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: serde_json::Value) -> Object {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn objects_are_named_by_kind_id_and_upn_and_keep_odd_values_visible() {
        let user = object(json!({"id": "u1", "userPrincipalName": "a@contoso.com",
            "proxyAddresses": ["SMTP:a@contoso.com", 7]}));
        let e = entry(&USERS, user);
        assert_eq!(e.dn, "graph user u1 (a@contoso.com)");
        assert_eq!(e.proxy_addresses, ["SMTP:a@contoso.com", "7"]);
        let group = entry(&GROUPS, object(json!({"id": "g1"})));
        assert_eq!(group.dn, "graph group g1");
        assert!(group.proxy_addresses.is_empty());
        assert_eq!(
            entry(&CONTACTS, Object::default()).dn,
            "graph contact (no id)"
        );
    }

    #[test]
    fn an_id_or_upn_that_is_not_plain_is_quoted_and_escaped() {
        let user = object(json!({"id": "u1\nrcptsync: error: forged",
            "userPrincipalName": "a\u{1b}[31m (b@contoso.com)"}));
        assert_eq!(
            entry(&USERS, user).dn,
            r#"graph user "u1\nrcptsync: error: forged" ("a\u{1b}[31m (b@contoso.com)")"#
        );
        // A name cannot pose as a quoted one, nor flood a line.
        let user = object(json!({"id": "\"x\"", "userPrincipalName": "y".repeat(300)}));
        let dn = entry(&USERS, user).dn;
        assert!(dn.starts_with(r#"graph user "\"x\"" ("yyy"#), "{dn}");
        assert!(dn.ends_with("yyy\"... (300 bytes))"), "{dn}");
    }

    #[test]
    fn refusals_name_the_code_and_the_permission_to_grant() {
        let reply = Reply {
            status: 403,
            body: json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges."}})
                .to_string()
                .into_bytes(),
        };
        let text = refusal(&reply, &CONTACTS, "contoso.onmicrosoft.com");
        assert!(
            text.starts_with("HTTP 403 Authorization_RequestDenied: \"Insufficient privileges.\"; grant the application permission OrgContact.Read.All"),
            "{text}"
        );
        let reply = Reply {
            status: 401,
            body: b"<html>".to_vec(),
        };
        let text = refusal(&reply, &USERS, "contoso.onmicrosoft.com");
        assert!(
            text.contains("no error code") && text.contains("tenant contoso.onmicrosoft.com"),
            "{text}"
        );
    }

    #[test]
    fn graphs_code_and_message_cannot_forge_lines() {
        let reply = Reply {
            status: 500,
            body: json!({"error": {"code": "x\nrcptsync: error: forged", "message": format!("m\u{1b}[31m\r{}", "z".repeat(1000))}})
                .to_string()
                .into_bytes(),
        };
        let text = refusal(&reply, &USERS, "t");
        assert!(
            text.starts_with(r#"HTTP 500 "x\nrcptsync: error: forged": "m\u{1b}[31m\rzzz"#),
            "{text}"
        );
        assert!(
            text.contains("zzz\"... (1007 bytes); Graph failed"),
            "{text}"
        );
        assert!(!text.contains(['\n', '\r', '\u{1b}']), "{text}");
    }

    #[test]
    fn a_parsers_message_is_cut() {
        assert_eq!(cut("short"), "short");
        let long = format!("invalid type: string \"{}\"", "x".repeat(1000));
        let kept = cut(&long);
        assert!(
            kept.ends_with(&format!("... ({} bytes)", long.len())),
            "{kept}"
        );
        assert!(kept.len() < 330, "{kept}");
    }
}
