//! Finding the domain controllers in DNS (`discover = "example.com"`), as Windows clients do:
//! the SRV records `_ldap._tcp.dc._msdcs.DOMAIN` that every AD DC registers (MS-ADTS
//! 6.3.2.3), so that a DC added or retired needs no change to rcptsync's config.
//!
//! The records are ordered as RFC 2782 says: by priority, and within one priority by a
//! weighted random draw, so that several rcptsync hosts spread over the DCs the way the
//! admin weighted them. The result is an ordinary list of URLs for [`super::connect()`]'s
//! failover: `ldaps://HOST` (port 636; the SRV port is LDAP's) or, with `starttls = true`,
//! `ldap://HOST:PORT` with StartTLS. The host names are the SRV targets, so TLS verifies the
//! DC's certificate against the name it registered.
//!
//! Security: DNS answers are not authenticated, and a target is any sequence of bytes in
//! labels, so each target is read in its ASCII form (an IDNA label stays `xn--…`: its Unicode
//! rendering could hide a `:` or `#`) and is taken only when it is a host name of letters,
//! digits, hyphens and dots ([`host_name()`]) inside the configured domain. Anything else is
//! refused with a warning naming the record and the target (quoted), and is never connected
//! to, let alone sent a bind: `xn--localhost:24389#-yzb.DOMAIN`, which hickory renders as
//! `localhost:24389#ü.DOMAIN`, once made a URL whose host was `localhost` and port 24389. The
//! URL is built with the `url` crate from the checked name and the port chosen here, and read
//! back to be sure it names that host and port and nothing else ([`url()`]), never by pasting
//! DNS's text into a string. A forged record can then only point rcptsync at another host of
//! the domain, whose certificate must still verify for that host's name against `ca_file`
//! (required with discover and a bind), and the password is never sent without TLS.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use ldap3::tokio;
use tracing::{info, warn};
use url::{Host, Url};

/// What a source's `discover` and `dns_server` keys ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discover {
    /// The AD domain (its DNS name), e.g. `example.com`.
    pub domain: String,
    /// The DNS server to ask instead of the system resolver's (`/etc/resolv.conf`).
    pub dns_server: Option<SocketAddr>,
}

/// One SRV record's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among targets of the same priority.
    pub weight: u16,
    /// The port the DC registered (LDAP's, 389).
    pub port: u16,
    /// The DC's host name as DNS sent it, in ASCII (IDNA labels as `xn--…`, other bytes
    /// escaped by hickory), without the final dot: not yet checked, see [`host_name()`].
    pub host: String,
}

/// Why no domain controller could be found.
#[derive(Debug, thiserror::Error)]
#[error("discover = {domain:?}: {reason} (DNS SRV record {record})")]
pub struct Error {
    /// The configured domain.
    pub domain: String,
    /// The record that was looked up.
    pub record: String,
    /// What went wrong.
    pub reason: Reason,
}

/// What went wrong looking the DCs up: the lookup itself, or an answer without a DC that
/// may be connected to (each refused target is also a warning of its own).
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    /// The DNS lookup failed or found nothing.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The answer has targets, none of them usable.
    #[error(
        "no domain controller found: the record has no usable target{}; check the domain \
         name, or list the DCs in servers instead",
        refusals(refused)
    )]
    NoUsableTarget {
        /// Each refused target, quoted, with why.
        refused: Vec<String>,
    },
}

/// Why the SRV lookup gave no answer: the admin checks the DNS server or the domain name,
/// or lists the DCs by hand. (hickory's errors are boxed: they are large, and rare.)
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The lookup's runtime could not be started.
    #[error("cannot start the DNS client: {0}")]
    Runtime(std::io::Error),
    /// `/etc/resolv.conf` could not be read.
    #[error("cannot read the system's DNS configuration: {0}")]
    SystemConfig(Box<NetError>),
    /// The resolver could not be set up.
    #[error("cannot set up the DNS client: {0}")]
    Setup(Box<NetError>),
    /// No answer in time (three times the source's `timeout`).
    #[error("the DNS lookup timed out after {}", humantime::format_duration(*after))]
    TimedOut {
        /// How long the lookup was given.
        after: Duration,
    },
    /// The name exists without SRV records, or does not exist.
    #[error(
        "no domain controller found: the name has no SRV records; check the domain name and the \
         DNS server (a DC registers this record), or list the DCs in servers instead"
    )]
    NoRecords,
    /// Any other DNS failure.
    #[error("the DNS lookup failed: {0}")]
    Failed(Box<NetError>),
}

/// Why a SRV target is not a host name that may become a URL's host ([`host_name()`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostNameError {
    /// The empty name (the root).
    #[error("it is empty")]
    Empty,
    /// Longer than DNS allows.
    #[error("a host name is at most 253 bytes, this is {0}")]
    TooLong(usize),
    /// Two dots in a row, or a dot at an end.
    #[error("it has an empty label")]
    EmptyLabel,
    /// A label longer than DNS allows.
    #[error("a label is at most 63 bytes, one is {0}")]
    LabelTooLong(usize),
    /// Something else than letters, digits and hyphens in a label.
    #[error("it is not a host name of letters, digits, hyphens and dots")]
    NotLdh,
    /// A label that starts or ends with a hyphen.
    #[error("a label starts or ends with a hyphen")]
    Hyphen,
    /// A name that could pass for an IPv4 address.
    #[error("its last label is all digits, like an IP address")]
    AllDigits,
}

/// Why no URL could be made of a target whose host name passed ([`url()`]): the `url`
/// crate refused a step, or the URL it made would name something else than that host.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// The target is not a host name.
    #[error(transparent)]
    HostName(#[from] HostNameError),
    /// The fixed URL the target's is built from does not parse.
    #[error("cannot start the URL {fixed}: {cause}")]
    Start {
        /// The fixed URL.
        fixed: &'static str,
        /// Why.
        cause: url::ParseError,
    },
    /// The `url` crate refused the host.
    #[error("it is not a URL's host: {0}")]
    Host(url::ParseError),
    /// The `url` crate refused the port.
    #[error("the URL cannot carry a port")]
    Port,
    /// The URL made does not parse back.
    #[error("{text:?} is not a URL: {cause}")]
    Reparse {
        /// The URL made.
        text: String,
        /// Why.
        cause: url::ParseError,
    },
    /// The URL made, parsed back, names more or other than the host and port.
    #[error("the URL {text:?} would not name {host:?} alone")]
    NotAlone {
        /// The URL made.
        text: String,
        /// The host it should name.
        host: String,
    },
}

impl Discover {
    /// The SRV record every DC of the domain registers.
    pub fn record(&self) -> String {
        format!(
            "_ldap._tcp.dc._msdcs.{}.",
            self.domain.trim_end_matches('.')
        )
    }

    /// Looks the DCs up within `timeout` and returns their URLs in the order to try them.
    pub fn servers(&self, starttls: bool, timeout: Duration) -> Result<Vec<String>, Error> {
        let record = self.record();
        let error = |reason: Reason| Error {
            domain: self.domain.clone(),
            record: record.clone(),
            reason,
        };
        let found = lookup(&record, self.dns_server, timeout).map_err(|e| error(e.into()))?;
        let (found, refused) = usable(found, &self.domain, &record);
        if found.is_empty() {
            return Err(error(Reason::NoUsableTarget { refused }));
        }
        let mut ordered = order(found, &mut random);
        ordered.truncate(MAX_TARGETS);
        let asked = match self.dns_server {
            Some(server) => format!("DNS server {server}"),
            None => "the system resolver".to_owned(),
        };
        let list: Vec<String> = ordered
            .iter()
            .map(|t| {
                format!(
                    "{}:{} (priority {}, weight {})",
                    t.host, t.port, t.priority, t.weight
                )
            })
            .collect();
        info!(
            "discovered {} domain controller(s) of {} through {asked} ({record}): {}",
            ordered.len(),
            self.domain,
            list.join(", ")
        );
        Ok(urls(&ordered, starttls))
    }
}

/// The targets that are host names ([`host_name()`]) of `domain`, and a line for each one
/// refused. DNS answers are not authenticated, so a target outside the domain is not taken
/// for one of its DCs, whatever the answer says; and a target that is not a host name could
/// be read as another host and port once in a URL. Neither is ever connected to.
fn usable(targets: Vec<Target>, domain: &str, record: &str) -> (Vec<Target>, Vec<String>) {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut refused = Vec::new();
    let kept = targets
        .into_iter()
        .filter(|t| {
            let reason = match host_name(&t.host) {
                Err(reason) => reason.to_string(),
                Ok(host) => {
                    let host = host.to_ascii_lowercase();
                    if host == domain || host.ends_with(&format!(".{domain}")) {
                        return true;
                    }
                    format!("it is outside {domain}")
                }
            };
            warn!("{record}: refusing SRV target {:?}: {reason}", t.host);
            refused.push(format!("{:?}: {reason}", t.host));
            false
        })
        .collect();
    (kept, refused)
}

/// The refused targets for the error message: a few of them, so that a forged answer with
/// hundreds cannot make it endless (each is also a warning of its own).
fn refusals(refused: &[String]) -> String {
    const SHOWN: usize = 3;
    match refused.len() {
        0 => String::new(),
        n if n <= SHOWN => format!(" (refused {})", refused.join("; ")),
        n => format!(
            " (refused {}; and {} more)",
            refused[..SHOWN].join("; "),
            n - SHOWN
        ),
    }
}

/// `name` when it is a host name as RFC 952 and RFC 1123 write them: labels of 1 to 63
/// letters, digits and hyphens, not starting or ending with a hyphen, joined by dots, at most
/// 253 bytes, the last label not all digits (so that it cannot pass for an IPv4 address).
/// Otherwise why not. Only such a name is made a URL's host: any other character could end
/// the host there (`:` a port, `@` user information, `/`, `?`, `#` a path, query or fragment)
/// or be escaped or rewritten on the way, so that the URL would name another server than
/// the one checked against the domain. An IDNA name qualifies in its ASCII (`xn--`) form.
pub fn host_name(name: &str) -> Result<&str, HostNameError> {
    if name.is_empty() {
        return Err(HostNameError::Empty);
    }
    if name.len() > 253 {
        return Err(HostNameError::TooLong(name.len()));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostNameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(HostNameError::LabelTooLong(label.len()));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(HostNameError::NotLdh);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostNameError::Hyphen);
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(HostNameError::AllDigits);
    }
    Ok(name)
}

/// The most DCs tried from one answer: a forged or broken answer with hundreds of targets
/// must not make the failover take hours (each costs up to `timeout`).
const MAX_TARGETS: usize = 16;

/// The URLs for `targets` in their order: LDAPS on 636, or LDAP with StartTLS on the SRV port.
/// A target that does not make a URL of its own ([`url()`]) is left out with a warning.
pub fn urls(targets: &[Target], starttls: bool) -> Vec<String> {
    targets
        .iter()
        .filter_map(|t| match url(t, starttls) {
            Ok(url) => Some(url),
            Err(reason) => {
                warn!("refusing SRV target {:?}: {reason}", t.host);
                None
            }
        })
        .collect()
}

/// The URL for one target: `ldaps://HOST` (port 636), or with `starttls`
/// `ldap://HOST:SRVPORT`. Built with the `url` crate from a fixed URL by setting the host
/// (checked by [`host_name()`] again, whoever calls this) and the port, and then parsed back
/// as [`super::connect()`] will parse it, so that the URL names exactly that host and port:
/// text from DNS is never pasted into a URL.
pub fn url(target: &Target, starttls: bool) -> Result<String, UrlError> {
    let host = host_name(&target.host)?;
    let (fixed, port) = if starttls {
        ("ldap://placeholder.invalid", Some(target.port))
    } else {
        ("ldaps://placeholder.invalid", None)
    };
    let mut built = Url::parse(fixed).map_err(|cause| UrlError::Start { fixed, cause })?;
    built.set_host(Some(host)).map_err(UrlError::Host)?;
    built.set_port(port).map_err(|()| UrlError::Port)?;
    let text = String::from(built);
    let back = match Url::parse(&text) {
        Ok(back) => back,
        Err(cause) => return Err(UrlError::Reparse { text, cause }),
    };
    let same = back.host() == Some(Host::Domain(host))
        && back.port() == port
        && back.username().is_empty()
        && back.password().is_none()
        && back.path().is_empty()
        && back.query().is_none()
        && back.fragment().is_none();
    if !same {
        return Err(UrlError::NotAlone {
            text,
            host: host.to_owned(),
        });
    }
    Ok(text)
}

/// The SRV targets of `record` (a fully qualified name), from `server` or the system
/// resolver. A name without records is an empty list; a target of "." (RFC 2782: the
/// service is decidedly not available there) is left out.
fn lookup(
    record: &str,
    server: Option<SocketAddr>,
    timeout: Duration,
) -> Result<Vec<Target>, LookupError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LookupError::Runtime)?;
    rt.block_on(async {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(server) => {
                let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut ns.connections {
                    connection.port = server.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), vec![ns]),
                    provider,
                )
            }
            None => {
                Resolver::builder(provider).map_err(|e| LookupError::SystemConfig(Box::new(e)))?
            }
        };
        let options = builder.options_mut();
        options.timeout = timeout;
        options.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| LookupError::Setup(Box::new(e)))?;
        let answer =
            match tokio::time::timeout(timeout * 3, resolver.lookup(record, RecordType::SRV)).await
            {
                Err(_) => return Err(LookupError::TimedOut { after: timeout * 3 }),
                Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => {
                    return Err(LookupError::NoRecords);
                }
                Ok(Err(e)) => return Err(LookupError::Failed(Box::new(e))),
                Ok(Ok(answer)) => answer,
            };
        Ok(answer
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(srv) => Some(Target {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    // ASCII, never the Unicode rendering (`to_utf8`), which decodes an
                    // `xn--` label into whatever characters it encodes.
                    host: ascii(&srv.target.to_ascii()).to_owned(),
                }),
                _ => None,
            })
            .filter(|t| !t.host.is_empty())
            .collect())
    })
}

/// A name as hickory's `to_ascii` writes it, without the one final dot of a fully qualified
/// name (the root, `.`, is then empty).
fn ascii(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// A random number in `0..=max`, from the system's generator (0 if it fails: the order is
/// then the weights' own, which still tries every DC).
fn random(max: u32) -> u32 {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() || max == u32::MAX {
        return 0;
    }
    u32::from_le_bytes(bytes) % (max + 1)
}

/// Orders `targets` as RFC 2782 says: ascending priority; within a priority, repeatedly draw
/// `pick(sum)` in `0..=sum` of the remaining weights (zero weights first in the running
/// sum) and take the first target whose running sum reaches it.
pub fn order(mut targets: Vec<Target>, pick: &mut impl FnMut(u32) -> u32) -> Vec<Target> {
    targets.sort_by_key(|t| (t.priority, t.weight != 0));
    let mut ordered = Vec::with_capacity(targets.len());
    while !targets.is_empty() {
        let priority = targets[0].priority;
        let end = targets
            .iter()
            .position(|t| t.priority != priority)
            .unwrap_or(targets.len());
        let mut group: Vec<Target> = targets.drain(..end).collect();
        while !group.is_empty() {
            let sum: u32 = group.iter().map(|t| u32::from(t.weight)).sum();
            let draw = pick(sum).min(sum);
            let mut running = 0;
            let index = group
                .iter()
                .position(|t| {
                    running += u32::from(t.weight);
                    running >= draw
                })
                .unwrap_or(0);
            ordered.push(group.remove(index));
        }
    }
    ordered
}

/// Parses `dns_server`: an IP address, with an optional port (`192.0.2.53`, `192.0.2.53:5353`,
/// `[2001:db8::53]:53`, `2001:db8::53`); DNS's port 53 by default.
pub fn parse_dns_server(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip: IpAddr = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text)
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, 53))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::Name;

    #[test]
    fn only_targets_inside_the_domain_are_kept() {
        let target = |host: &str| Target {
            priority: 0,
            weight: 100,
            port: 389,
            host: host.to_owned(),
        };
        let (kept, refused) = usable(
            vec![
                target("DC1.Example.com"),
                target("example.com"),
                target("dc.attacker.net"),
                target("dc1.notexample.com"),
                target("example.com.attacker.net"),
            ],
            "example.com.",
            "_ldap._tcp.dc._msdcs.example.com.",
        );
        let hosts: Vec<&str> = kept.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(hosts, ["DC1.Example.com", "example.com"]);
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert_eq!(refused[0], "\"dc.attacker.net\": it is outside example.com");
    }

    /// The SRV target of issue 22: one label, `xn--localhost:24389#-yzb`, which hickory's
    /// Unicode rendering turns into `localhost:24389#ü`.
    fn idna_target() -> Name {
        Name::from_labels([b"xn--localhost:24389#-yzb".as_slice(), b"example", b"test"]).unwrap()
    }

    #[test]
    fn an_idna_target_is_read_in_ascii_and_refused() {
        let name = idna_target();
        // What the old code took for the host: it ends with .example.test.
        assert_eq!(name.to_utf8(), "localhost:24389#\u{fc}.example.test.");
        let host = ascii(&name.to_ascii()).to_owned();
        assert_eq!(host, "xn--localhost\\:24389\\#-yzb.example.test");
        let (kept, refused) = usable(
            vec![target(0, 100, &host)],
            "example.test",
            "_ldap._tcp.dc._msdcs.example.test.",
        );
        assert!(kept.is_empty(), "{kept:?}");
        assert!(
            refused[0].contains("it is not a host name of letters, digits, hyphens and dots"),
            "{refused:?}"
        );
        // And were it passed on anyway, no URL is made of it.
        assert!(urls(&[target(0, 100, &host)], false).is_empty());
        assert!(urls(&[target(0, 100, &host)], true).is_empty());
    }

    #[test]
    fn the_root_target_is_empty_and_left_out() {
        assert_eq!(ascii(&Name::root().to_ascii()), "");
        assert_eq!(
            ascii(&Name::from_ascii("DC1.example.test.").unwrap().to_ascii()),
            "DC1.example.test"
        );
    }

    /// Targets that are not host names, each of which ends with the domain: none is kept, none
    /// becomes a URL.
    const HOSTILE: &[&str] = &[
        "xn--localhost:24389#-yzb.example.test",
        "localhost:24389#\u{fc}.example.test",
        "x@localhost.example.test",
        "localhost:1#.example.test",
        "localhost/.example.test",
        "localhost?.example.test",
        "localhost#.example.test",
        "local host.example.test",
        "localhost\n.example.test",
        "localhost\r\nrcptsync: error: forged.example.test",
        "dc1\\.example.test",
        "[::1].example.test",
        "dc1-.example.test",
        "-dc1.example.test",
        "dc1..example.test",
        "dc_1.example.test",
        "dc1.example.test:636",
    ];

    #[test]
    fn targets_that_are_not_host_names_are_refused() {
        let long_label = format!("{}.example.test", "a".repeat(64));
        let long_name = format!("{}example.test", "abcdefghi.".repeat(25));
        let mut all: Vec<Target> = HOSTILE.iter().map(|h| target(0, 100, h)).collect();
        all.push(target(0, 100, &long_label));
        all.push(target(0, 100, &long_name));
        all.push(target(0, 100, "DC1.Example.test"));
        let (kept, refused) = usable(all, "example.test", "_ldap._tcp.dc._msdcs.example.test.");
        assert_eq!(hosts(&kept), ["DC1.Example.test"]);
        assert_eq!(refused.len(), HOSTILE.len() + 2, "{refused:?}");
        // Quoted: a newline or ESC in a target cannot start a log line of its own.
        assert!(
            refused
                .iter()
                .all(|r| !r.contains('\n') && !r.contains('\r'))
        );
        assert!(
            refused
                .iter()
                .any(|r| r.contains("a label is at most 63 bytes, one is 64")),
            "{refused:?}"
        );
        assert!(
            refused
                .iter()
                .any(|r| r.contains("a host name is at most 253 bytes, this is 262")),
            "{refused:?}"
        );
        assert!(
            refused
                .iter()
                .any(|r| r.contains("a label starts or ends with a hyphen")),
            "{refused:?}"
        );
    }

    #[test]
    fn the_error_lists_a_few_refused_targets() {
        let many: Vec<String> = (0..5).map(|n| format!("\"t{n}\": why")).collect();
        assert_eq!(refusals(&[]), "");
        assert_eq!(refusals(&many[..1]), " (refused \"t0\": why)");
        assert_eq!(
            refusals(&many),
            " (refused \"t0\": why; \"t1\": why; \"t2\": why; and 2 more)"
        );
    }

    #[test]
    fn host_names_are_ldh() {
        for ok in [
            "DC1.Example.test",
            "dc-1.example.test",
            "1dc.example.test",
            "xn--bcher-kva.example.test",
            "example",
        ] {
            assert_eq!(host_name(ok), Ok(ok));
        }
        let max_label = format!("{}.example.test", "a".repeat(63));
        assert!(host_name(&max_label).is_ok());
        for bad in ["", ".", "example.test.", "127.0.0.1", "dc1.example.123"] {
            assert!(host_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hostile_hosts_never_become_urls() {
        for hostile in HOSTILE {
            for starttls in [false, true] {
                let t = target(0, 100, hostile);
                assert_eq!(
                    urls(std::slice::from_ref(&t), starttls),
                    Vec::<String>::new()
                );
                assert!(url(&t, starttls).is_err(), "{hostile:?}");
            }
        }
    }

    #[test]
    fn a_url_names_the_checked_host_and_port_alone() {
        for starttls in [false, true] {
            let t = Target {
                port: 3890,
                ..target(0, 100, "DC1.Example.test")
            };
            let text = url(&t, starttls).unwrap();
            let back = Url::parse(&text).unwrap();
            assert_eq!(back.host_str(), Some("DC1.Example.test"), "{text}");
            let port = if starttls { Some(3890) } else { None };
            assert_eq!(back.port(), port, "{text}");
            assert_eq!(back.scheme(), if starttls { "ldap" } else { "ldaps" });
        }
    }

    fn target(priority: u16, weight: u16, host: &str) -> Target {
        Target {
            priority,
            weight,
            port: 389,
            host: host.into(),
        }
    }

    fn hosts(targets: &[Target]) -> Vec<&str> {
        targets.iter().map(|t| t.host.as_str()).collect()
    }

    #[test]
    fn priorities_come_first_and_weights_decide_within_one() {
        let all = vec![
            target(10, 0, "backup"),
            target(0, 10, "small"),
            target(0, 90, "big"),
            target(0, 0, "zero"),
        ];
        // Draw 0: the zero-weight target (first in the running sum), then the lowest draws.
        let mut low = |_| 0;
        assert_eq!(
            hosts(&order(all.clone(), &mut low)),
            ["zero", "small", "big", "backup"]
        );
        // Draw the maximum: the last in the running sum each time.
        let mut high = |sum| sum;
        assert_eq!(
            hosts(&order(all.clone(), &mut high)),
            ["big", "small", "zero", "backup"]
        );
        // A draw of 50 of 100 lands on "big" (running sums 0, 10, 100).
        let mut mid = |sum| sum / 2;
        assert_eq!(hosts(&order(all, &mut mid))[0], "big");
    }

    #[test]
    fn weighted_draws_follow_the_weights() {
        let all = vec![target(0, 10, "small"), target(0, 90, "big")];
        let mut big_first = 0;
        for _ in 0..2000 {
            if order(all.clone(), &mut random)[0].host == "big" {
                big_first += 1;
            }
        }
        // Expected 90% (1800); far outside chance below 1650 or above 1950.
        assert!((1650..=1950).contains(&big_first), "{big_first}");
    }

    #[test]
    fn urls_use_ldaps_or_the_srv_port_with_starttls() {
        let t = [target(0, 100, "dc1.example.com")];
        assert_eq!(urls(&t, false), ["ldaps://dc1.example.com"]);
        assert_eq!(urls(&t, true), ["ldap://dc1.example.com:389"]);
    }

    #[test]
    fn dns_servers_are_ip_with_optional_port() {
        let p = |t| parse_dns_server(t).map(|a| a.to_string());
        assert_eq!(p("192.0.2.53").as_deref(), Some("192.0.2.53:53"));
        assert_eq!(p("127.0.0.1:5353").as_deref(), Some("127.0.0.1:5353"));
        assert_eq!(p("[::1]:53").as_deref(), Some("[::1]:53"));
        assert_eq!(p("2001:db8::53").as_deref(), Some("[2001:db8::53]:53"));
        assert_eq!(p("[2001:db8::53]").as_deref(), Some("[2001:db8::53]:53"));
        assert_eq!(p("dns.example.com"), None);
        assert_eq!(p("127.0.0.1:x"), None);
    }

    #[test]
    fn the_record_is_the_dc_locator_name() {
        let d = Discover {
            domain: "example.com".into(),
            dns_server: None,
        };
        assert_eq!(d.record(), "_ldap._tcp.dc._msdcs.example.com.");
    }
}
