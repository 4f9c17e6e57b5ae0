//! `rcptsync doctor`: the gateway's Postfix settings against the relay-gateway checklist.
//!
//! The checks are in [`crate::verify::doctor`]; this prints their findings the way Postfix
//! tools do (no output means no problems) and turns an error into exit 4, so that doctor can
//! run from cron or monitoring.

use std::path::Path;

use anyhow::Context as _;

use crate::cli::ExitStatus;
use crate::config::Config;
use crate::install::postfix::Postfix;
use crate::verify::doctor::{self, Severity};

/// Checks the Postfix instance in `config_dir`; `config` (if one was found) names the map
/// rcptsync installs, which relay_recipient_maps must use.
pub fn run(
    config: Option<&Config>,
    config_dir: &Path,
    verbose: bool,
) -> anyhow::Result<ExitStatus> {
    let install = config.and_then(|c| c.install.as_ref()).map(|i| &i.map);
    let postfix = Postfix::new(config_dir);
    let findings = doctor::examine(&postfix, config_dir, install).with_context(|| {
        format!(
            "cannot check the Postfix configuration in {}",
            config_dir.display()
        )
    })?;
    let paragraphs: Vec<String> = findings.iter().map(ToString::to_string).collect();
    if !paragraphs.is_empty() {
        println!("{}", paragraphs.join("\n\n"));
    }
    let count = |severity: Severity, word: &str| {
        let n = findings.iter().filter(|f| f.severity == severity).count();
        format!("{n} {word}{}", if n == 1 { "" } else { "s" })
    };
    if verbose {
        if findings.is_empty() {
            println!("doctor: no problems found in {}", config_dir.display());
        } else {
            println!(
                "\ndoctor: {}, {}, {} in {}",
                count(Severity::Error, "error"),
                count(Severity::Warning, "warning"),
                count(Severity::Note, "note"),
                config_dir.display()
            );
        }
    }
    Ok(if findings.iter().any(|f| f.severity == Severity::Error) {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    })
}
