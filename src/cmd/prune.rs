//! `rcptsync prune`: removes proxyAddresses values in excluded domains from the directory (the
//! legacy script's `delExcludes`), as a separate, deliberate step instead of a side effect of
//! every extraction.
//!
//! A dry run by default: it lists each DN and value. With `--apply` it first writes an undo
//! LDIF (for `ldapmodify`), then deletes each value with its own LDAP modify `delete` of that
//! one value, never replacing the attribute, so concurrent changes to the other values are
//! safe. A primary address (`SMTP:` in capitals) is never removed, only reported: the entry
//! needs another primary first. The first failure stops the run; the undo LDIF is then
//! rewritten to hold exactly the values that were removed.
//!
//! The directory work (the search, the undo LDIF, the removals) is in [`crate::prune`]; this
//! is the command around it.
//!
//! Security: needs a bind account with write access to proxyAddresses; nothing else does.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tracing::{error, warn};

use super::{ExitStatus, Failure as _, Printer, Result};
use crate::map::atomic;
use crate::prune::{self, Removal};
use crate::rules::domains::ExcludedDomains;
use crate::source::ldap::{self, LdapSourceConfig};

/// What prune does.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Really change the directory.
    pub apply: bool,
    /// Where to write the undo LDIF (default: `rcptsync-prune-undo-TIME.ldif`).
    pub undo: Option<PathBuf>,
}

/// What prune works with, resolved from the config (`cli/settings.rs`).
#[derive(Debug)]
pub struct Settings {
    /// The first LDAP source's name: the directory prune changes.
    pub name: String,
    /// That source.
    pub source: LdapSourceConfig,
    /// `[recipients].exclude_domains`: the values to remove.
    pub excluded: ExcludedDomains,
    /// This run's options.
    pub options: Options,
}

/// Runs prune.
pub fn run(settings: &Settings, printer: Printer) -> Result {
    let options = &settings.options;
    let (apply, undo) = (options.apply, options.undo.as_deref());
    let (name, source, excluded) = (&settings.name, &settings.source, &settings.excluded);
    let credentials = credentials(name, source)?;
    let mut connection = ldap::connect(source, &credentials)
        .with_context(|| format!("source {name}"))
        .failure()?;

    let prune::Found {
        removable: removals,
        primaries,
    } = prune::find(&mut connection, source, excluded)
        .with_context(|| format!("source {name}"))
        .failure()?;

    // DNs and values are the directory's: quoted (escaped), so that a newline or an escape
    // sequence in one can neither forge a line of the listing or the cron mail nor reach a
    // terminal raw.
    for p in &primaries {
        warn!(
            "{:?}: {:?} is the primary address and is not removed; give the entry another primary address first",
            p.dn, p.value
        );
    }
    let mut out = printer.out();
    for r in &removals {
        out.line(format_args!("{:?}: {:?}", r.dn, r.value))?;
    }
    out.finish()?;
    if !apply {
        printer.line(format_args!(
            "{} value(s) in excluded domains would be removed (dry run; run with --apply to remove them)",
            removals.len()
        ))?;
        return Ok(ExitStatus::Success);
    }
    if removals.is_empty() {
        return Ok(ExitStatus::Success);
    }

    let undo_path = undo.map_or_else(default_undo_path, Path::to_owned);
    if undo_path.exists() {
        return Err(super::Error::Failure(anyhow::anyhow!(
            "{} exists (an earlier run's undo data?); move it away or choose another --undo",
            undo_path.display()
        )));
    }
    write_undo(&undo_path, &removals)
        .context("write the undo LDIF before changing anything")
        .failure()?;
    let outcome = prune::remove(&mut connection, &removals);
    if let Some(e) = outcome.failure {
        let done = outcome.removed;
        write_undo(&undo_path, &removals[..done]).failure()?;
        error!("{e}");
        error!(
            "stopped after removing {done} of {} value(s); {} restores the removed ones (ldapmodify -f {})",
            removals.len(),
            undo_path.display(),
            undo_path.display()
        );
        return Ok(ExitStatus::Failure);
    }
    printer.line(format_args!(
        "removed {} value(s); to undo: ldapmodify -H {} -D BIND_DN -W -f {}",
        removals.len(),
        connection.url(),
        undo_path.display()
    ))?;
    Ok(ExitStatus::Success)
}

/// Reads the bind password of LDAP source `name` before anything connects. Every way this
/// fails (a missing, open, foreign or special file, an empty or unset password) is the
/// admin's to fix, so it is a usage error (exit 2), decided here where it is read, with the
/// source named once in front of the one-sentence reason.
fn credentials(name: &str, source: &LdapSourceConfig) -> Result<ldap::Credentials> {
    source
        .credentials()
        .map_err(|e| super::Error::Usage(anyhow::Error::new(e).context(format!("source {name}"))))
}

fn default_undo_path() -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "");
    PathBuf::from(format!("rcptsync-prune-undo-{stamp}.ldif"))
}

/// The LDIF that adds the removed values back.
fn write_undo(path: &Path, removals: &[Removal]) -> anyhow::Result<()> {
    atomic::write(path, prune::undo_ldif(removals).as_bytes(), 0o600)?;
    Ok(())
}
