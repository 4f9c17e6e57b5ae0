//! `rcptsync verify`: the SMTP probe ([`crate::verify::probe`]) against a gateway, each
//! answer printed with its verdict.
//!
//! Security: runs as any user; it sends EHLO, MAIL FROM:<>, RCPT TO and QUIT, never DATA, so
//! a probe can never deliver a message. STARTTLS verifies the certificate.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::{ExitStatus, Printer, Result};
use crate::map::digest::sha256_hex;
use crate::verify::probe::{self, Kind, Target};
use crate::verify::smtp;

/// Whom to probe, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// `HOST[:PORT]` of the SMTP server (port 25 when none is given).
    pub smtp: String,
    /// Upgrade with STARTTLS first: Some(CA file, or None for the system trust store).
    pub starttls: Option<Option<PathBuf>>,
}

/// What verify asks about, resolved from the config (`cli/settings.rs`): at least one
/// of the three is not empty.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The accepted domains the config lists (none with `domains = "exchange"`).
    pub domains: Vec<String>,
    /// The open domains: `internal_relay`, and on a gateway the installed map's `@domain`
    /// lines ([`installed_open_domains`]).
    pub open: Vec<String>,
    /// `[safety].canaries`.
    pub canaries: Vec<String>,
    /// `[install].backend_plus_addressing`: whether a canary with a `+tag` must be accepted.
    pub plus: Option<bool>,
    /// Whom to probe, and how.
    pub options: Options,
}

/// Runs verify.
pub fn run(settings: &Settings, printer: Printer) -> Result {
    let (domains, open, canaries) = (&settings.domains, &settings.open, &settings.canaries);
    let options = &settings.options;
    let tag = sha256_hex(format!("{:?}{}", SystemTime::now(), std::process::id()).as_bytes());
    let probes = probe::plan(domains, open, canaries, &tag[..12], settings.plus);
    let helo = crate::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let address = smtp::with_default_port(&options.smtp, smtp::DEFAULT_PORT);
    let target = Target {
        address: &address,
        helo: &helo,
        starttls: options.starttls.as_ref().map(Option::as_deref),
        timeout: Duration::from_secs(15),
    };
    let replies = probe::run(&target, &probes)?;

    let mut problems = 0;
    let mut out = printer.out();
    for (probe, reply) in probes.iter().zip(&replies) {
        let verdict = match probe::judge(probe, reply) {
            // Only the wrong answers (none when all are right, like doctor); -v lists all.
            None if !printer.verbose() => continue,
            None => "ok".to_owned(),
            Some(problem) => {
                problems += 1;
                format!("PROBLEM ({problem})")
            }
        };
        let expected = match (probe.must_exist, probe.kind) {
            (true, Kind::Open) => "must be accepted: an open domain",
            (true, Kind::Tagged) => "must be accepted: the backend takes +tags",
            (false, Kind::Tagged) => "must be refused: the backend has no plus addressing",
            (true, _) => "must be accepted",
            (false, _) => "must be refused",
        };
        out.line(format_args!(
            "{verdict}: {} ({expected}): {reply}",
            probe.address
        ))?;
    }
    if problems > 0 {
        out.line(format_args!(
            "verify: {problems} of {} answers were wrong",
            probes.len()
        ))?;
    }
    out.finish()?;
    Ok(if problems > 0 {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    })
}

/// The domains the installed map at `path` opens (its `@domain` keys). Keys are sorted, so the
/// reading stops at the first key past them; a map that cannot be read opens nothing (verify
/// then reports what the gateway answers).
pub fn installed_open_domains(path: &std::path::Path) -> Vec<String> {
    let Ok(Some(keys)) = crate::map::text::SortedKeys::open(path) else {
        return Vec::new();
    };
    keys.map_while(|key| key.ok())
        .take_while(|key| key.as_bytes().first().is_some_and(|&b| b <= b'@'))
        .filter_map(|key| key.strip_prefix('@').map(str::to_owned))
        .collect()
}
