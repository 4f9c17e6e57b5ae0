//! The listings and delta rounds: users, mail-enabled groups and org contacts, each with
//! `$select` (Graph returns `proxyAddresses` only when it is selected) and `$top=999`, pages
//! followed through `@odata.nextLink` until there is none; delta rounds until the
//! `@odata.deltaLink`. Every chain is checked: a link that repeats, leaves `graph_url` or goes
//! on past [`MAX_PAGES`] fails the read.

use std::collections::HashSet;

use serde_json::Value;
use tracing::{info, warn};

use super::http::Reply;
use super::{Client, DeltaLinks, Error, MAX_PAGES};
use crate::source::Entry;

/// One collection Graph lists.
struct Collection {
    /// Its name in URLs and in the state file.
    name: &'static str,
    /// What an object is called in messages (`graph user <id>`).
    label: &'static str,
    /// The listing's path and query.
    listing: &'static str,
    /// The delta function's path and query (`$select` goes in the first request only; Graph
    /// keeps it in the links).
    delta: &'static str,
    /// The application permission that reading it needs.
    permission: &'static str,
}

const USERS: Collection = Collection {
    name: "users",
    label: "user",
    listing: "/v1.0/users?$select=id,userPrincipalName,proxyAddresses,accountEnabled,userType&$top=999",
    delta: "/v1.0/users/delta?$select=id,userPrincipalName,proxyAddresses,accountEnabled,userType",
    permission: "User.Read.All",
};

const GROUPS: Collection = Collection {
    name: "groups",
    label: "group",
    listing: "/v1.0/groups?$filter=mailEnabled%20eq%20true&$select=id,proxyAddresses&$top=999",
    // The delta function has no $filter on mailEnabled: it tracks the property instead.
    delta: "/v1.0/groups/delta?$select=id,proxyAddresses,mailEnabled",
    permission: "Group.Read.All",
};

const CONTACTS: Collection = Collection {
    name: "contacts",
    label: "contact",
    listing: "/v1.0/contacts?$select=id,proxyAddresses&$top=999",
    delta: "/v1.0/contacts/delta?$select=id,proxyAddresses",
    permission: "OrgContact.Read.All",
};

const DOMAINS: Collection = Collection {
    name: "domains",
    label: "domain",
    listing: "/v1.0/domains?$select=id,isVerified,supportedServices",
    delta: "",
    permission: "Domain.Read.All",
};

/// The collections recipients come from, in the order they are read.
const RECIPIENTS: [&Collection; 3] = [&USERS, &GROUPS, &CONTACTS];

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

/// How a chain of pages ended.
enum End {
    /// With this deltaLink (None for a listing).
    Done(Option<String>),
    /// With HTTP 410 on a delta round.
    Gone,
}

impl Client {
    /// GET with the token, asking for a new token once if Graph says it expired.
    fn get(&mut self, url: &str) -> Result<Reply, Error> {
        let token = self.auth.token(&self.http)?;
        let reply = self.http.get(url, token)?;
        if reply.status != 401 {
            return Ok(reply);
        }
        self.auth.forget();
        let token = self.auth.token(&self.http)?;
        self.http.get(url, token)
    }

    /// Follows the chain of pages from `first`, calling `each` for every object.
    fn pages(
        &mut self,
        first: String,
        collection: &Collection,
        delta: bool,
        mut each: impl FnMut(&Value),
    ) -> Result<End, Error> {
        let mut seen = HashSet::new();
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
            let Some(objects) = reply.body["value"].as_array() else {
                return Err(self
                    .http
                    .error(&url, "the answer has no \"value\" list of objects"));
            };
            objects.iter().for_each(&mut each);
            seen.insert(url.clone());
            if let Some(next) = reply.body["@odata.nextLink"].as_str() {
                if seen.contains(next) {
                    return Err(self.http.error(
                        next,
                        "the server sent a nextLink that was already read; the paging loops, so the \
                         listing cannot be complete",
                    ));
                }
                next.clone_into(&mut url);
                continue;
            }
            let link = reply.body["@odata.deltaLink"].as_str().map(str::to_owned);
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

    /// Replays the saved deltaLinks: [`Delta::Unchanged`] only when every round returned
    /// nothing.
    pub fn changes(&mut self, links: &DeltaLinks) -> Result<Delta, Error> {
        for collection in RECIPIENTS {
            let Some(link) = links.get(collection.name) else {
                return Ok(Delta::Changed(collection.name));
            };
            let mut changed = 0usize;
            match self.pages(link.clone(), collection, true, |_| changed += 1)? {
                End::Gone => return Ok(Delta::Expired),
                End::Done(_) if changed > 0 => return Ok(Delta::Changed(collection.name)),
                End::Done(_) => {}
            }
        }
        Ok(Delta::Unchanged)
    }

    /// The current deltaLink of each collection, without its objects (`$deltatoken=latest`).
    /// A collection whose link cannot be had only costs the next run its shortcut.
    fn latest_links(&mut self) -> DeltaLinks {
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

    /// Reads every recipient of the tenant, calling `each` for each object; returns the
    /// deltaLinks taken just before the listing, so that a change made during it shows next
    /// time.
    pub fn read(&mut self, each: impl FnMut(&Entry)) -> Result<DeltaLinks, Error> {
        self.read_inner(each)
            .map_err(|e| Error::Incomplete(Box::new(e)))
    }

    fn read_inner(&mut self, mut each: impl FnMut(&Entry)) -> Result<DeltaLinks, Error> {
        let links = self.latest_links();
        let (mut guests, mut disabled) = (0usize, 0usize);
        for collection in RECIPIENTS {
            let mut count = 0usize;
            let url = format!("{}{}", self.http.origin(), collection.listing);
            self.pages(url, collection, false, |object| {
                if collection.name == "users" {
                    if object["userType"].as_str() == Some("Guest") {
                        guests += 1;
                        return;
                    }
                    disabled += usize::from(object["accountEnabled"] == Value::Bool(false));
                }
                count += 1;
                each(&entry(collection, object));
            })?;
            info!(tenant = %self.http.tenant(), "read {count} {}", collection.name);
        }
        info!(
            tenant = %self.http.tenant(),
            "{guests} guests not exported; {disabled} disabled users kept (shared mailboxes are disabled users)"
        );
        Ok(links)
    }

    /// The tenant's verified domains that support Email: what `domains = "exchange"` means
    /// for a Graph source.
    pub fn accepted_domains(&mut self) -> Result<Vec<String>, Error> {
        self.domains().map_err(|e| Error::Incomplete(Box::new(e)))
    }

    fn domains(&mut self) -> Result<Vec<String>, Error> {
        let url = format!("{}{}", self.http.origin(), DOMAINS.listing);
        let mut domains = Vec::new();
        let mut other = Vec::new();
        self.pages(url.clone(), &DOMAINS, false, |domain| {
            let name = domain["id"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let verified = domain["isVerified"] == Value::Bool(true);
            let email = domain["supportedServices"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s.as_str() == Some("Email")));
            if crate::rules::address::normalize(&format!("x@{name}")).is_err() {
                warn!("tenant domain {name:?} is not a domain name; ignored");
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

/// The recipient rules' view of one Graph object.
fn entry(collection: &Collection, object: &Value) -> Entry {
    let id = object["id"].as_str().unwrap_or("(no id)");
    let dn = match object["userPrincipalName"].as_str() {
        Some(upn) => format!("graph {} {id} ({upn})", collection.label),
        None => format!("graph {} {id}", collection.label),
    };
    let proxy_addresses = object["proxyAddresses"]
        .as_array()
        .map(|values| {
            values
                .iter()
                // A value that is not a string is kept visibly, for the validator to reject.
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Entry {
        dn,
        proxy_addresses,
        ..Entry::default()
    }
}

/// Graph's refusal as a sentence: status, Graph's error code and message, and the fix.
fn refusal(reply: &Reply, collection: &Collection, tenant: &str) -> String {
    let code = reply.body["error"]["code"]
        .as_str()
        .unwrap_or("no error code");
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
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
    format!("HTTP {} {code}: {message}; {fix}", reply.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_named_by_kind_id_and_upn_and_keep_odd_values_visible() {
        let user = json!({"id": "u1", "userPrincipalName": "a@contoso.com",
            "proxyAddresses": ["SMTP:a@contoso.com", 7]});
        let e = entry(&USERS, &user);
        assert_eq!(e.dn, "graph user u1 (a@contoso.com)");
        assert_eq!(e.proxy_addresses, ["SMTP:a@contoso.com", "7"]);
        let group = entry(&GROUPS, &json!({"id": "g1"}));
        assert_eq!(group.dn, "graph group g1");
        assert!(group.proxy_addresses.is_empty());
    }

    #[test]
    fn refusals_name_the_code_and_the_permission_to_grant() {
        let reply = Reply {
            status: 403,
            body: json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges."}}),
        };
        let text = refusal(&reply, &CONTACTS, "contoso.onmicrosoft.com");
        assert!(
            text.starts_with("HTTP 403 Authorization_RequestDenied: Insufficient privileges.; grant the application permission OrgContact.Read.All"),
            "{text}"
        );
        let reply = Reply {
            status: 401,
            body: serde_json::Value::Null,
        };
        let text = refusal(&reply, &USERS, "contoso.onmicrosoft.com");
        assert!(
            text.contains("no error code") && text.contains("tenant contoso.onmicrosoft.com"),
            "{text}"
        );
    }
}
