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
//! Security: DNS answers are not authenticated; a forged SRV record can only point rcptsync
//! at another host, whose certificate must still verify for that host's name against
//! `ca_file` or the system roots, and the password is never sent without TLS.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use ldap3::tokio;
use tracing::{info, warn};

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
    /// The DC's host name, without the final dot.
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
    pub reason: String,
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
        let error = |reason: String| Error {
            domain: self.domain.clone(),
            record: record.clone(),
            reason,
        };
        let found = lookup(&record, self.dns_server, timeout).map_err(error)?;
        let found = in_domain(found, &self.domain, &record);
        if found.is_empty() {
            return Err(error(
                "no domain controller found: the record has no usable target; check the domain \
                 name, or list the DCs in servers instead"
                    .into(),
            ));
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

/// The targets that are names of `domain`: DNS answers are not authenticated, so a target
/// outside the domain is not taken for one of its DCs, whatever the answer says, and is never
/// sent a bind.
fn in_domain(mut targets: Vec<Target>, domain: &str, record: &str) -> Vec<Target> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    targets.retain(|t| {
        let host = t.host.to_ascii_lowercase();
        let inside = host == domain || host.ends_with(&format!(".{domain}"));
        if !inside {
            warn!("{record}: ignoring {}, which is outside {domain}", t.host);
        }
        inside
    });
    targets
}

/// The most DCs tried from one answer: a forged or broken answer with hundreds of targets
/// must not make the failover take hours (each costs up to `timeout`).
const MAX_TARGETS: usize = 16;

/// The URLs for `targets` in their order: LDAPS on 636, or LDAP with StartTLS on the SRV port.
pub fn urls(targets: &[Target], starttls: bool) -> Vec<String> {
    targets
        .iter()
        .map(|t| {
            if starttls {
                format!("ldap://{}:{}", t.host, t.port)
            } else {
                format!("ldaps://{}", t.host)
            }
        })
        .collect()
}

/// The SRV targets of `record` (a fully qualified name), from `server` or the system
/// resolver. A name without records is an empty list; a target of "." (RFC 2782: the
/// service is decidedly not available there) is left out.
fn lookup(
    record: &str,
    server: Option<SocketAddr>,
    timeout: Duration,
) -> Result<Vec<Target>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the DNS client: {e}"))?;
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
            None => Resolver::builder(provider)
                .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?,
        };
        let options = builder.options_mut();
        options.timeout = timeout;
        options.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot set up the DNS client: {e}"))?;
        let answer =
            match tokio::time::timeout(timeout * 3, resolver.lookup(record, RecordType::SRV)).await
            {
                Err(_) => {
                    return Err(format!(
                        "the DNS lookup timed out after {}",
                        humantime::format_duration(timeout * 3)
                    ));
                }
                Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => {
                    return Err(
                        "no domain controller found: the name has no SRV records; check the \
                     domain name and the DNS server (a DC registers this record), or list the DCs \
                     in servers instead"
                            .into(),
                    );
                }
                Ok(Err(e)) => return Err(format!("the DNS lookup failed: {e}")),
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
                    host: srv.target.to_utf8().trim_end_matches('.').to_owned(),
                }),
                _ => None,
            })
            .filter(|t| !t.host.is_empty())
            .collect())
    })
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

    #[test]
    fn only_targets_inside_the_domain_are_kept() {
        let target = |host: &str| Target {
            priority: 0,
            weight: 100,
            port: 389,
            host: host.to_owned(),
        };
        let kept = in_domain(
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
