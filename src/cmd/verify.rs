//! `rcptsync verify`: asks the gateway over SMTP what it would do with mail for addresses
//! whose answer is known, and compares.
//!
//! For each accepted domain a random address that cannot exist must be refused (5xx): if it
//! is accepted, the gateway relays mail for invalid recipients (the problem rcptsync exists
//! to solve). Every canary must be accepted (250): if not, the map is missing or incomplete.
//! The dialogue is EHLO, MAIL FROM:<>, RCPT TO for each address, RSET, QUIT; never DATA.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use crate::cli::ExitStatus;
use crate::config::{Config, DomainSetting};
use crate::map::payload::sha256_hex;
use crate::smtp::Session;

/// Runs verify against `smtp` (HOST:PORT); `starttls` is Some(CA file or None for the system
/// store) when the session is to be encrypted first.
pub fn run(
    config: &Config,
    smtp: &str,
    starttls: Option<Option<&Path>>,
) -> anyhow::Result<ExitStatus> {
    let canaries = &config.safety.canaries;
    let mut domains: Vec<String> = match config.recipients.as_ref().map(|r| &r.domains) {
        Some(DomainSetting::Listed(accepted)) => accepted.names().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    for canary in canaries {
        if let Some((_, domain)) = canary.rsplit_once('@') {
            domains.push(domain.to_owned());
        }
    }
    domains.sort();
    domains.dedup();
    if domains.is_empty() {
        anyhow::bail!(crate::config::Error::Invalid {
            path: config.path.clone(),
            key: "[recipients].domains / [safety].canaries".into(),
            message: "verify needs accepted domains or canaries to know what to ask".into(),
        });
    }

    let tag = sha256_hex(format!("{:?}{}", SystemTime::now(), std::process::id()).as_bytes());
    let mut probes: Vec<(String, bool)> = domains
        .iter()
        .map(|d| (format!("rcptsync-verify-{}@{d}", &tag[..12]), false))
        .collect();
    probes.extend(canaries.iter().map(|c| (c.clone(), true)));

    let mut session = Session::connect(smtp, Duration::from_secs(15))?;
    let helo = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let ehlo = session.ehlo(&helo)?;
    if let Some(ca_file) = starttls {
        if !ehlo.text.to_ascii_uppercase().contains("STARTTLS") {
            anyhow::bail!("{smtp} does not offer STARTTLS");
        }
        let tls = crate::tls::client_config(crate::tls::roots(ca_file)?)?;
        session.starttls(tls)?;
        session.ehlo(&helo)?;
    }
    let mail = session.command("MAIL FROM:<>")?;
    if mail.code != 250 {
        anyhow::bail!("{smtp} refused MAIL FROM:<> ({mail}); cannot probe recipients");
    }

    let mut problems = 0;
    for (address, should_exist) in &probes {
        let reply = session
            .command(&format!("RCPT TO:<{address}>"))
            .with_context(|| format!("probe {address}"))?;
        let verdict = match (should_exist, reply.code / 100) {
            (true, 2) => "ok",
            (false, 5) => "ok",
            (true, 4) | (false, 4) => {
                "PROBLEM (temporary failure: is the map missing or unreadable?)"
            }
            (true, _) => "PROBLEM (a canary is refused: the map is missing addresses)",
            (false, _) => {
                "PROBLEM (an address that does not exist is accepted: the gateway relays mail for invalid recipients)"
            }
        };
        if verdict != "ok" {
            problems += 1;
        }
        let expected = if *should_exist {
            "must be accepted"
        } else {
            "must be refused"
        };
        println!("{verdict}: {address} ({expected}): {reply}");
    }
    let _ = session.command("RSET");
    session.quit();
    if problems > 0 {
        println!("verify: {problems} of {} answers were wrong", probes.len());
        Ok(ExitStatus::Problems)
    } else {
        Ok(ExitStatus::Success)
    }
}
