//! `rcptsync doctor`: the gateway's Postfix settings against the relay-gateway checklist.
//!
//! The checks are in [`crate::verify::doctor`]; this prints their findings the way Postfix
//! tools do (no output means no problems) and turns an error into exit 4, so that doctor can
//! run from cron or monitoring.
//!
//! Security: reads Postfix's configuration through postconf and the map files it names;
//! changes nothing (every fix is printed for the admin to run).

use std::path::PathBuf;

use anyhow::Context as _;

use super::{ExitStatus, Failure as _, Printer, Result};
use crate::postfix::{MapSpec, Postfix};
use crate::verify::doctor::{self, Severity};

/// What to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// Postfix's configuration directory.
    pub config_dir: PathBuf,
    /// The map rcptsync installs (`[install].map`), when an rcptsync config was found:
    /// relay_recipient_maps must use it.
    pub install: Option<MapSpec>,
    /// `[install].backend_plus_addressing`: what the backend does with `user+tag@`.
    pub plus: Option<bool>,
    /// `[install].relay_domains_map`: relay_domains must name it.
    pub relay_table: Option<MapSpec>,
}

/// Checks the Postfix instance in `options.config_dir`.
pub fn run(options: &Options, printer: Printer) -> Result {
    let config_dir = &options.config_dir;
    let postfix = Postfix::new(config_dir);
    let rcptsync = doctor::Rcptsync {
        map: options.install.as_ref(),
        plus: options.plus,
        relay_table: options.relay_table.as_ref(),
    };
    let findings = doctor::examine(&postfix, config_dir, &rcptsync)
        .with_context(|| {
            format!(
                "cannot check the Postfix configuration in {}",
                config_dir.display()
            )
        })
        .failure()?;
    // Notes are advice, not problems: like a Postfix tool, no output means nothing to fix.
    let paragraphs: Vec<String> = findings
        .iter()
        .filter(|f| f.severity != Severity::Note || printer.verbose())
        .map(ToString::to_string)
        .collect();
    if !paragraphs.is_empty() {
        printer.line(paragraphs.join("\n\n"))?;
    }
    let count = |severity: Severity, word: &str| {
        let n = findings.iter().filter(|f| f.severity == severity).count();
        format!("{n} {word}{}", if n == 1 { "" } else { "s" })
    };
    if findings.is_empty() {
        printer.note(format_args!(
            "doctor: no problems found in {}",
            config_dir.display()
        ))?;
    } else {
        printer.note(format_args!(
            "{}doctor: {}, {}, {} in {}",
            if paragraphs.is_empty() { "" } else { "\n" },
            count(Severity::Error, "error"),
            count(Severity::Warning, "warning"),
            count(Severity::Note, "note"),
            config_dir.display()
        ))?;
    }
    Ok(if findings.iter().any(|f| f.severity == Severity::Error) {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    })
}
