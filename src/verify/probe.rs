//! The SMTP probe behind `rcptsync verify`: ask the gateway what it would do with mail for
//! addresses whose answer is known, and compare.
//!
//! For each accepted domain a random address that cannot exist must be refused (5xx): if it
//! is accepted, the gateway relays mail for invalid recipients (the problem rcptsync exists
//! to solve). In an open domain (a shared address space, whose map line is `@domain`) it must
//! be accepted instead: Exchange relays it on. Every canary must be accepted (2xx): if not,
//! the map is missing or incomplete.
//! The dialogue is EHLO, MAIL FROM:<>, RCPT TO for each address, RSET, QUIT; never DATA.

use std::path::Path;
use std::time::Duration;

use super::smtp::{self, Reply, Session};

/// One address to ask about, and the answer it must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The RCPT TO address.
    pub address: String,
    /// Whether the gateway must accept it (a canary, or any address in an open domain) or
    /// refuse it (a made-up address in a checked domain).
    pub must_exist: bool,
    /// A made-up address in an open domain.
    pub open: bool,
}

/// The probes for `domains`, `open` domains and `canaries`: one made-up address per domain
/// (the domains of the canaries included), tagged with `tag` so that it cannot exist and is
/// easy to find in the gateway's log, then the canaries.
pub fn plan(domains: &[String], open: &[String], canaries: &[String], tag: &str) -> Vec<Probe> {
    let mut domains = domains.to_vec();
    domains.extend(open.iter().cloned());
    domains.extend(
        canaries
            .iter()
            .filter_map(|c| c.rsplit_once('@'))
            .map(|(_, domain)| domain.to_owned()),
    );
    domains.sort();
    domains.dedup();
    let made_up = domains.iter().map(|d| {
        let open = open.contains(d);
        Probe {
            address: format!("rcptsync-verify-{tag}@{d}"),
            must_exist: open,
            open,
        }
    });
    let canaries = canaries.iter().map(|c| Probe {
        address: c.clone(),
        must_exist: true,
        open: false,
    });
    made_up.chain(canaries).collect()
}

/// What a reply to a probe means; None when it is the right answer.
pub fn judge(probe: &Probe, reply: &Reply) -> Option<&'static str> {
    match (probe.must_exist, reply.code / 100) {
        (true, 2) | (false, 5) => None,
        (_, 4) => Some("temporary failure: is the map missing or unreadable?"),
        (true, _) if probe.open => Some(
            "an address in an open domain is refused: the map lacks its @domain line (is the \
             domain in [install].internal_relay_domains, and in relay_domains?)",
        ),
        (true, _) => Some("a canary is refused: the map is missing addresses"),
        (false, _) => Some(
            "an address that does not exist is accepted: the gateway relays mail for invalid recipients",
        ),
    }
}

/// How to reach the gateway.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// HOST:PORT.
    pub address: &'a str,
    /// The name to greet with (EHLO).
    pub helo: &'a str,
    /// Upgrade with STARTTLS first: Some(CA file, or None for the system trust store).
    pub starttls: Option<Option<&'a Path>>,
    /// Connect and per-reply timeout.
    pub timeout: Duration,
}

/// Why the probe could not be carried out (as opposed to a wrong answer).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SMTP conversation failed.
    #[error(transparent)]
    Smtp(#[from] smtp::Error),
    /// The CA file could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// STARTTLS was asked for but not offered.
    #[error("{0} does not offer STARTTLS")]
    NoStartTls(String),
    /// The null sender was refused, so no recipient can be asked about.
    #[error("{address} refused MAIL FROM:<> ({reply}); cannot probe recipients")]
    Sender {
        /// HOST:PORT.
        address: String,
        /// The reply.
        reply: Reply,
    },
}

/// Asks `target` about every probe; the replies in probe order.
pub fn run(target: &Target<'_>, probes: &[Probe]) -> Result<Vec<Reply>, Error> {
    let mut session = Session::connect(target.address, target.timeout)?;
    let ehlo = session.ehlo(target.helo)?;
    if let Some(ca_file) = target.starttls {
        if !ehlo.text.to_ascii_uppercase().contains("STARTTLS") {
            return Err(Error::NoStartTls(target.address.to_owned()));
        }
        let tls = crate::tls::client_config(crate::tls::roots(ca_file)?)?;
        session.starttls(tls)?;
        session.ehlo(target.helo)?;
    }
    let mail = session.command("MAIL FROM:<>")?;
    if mail.code != 250 {
        return Err(Error::Sender {
            address: target.address.to_owned(),
            reply: mail,
        });
    }
    let mut replies = Vec::with_capacity(probes.len());
    for probe in probes {
        replies.push(session.command(&format!("RCPT TO:<{}>", probe.address))?);
    }
    // The answers are in; a server that hangs up now changes nothing.
    let _ = session.command("RSET");
    session.quit();
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_made_up_address_per_domain_then_the_canaries() {
        let probes = plan(
            &["example.com".into(), "example.org".into()],
            &[],
            &["postmaster@example.net".into(), "abuse@example.com".into()],
            "t",
        );
        let addresses: Vec<(&str, bool)> = probes
            .iter()
            .map(|p| (p.address.as_str(), p.must_exist))
            .collect();
        assert_eq!(
            addresses,
            [
                ("rcptsync-verify-t@example.com", false),
                ("rcptsync-verify-t@example.net", false),
                ("rcptsync-verify-t@example.org", false),
                ("postmaster@example.net", true),
                ("abuse@example.com", true),
            ]
        );
    }

    #[test]
    fn answers_are_judged_by_their_class() {
        let reply = |code| Reply {
            code,
            text: String::new(),
        };
        let canary = Probe {
            address: "c@x".into(),
            must_exist: true,
            open: false,
        };
        let made_up = Probe {
            address: "m@x".into(),
            must_exist: false,
            open: false,
        };
        assert_eq!(judge(&canary, &reply(250)), None);
        assert_eq!(judge(&made_up, &reply(550)), None);
        assert!(
            judge(&canary, &reply(550))
                .unwrap()
                .contains("canary is refused")
        );
        assert!(
            judge(&made_up, &reply(250))
                .unwrap()
                .contains("relays mail for invalid")
        );
        assert!(judge(&canary, &reply(451)).unwrap().contains("temporary"));
        assert!(judge(&made_up, &reply(451)).unwrap().contains("temporary"));
    }

    #[test]
    fn a_made_up_address_in_an_open_domain_must_be_accepted() {
        let probes = plan(
            &["example.com".into(), "shared.example.com".into()],
            &["shared.example.com".into()],
            &[],
            "t",
        );
        assert_eq!(
            probes,
            [
                Probe {
                    address: "rcptsync-verify-t@example.com".into(),
                    must_exist: false,
                    open: false,
                },
                Probe {
                    address: "rcptsync-verify-t@shared.example.com".into(),
                    must_exist: true,
                    open: true,
                },
            ]
        );
        let refused = Reply {
            code: 550,
            text: String::new(),
        };
        assert!(
            judge(&probes[1], &refused)
                .unwrap()
                .contains("an address in an open domain is refused")
        );
        assert_eq!(judge(&probes[0], &refused), None);
    }
}
