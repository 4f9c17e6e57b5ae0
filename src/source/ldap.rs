//! `kind = "ldap"`: a live directory (Active Directory, Samba AD, OpenLDAP) over LDAP/LDAPS.
//!
//! Servers are tried in order; one that refuses the connection, times out or rejects the bind
//! is logged with its reason and the next one is tried. Once a server has answered the bind,
//! the search runs there to the end: a failure after that point fails the run, because the
//! entries already seen cannot be trusted to form a complete set.
//!
//! The search is paged (RFC 2696, what AD's MaxPageSize of 1000 requires). Every page's result
//! code is checked and the search is complete only when the server ends it with success and an
//! empty cookie; anything else (size or time limit, busy, unavailable, a dropped connection)
//! is an error and nothing is written. Multi-valued attributes that AD returns in ranges
//! (`proxyAddresses;range=0-1499`) are completed with follow-up reads before the entry is
//! used. Referrals (continuation references to other naming contexts) are not chased.
//!
//! TLS is verified, always: against `ca_file` or the system trust store, with the server name
//! from the URL. There is no switch to turn verification off.
//!
//! Security: needs only read access to the recipients' attributes. The bind password is read
//! at connect time and never logged.

use std::sync::Arc;
use std::time::Duration;

use ldap3::controls::{Control, ControlType, PagedResults};
use ldap3::tokio::runtime::Runtime;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use tracing::{debug, info, warn};

use super::Entry;
use crate::config::secret::{self, PasswordSource};

/// The Exchange recipient filter of the original recipe: users with and without mailboxes,
/// contacts, groups, public folders and dynamic distribution lists, all with a mailNickname.
pub const DEFAULT_FILTER: &str = "(&(mailNickname=*)(|\
(&(objectCategory=person)(objectClass=user)(!(homeMDB=*))(!(msExchHomeServerName=*)))\
(&(objectCategory=person)(objectClass=user)(|(homeMDB=*)(msExchHomeServerName=*)))\
(&(objectCategory=person)(objectClass=contact))\
(objectCategory=group)(objectCategory=publicFolder)\
(objectClass=msExchDynamicDistributionList)))";

/// A checked `kind = "ldap"` source.
#[derive(Debug, Clone)]
pub struct LdapSourceConfig {
    /// `ldap://` or `ldaps://` URLs, tried in order.
    pub servers: Vec<String>,
    /// StartTLS on `ldap://` URLs.
    pub starttls: bool,
    /// PEM CA certificates to trust instead of the system store.
    pub ca_file: Option<std::path::PathBuf>,
    /// Connect timeout and per-operation timeout.
    pub timeout: Duration,
    /// Search base.
    pub base_dn: String,
    /// Search filter (already parsed once, so known to be valid).
    pub filter: String,
    /// Entries per page.
    pub page_size: i32,
    /// Simple bind; None for anonymous.
    pub bind: Option<Bind>,
}

/// Simple-bind credentials.
#[derive(Debug, Clone)]
pub struct Bind {
    /// A DN or, on AD, a UPN (`svc@example.com`).
    pub dn: String,
    /// Where the password is read from, at connect time.
    pub password: PasswordSource,
}

/// Why a directory could not be read; in every case nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server could be connected to and bound.
    #[error("no directory server could be used: {}", .0.join("; "))]
    NoServer(Vec<String>),
    /// The bind password could not be read.
    #[error("bind password: {0}")]
    Password(#[from] secret::Error),
    /// The CA file or the TLS settings could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// A modification was refused.
    #[error("{server}: modify {dn:?} failed: {reason}")]
    Modify {
        /// The server.
        server: String,
        /// The entry.
        dn: String,
        /// The server's answer.
        reason: String,
    },
    /// The search did not complete.
    #[error(
        "{server}: search of {base:?} failed: {reason}; the result would be incomplete, so nothing was written"
    )]
    Search {
        /// The server that answered the bind.
        server: String,
        /// The search base.
        base: String,
        /// What went wrong.
        reason: String,
    },
}

/// A bound connection to one server. ldap3's asynchronous API on a private single-threaded
/// runtime, entered once per operation or page (its blocking wrapper enters it once per entry,
/// which costs a few percent at a million entries).
pub struct Connection {
    rt: Runtime,
    ldap: Ldap,
    url: String,
    timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .finish()
    }
}

/// Connects to the first server that accepts the connection and the bind.
pub fn connect(config: &LdapSourceConfig) -> Result<Connection, Error> {
    let password = config
        .bind
        .as_ref()
        .map(|b| b.password.read())
        .transpose()?;
    let tls = tls_config(config)?;
    let mut failures = Vec::new();
    for url in &config.servers {
        match connect_one(config, url, &tls, password.as_ref()) {
            Ok((rt, ldap)) => {
                if failures.is_empty() {
                    info!("connected to {url}");
                } else {
                    warn!("using {url} after {} failed server(s)", failures.len());
                }
                return Ok(Connection {
                    rt,
                    ldap,
                    url: url.clone(),
                    timeout: config.timeout,
                });
            }
            Err(reason) => {
                warn!("directory server {url}: {reason}");
                failures.push(format!("{url}: {reason}"));
            }
        }
    }
    Err(Error::NoServer(failures))
}

/// The rustls configuration: the CA file's certificates, or the system trust store.
fn tls_config(config: &LdapSourceConfig) -> Result<Arc<rustls::ClientConfig>, Error> {
    crate::tls::client_config(crate::tls::roots(config.ca_file.as_deref())?).map_err(Error::from)
}

/// Connects and binds to one server; the error is a sentence for the admin.
fn connect_one(
    config: &LdapSourceConfig,
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    password: Option<&secret::Secret>,
) -> Result<(Runtime, Ldap), String> {
    let settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout)
        .set_starttls(config.starttls && url.starts_with("ldap://"))
        .set_config(tls.clone());
    let rt = ldap3::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the LDAP client: {e}"))?;
    let mut ldap = rt.block_on(async {
        let (conn, ldap) = LdapConnAsync::with_settings(settings, url)
            .await
            .map_err(|e| describe(&e))?;
        ldap3::drive!(conn);
        Ok::<_, String>(ldap)
    })?;
    if let (Some(bind), Some(password)) = (&config.bind, password) {
        if url.starts_with("ldap://") && !config.starttls {
            warn!("{url}: the bind password is sent unencrypted; use ldaps:// or starttls = true");
        }
        let result = rt
            .block_on(
                ldap.with_timeout(config.timeout)
                    .simple_bind(&bind.dn, password.expose()),
            )
            .map_err(|e| describe(&e))?;
        match result.rc {
            0 => {}
            8 => {
                return Err(format!(
                    "the server refuses a simple bind without TLS (\"Strong(er) authentication required\"); \
                     use an ldaps:// URL or starttls = true ({})",
                    result.text.trim()
                ));
            }
            49 => {
                return Err(format!(
                    "bind as {} failed: invalid credentials ({})",
                    bind.dn,
                    result.text.trim()
                ));
            }
            rc => {
                return Err(format!(
                    "bind as {} failed: {}",
                    bind.dn,
                    describe_result(rc, &result.text)
                ));
            }
        }
    }
    Ok((rt, ldap))
}

/// Turns an ldap3 error into a sentence, spelling out the TLS cases admins meet.
fn describe(error: &LdapError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text = format!("{text}: {s}");
        }
        source = e.source();
    }
    if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        format!(
            "TLS certificate verification failed: the server's certificate is not signed by a trusted CA \
             (set ca_file to the CA that issued it) [{text}]"
        )
    } else if text.contains("NotValidForName") || text.contains("not valid for name") {
        format!(
            "TLS certificate verification failed: the certificate does not match the host name in the URL \
             (use the name the certificate was issued for) [{text}]"
        )
    } else if matches!(error, LdapError::Timeout { .. }) {
        format!("timed out ({text})")
    } else {
        text
    }
}

/// `result code 4 (sizeLimitExceeded): the server's text`.
fn describe_result(rc: u32, text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        result_name(rc)
    } else {
        format!("{}: {text}", result_name(rc))
    }
}

/// Short names of the LDAP result codes admins are likely to see.
fn result_name(rc: u32) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => return format!("result code {rc}"),
    };
    format!("result code {rc} ({name})")
}

/// An entry's attributes as the server sent them: name (possibly with options such as
/// `;range=0-1499`) to values. Consumers match names with [`is_attribute`].
pub type Attributes = std::collections::HashMap<String, Vec<String>>;

/// Ranged attributes still to be read: (name without options, next index).
type Pending = Vec<(String, u64)>;

/// Whether `name` as the server sent it (any case, any options) is the attribute `wanted`.
pub fn is_attribute(name: &str, wanted: &str) -> bool {
    name.split(';')
        .next()
        .is_some_and(|base| base.eq_ignore_ascii_case(wanted))
}

/// What one complete search found besides the entries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SearchStats {
    /// Entries passed on.
    pub entries: usize,
    /// Pages fetched.
    pub pages: usize,
    /// Continuation references seen and not followed.
    pub referrals: usize,
    /// Entries whose ranged attributes needed follow-up reads.
    pub ranged: usize,
}

impl Connection {
    /// The server this connection is bound to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn search_error(&self, base: &str, reason: String) -> Error {
        failure(&self.url, base, reason)
    }

    /// Runs a complete paged subtree search and calls `each` for every entry (DN and
    /// attributes, handed over without copying). Ranged attributes are completed first.
    pub fn search(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        page_size: i32,
        mut each: impl FnMut(String, Attributes),
    ) -> Result<SearchStats, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
        } = self;
        let (url, timeout) = (url.as_str(), *timeout);
        let mut stats = SearchStats::default();
        let mut cookie = Vec::new();
        loop {
            let control = PagedResults {
                size: page_size,
                cookie: std::mem::take(&mut cookie),
            };
            let result = rt.block_on(async {
                let mut partial: Vec<(String, Attributes, Pending)> = Vec::new();
                let mut stream = ldap
                    .with_controls(control)
                    .with_timeout(timeout)
                    .streaming_search(base, Scope::Subtree, filter, attrs)
                    .await
                    .map_err(|e| self_error(url, base, &e))?;
                while let Some(raw) = stream.next().await.map_err(|e| self_error(url, base, &e))? {
                    if raw.is_ref() {
                        stats.referrals += 1;
                        continue;
                    }
                    if raw.is_intermediate() {
                        continue;
                    }
                    let entry = SearchEntry::construct(raw);
                    let attrs = with_binary(entry.attrs, entry.bin_attrs);
                    let pending = ranged(&attrs);
                    stats.entries += 1;
                    if pending.is_empty() {
                        each(entry.dn, attrs);
                    } else {
                        partial.push((entry.dn, attrs, pending));
                    }
                }
                let result = stream.finish().await;
                stats.pages += 1;
                if result.rc != 0 {
                    return Err(failure(
                        url,
                        base,
                        format!(
                            "the server ended page {} with {}",
                            stats.pages,
                            describe_result(result.rc, &result.text)
                        ),
                    ));
                }
                for (dn, mut attrs, pending) in partial {
                    stats.ranged += 1;
                    for (name, start) in pending {
                        let rest = fetch_ranges(ldap, url, timeout, &dn, &name, start).await?;
                        attrs.entry(name).or_default().extend(rest);
                    }
                    each(dn, attrs);
                }
                Ok(result)
            })?;
            let paging = result.ctrls.iter().find_map(|c| match c {
                Control(Some(ControlType::PagedResults), raw) => Some(raw.parse::<PagedResults>()),
                _ => None,
            });
            match paging {
                // No paging control in the answer: the server returned the whole result in one
                // go (success was checked above).
                None => break,
                Some(pr) if pr.cookie.is_empty() => break,
                Some(pr) => cookie = pr.cookie,
            }
        }
        debug!(
            server = %url,
            pages = stats.pages,
            referrals = stats.referrals,
            "search complete"
        );
        Ok(stats)
    }

    /// What identifies the directory's state, read with one or two cheap requests: on Active
    /// Directory the DC's `highestCommittedUSN` (rootDSE), tied to the DC by its
    /// `dsServiceName` and `invocationId` (which changes when the DC is restored from a
    /// backup); on OpenLDAP with syncprov, the `contextCSN` of `base_dn`. None when the server
    /// offers neither: every run is then a full run.
    ///
    /// Any change anywhere in the directory moves the mark, so an unchanged mark on the same
    /// server means the last full search is still the directory's content.
    pub fn change_mark(&mut self, base_dn: &str) -> Result<Option<String>, Error> {
        let root = self.read_base(
            "",
            &["highestCommittedUSN", "dsServiceName", "supportedControl"],
        )?;
        let usn = root
            .attrs
            .get("highestCommittedUSN")
            .and_then(|v| v.first());
        let service = root.attrs.get("dsServiceName").and_then(|v| v.first());
        if let (Some(usn), Some(service)) = (usn, service) {
            let (usn, service) = (usn.clone(), service.clone());
            let ntds = self.read_base(&service, &["invocationId"])?;
            let invocation: String = ntds
                .bin_attrs
                .get("invocationId")
                .and_then(|v| v.first())
                .map(|id| id.iter().map(|b| format!("{b:02x}")).collect())
                .or_else(|| {
                    ntds.attrs
                        .get("invocationId")
                        .and_then(|v| v.first())
                        .cloned()
                })
                .unwrap_or_default();
            return Ok(Some(format!("ad {service} {invocation} usn={usn}")));
        }
        // contextCSN moves with every change only where syncprov maintains it; a database
        // loaded with slapadd (or copied from a replica) may carry one that never moves.
        // The LDAP Content Synchronization control in the rootDSE says syncprov is there.
        let syncprov = root
            .attrs
            .get("supportedControl")
            .is_some_and(|c| c.iter().any(|oid| oid == "1.3.6.1.4.1.4203.1.9.1.1"));
        if !syncprov {
            return Ok(None);
        }
        let suffix = self.read_base(base_dn, &["contextCSN"])?;
        Ok(suffix.attrs.get("contextCSN").map(|csns| {
            let mut csns = csns.clone();
            csns.sort();
            format!("openldap {} {base_dn} csn={}", self.url, csns.join(","))
        }))
    }

    /// One entry by DN (scope base); an entry that is not there is an empty entry.
    fn read_base(&mut self, dn: &str, attrs: &[&str]) -> Result<SearchEntry, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
        } = self;
        rt.block_on(read_base(ldap, url, *timeout, dn, attrs))
    }

    /// Deletes one value of one attribute (an LDAP modify `delete` naming the value, so other
    /// values and concurrent changes to them are left alone).
    pub fn delete_value(&mut self, dn: &str, attribute: &str, value: &str) -> Result<(), Error> {
        let values = std::collections::HashSet::from([value]);
        let result = self
            .rt
            .block_on(
                self.ldap
                    .with_timeout(self.timeout)
                    .modify(dn, vec![ldap3::Mod::Delete(attribute, values)]),
            )
            .map_err(|e| self_error(&self.url, dn, &e))?;
        if result.rc == 0 {
            Ok(())
        } else {
            Err(Error::Modify {
                server: self.url.clone(),
                dn: dn.to_owned(),
                reason: describe_result(result.rc, &result.text),
            })
        }
    }

    /// Reads the accepted domains from Exchange's configuration: Authoritative (flags 0) and
    /// InternalRelay (2) domains; ExternalRelay (1) domains are not ours to list.
    pub fn accepted_domains(&mut self) -> Result<Vec<String>, Error> {
        let config_nc = self
            .read_base("", &["configurationNamingContext"])?
            .attrs
            .get("configurationNamingContext")
            .and_then(|v| v.first().cloned())
            .ok_or_else(|| {
                self.search_error(
                    "",
                    "the server's rootDSE has no configurationNamingContext (is it Active Directory?); \
                     list the domains in recipients.domains instead of \"exchange\""
                        .into(),
                )
            })?;
        let mut domains = Vec::new();
        let mut rejected = Vec::new();
        let stats = self.search(
            &config_nc,
            "(objectClass=msExchAcceptedDomain)",
            &["msExchAcceptedDomainName", "msExchAcceptedDomainFlags"],
            1000,
            |dn, attrs| {
                let mut name = None;
                let mut flags = None;
                for (attr, values) in attrs {
                    let value = values.into_iter().next().unwrap_or_default().trim().to_owned();
                    if is_attribute(&attr, "msExchAcceptedDomainName") {
                        name = Some(value);
                    } else if is_attribute(&attr, "msExchAcceptedDomainFlags") {
                        flags = Some(value);
                    }
                }
                let Some(name) = name else {
                    warn!("accepted domain {dn} has no msExchAcceptedDomainName; ignored");
                    return;
                };
                let plain = name.strip_prefix("*.").unwrap_or(&name);
                if crate::rules::address::normalize(&format!("x@{plain}")).is_err() {
                    warn!("accepted domain {dn}: {name:?} is not a domain name; ignored");
                    return;
                }
                // Absent flags mean 0 (Authoritative), as in Exchange; unreadable ones are not
                // guessed at.
                match flags.as_deref().map_or(Ok(0), str::parse::<u32>) {
                    Ok(f) if f & 3 == 0 || f & 3 == 2 => domains.push(name.to_ascii_lowercase()),
                    Ok(_) => rejected.push(name),
                    Err(_) => warn!(
                        "accepted domain {dn}: msExchAcceptedDomainFlags {:?} is not a number; ignored",
                        flags.unwrap_or_default()
                    ),
                }
            },
        )?;
        if domains.is_empty() {
            return Err(self.search_error(
                &config_nc,
                format!(
                    "no Authoritative or InternalRelay accepted domain found ({} objects, {} external relay)",
                    stats.entries,
                    rejected.len()
                ),
            ));
        }
        domains.sort();
        domains.dedup();
        info!(
            "accepted domains from Exchange: {}{}",
            domains.join(", "),
            if rejected.is_empty() {
                String::new()
            } else {
                format!(" (external relay, not exported: {})", rejected.join(", "))
            }
        );
        Ok(domains)
    }
}

/// An incomplete search on `url`.
fn failure(url: &str, base: &str, reason: String) -> Error {
    Error::Search {
        server: url.to_owned(),
        base: base.to_owned(),
        reason,
    }
}

/// One entry by DN (scope base); an entry that is not there is an empty entry.
async fn read_base(
    ldap: &mut Ldap,
    url: &str,
    timeout: Duration,
    dn: &str,
    attrs: &[&str],
) -> Result<SearchEntry, Error> {
    let (entries, _) = ldap
        .with_timeout(timeout)
        .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
        .await
        .map_err(|e| self_error(url, dn, &e))?
        .success()
        .map_err(|e| self_error(url, dn, &e))?;
    Ok(entries
        .into_iter()
        .next()
        .map(SearchEntry::construct)
        .unwrap_or(SearchEntry {
            dn: dn.to_owned(),
            attrs: Default::default(),
            bin_attrs: Default::default(),
        }))
}

/// Reads the rest of a ranged attribute, `name;range=START-*`, until the server says `*`.
async fn fetch_ranges(
    ldap: &mut Ldap,
    url: &str,
    timeout: Duration,
    dn: &str,
    name: &str,
    mut start: u64,
) -> Result<Vec<String>, Error> {
    let mut values = Vec::new();
    loop {
        let request = format!("{name};range={start}-*");
        let entry = read_base(ldap, url, timeout, dn, &[request.as_str()]).await?;
        let attrs = with_binary(entry.attrs, entry.bin_attrs);
        let mut next = None;
        let mut found = false;
        for (description, more) in attrs {
            if !is_attribute(&description, name) {
                continue;
            }
            found = true;
            match range_of(&description).and_then(|r| r.split_once('-')) {
                Some((_, "*")) | None => next = None,
                Some((_, high)) => {
                    let high = high
                        .parse::<u64>()
                        .map_err(|_| failure(url, dn, format!("invalid range in {description}")))?;
                    next = Some(high.saturating_add(1));
                }
            }
            values.extend(more);
        }
        if !found {
            return Err(failure(
                url,
                dn,
                format!(
                    "reading {request} returned no values; the entry changed during the search, try again"
                ),
            ));
        }
        match next {
            Some(n) if n > start => start = n,
            Some(_) => {
                return Err(failure(
                    url,
                    dn,
                    format!("the server repeated a range of {name}"),
                ));
            }
            None => return Ok(values),
        }
    }
}

fn self_error(url: &str, base: &str, e: &LdapError) -> Error {
    Error::Search {
        server: url.to_owned(),
        base: base.to_owned(),
        reason: match e {
            LdapError::LdapResult { result } => describe_result(result.rc, &result.text),
            _ => describe(e),
        },
    }
}

/// The `range=LOW-HIGH` option of an attribute description, if any (any case).
fn range_of(description: &str) -> Option<&str> {
    description.split(';').skip(1).find_map(|o| {
        o.get(..6)
            .filter(|p| p.eq_ignore_ascii_case("range="))
            .map(|_| &o[6..])
    })
}

/// Values that are not UTF-8 (which recipient attributes never are) joined to the others,
/// visibly broken, so that the address validator reports them.
fn with_binary(
    mut attrs: Attributes,
    binary: std::collections::HashMap<String, Vec<Vec<u8>>>,
) -> Attributes {
    for (name, values) in binary {
        attrs.entry(name).or_default().extend(
            values
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned()),
        );
    }
    attrs
}

/// The ranged attributes of an entry whose last range does not end in `*`: (name without
/// options, the next index to ask for).
fn ranged(attrs: &Attributes) -> Pending {
    attrs
        .keys()
        .filter_map(|description| {
            let (_, high) = range_of(description)?.split_once('-')?;
            if high == "*" {
                return None;
            }
            let next = high
                .parse::<u64>()
                .map_or(u64::MAX, |h| h.saturating_add(1));
            let name = description.split(';').next().unwrap_or_default().to_owned();
            Some((name, next))
        })
        .collect()
}

/// Reads every recipient entry of one LDAP source, calling `each` for each.
pub fn read(
    config: &LdapSourceConfig,
    connection: Option<Connection>,
    mut each: impl FnMut(&Entry),
) -> Result<SearchStats, Error> {
    let mut connection = match connection {
        Some(c) => c,
        None => connect(config)?,
    };
    let stats = connection.search(
        &config.base_dn,
        &config.filter,
        &Entry::ATTRIBUTES,
        config.page_size,
        |dn, attrs| {
            let mut entry = Entry {
                dn,
                ..Entry::default()
            };
            for (name, values) in attrs {
                entry.add_values(&name, values);
            }
            each(&entry);
        },
    )?;
    info!(
        server = %connection.url(),
        pages = stats.pages,
        referrals = stats.referrals,
        ranged = stats.ranged,
        "read {} entries",
        stats.entries
    );
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_parses() {
        assert!(ldap3::parse_filter(DEFAULT_FILTER).is_ok());
    }

    #[test]
    fn ranged_attributes_are_recognized() {
        let attrs: Attributes = [
            (
                "proxyAddresses;Range=0-1".to_string(),
                vec!["smtp:a@x".to_string(), "smtp:b@x".to_string()],
            ),
            ("mail".to_string(), vec!["m@x".to_string()]),
        ]
        .into();
        assert_eq!(ranged(&attrs), [("proxyAddresses".to_string(), 2)]);
        assert!(is_attribute("PROXYADDRESSES;range=0-1", "proxyAddresses"));
        assert!(!is_attribute("proxyAddressesX", "proxyAddresses"));
        let done: Attributes = [(
            "proxyAddresses;range=2-*".to_string(),
            vec!["smtp:c@x".to_string()],
        )]
        .into();
        assert!(ranged(&done).is_empty());
    }
}
