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
    /// What kind of address it is, for the verdict.
    pub kind: Kind,
}

/// What a probe asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A made-up address in a checked domain.
    MadeUp,
    /// A made-up address in an open domain.
    Open,
    /// A canary.
    Canary,
    /// A canary with a `+tag`: accepted exactly when the backend takes plus addressing.
    Tagged,
}

/// The probes for `domains`, `open` domains and `canaries`: one made-up address per domain
/// (the domains of the canaries included), tagged with `tag` so that it cannot exist and is
/// easy to find in the gateway's log, then the canaries; and when `plus` says whether the
/// backend takes plus addressing (`[install].backend_plus_addressing`), the first canary
/// without a `+` with a `+tag`.
pub fn plan(
    domains: &[String],
    open: &[String],
    canaries: &[String],
    tag: &str,
    plus: Option<bool>,
) -> Vec<Probe> {
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
            kind: if open { Kind::Open } else { Kind::MadeUp },
        }
    });
    let listed = canaries.iter().map(|c| Probe {
        address: c.clone(),
        must_exist: true,
        kind: Kind::Canary,
    });
    let tagged = plus.and_then(|plus| {
        let (local, domain) = canaries
            .iter()
            .filter_map(|c| c.rsplit_once('@'))
            .find(|(local, _)| !local.contains('+'))?;
        Some(Probe {
            address: format!("{local}+rcptsync-{tag}@{domain}"),
            must_exist: plus,
            kind: Kind::Tagged,
        })
    });
    made_up.chain(listed).chain(tagged).collect()
}

/// What a reply to a probe means; None when it is the right answer.
pub fn judge(probe: &Probe, reply: &Reply) -> Option<&'static str> {
    match (probe.must_exist, reply.code / 100, probe.kind) {
        (true, 2, _) | (false, 5, _) => None,
        (_, 4, _) => Some("temporary failure: is the map missing or unreadable?"),
        (true, _, Kind::Open) => Some(
            "an address in an open domain is refused: the map lacks its @domain line (is the \
             domain in [install].internal_relay_domains, and in relay_domains?)",
        ),
        (true, _, Kind::Tagged) => Some(
            "a canary with a +tag is refused, but [install].backend_plus_addressing says the \
             backend takes them: mail it would deliver is refused (recipient_delimiter lacks +; \
             see rcptsync doctor)",
        ),
        (false, _, Kind::Tagged) => Some(
            "a canary with a +tag is accepted, but [install].backend_plus_addressing says the \
             backend has no plus addressing: it bounces what the gateway accepted (backscatter; \
             recipient_delimiter has +, see rcptsync doctor)",
        ),
        (true, _, _) => Some("a canary is refused: the map is missing addresses"),
        (false, _, _) => Some(
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
            None,
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
    fn a_tagged_canary_is_asked_about_when_the_backend_is_known() {
        let canaries = ["a+b@example.com".to_owned(), "c@example.com".to_owned()];
        let probe = |plus| plan(&[], &[], &canaries, "t", plus).pop().unwrap();
        assert_eq!(
            probe(Some(true)),
            Probe {
                address: "c+rcptsync-t@example.com".into(),
                must_exist: true,
                kind: Kind::Tagged,
            }
        );
        assert!(!probe(Some(false)).must_exist);
        assert_eq!(probe(None).kind, Kind::Canary);
        let reply = |code| Reply {
            code,
            text: String::new(),
        };
        assert!(
            judge(&probe(Some(false)), &reply(250))
                .unwrap()
                .contains("backscatter")
        );
        assert!(
            judge(&probe(Some(true)), &reply(550))
                .unwrap()
                .contains("lacks +")
        );
        assert_eq!(judge(&probe(Some(false)), &reply(550)), None);
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
            kind: Kind::Canary,
        };
        let made_up = Probe {
            address: "m@x".into(),
            must_exist: false,
            kind: Kind::MadeUp,
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
            None,
        );
        assert_eq!(
            probes,
            [
                Probe {
                    address: "rcptsync-verify-t@example.com".into(),
                    must_exist: false,
                    kind: Kind::MadeUp,
                },
                Probe {
                    address: "rcptsync-verify-t@shared.example.com".into(),
                    must_exist: true,
                    kind: Kind::Open,
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
