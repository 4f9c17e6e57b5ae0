//! `rcptsync apply`: the root-side step on the gateway. Takes the newest map from the spool
//! (or `--from FILE`), trusts none of it, and installs it into Postfix atomically.
//!
//! Security: runs as root; the spool is written by the unprivileged SSH account, so its
//! content is hostile input. Every line is validated again ([`crate::install::validate`]);
//! a single bad line refuses the whole map (exit 3). The guards are measured against the map
//! installed now. The map that goes live is rendered by rcptsync from the validated entries,
//! never the received bytes, and it is written only by [`crate::install::swap`]: beside the
//! live map, then renamed over it. Addresses in domains the gateway does not relay are
//! reported.

use std::path::Path;

use anyhow::Context as _;
use tracing::{error, info, warn};

use super::{Change, ExitStatus, Printer, Result, report_guards};
use crate::config::Config;
use crate::install::swap::Installer;
use crate::install::{self, spool, validate};
use crate::lock::Lock;
use crate::map::diff::{self, Previous};
use crate::map::digest::sha256_hex;
use crate::map::keys::KeySet;
use crate::map::{text, with_suffix};
use crate::postfix::Postfix;
use crate::postfix::settings::{RelayDomains, unrelayed};
use crate::rules::guard::{Proposal, Verdict};

/// What to apply.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Guards and dry run.
    pub change: Change,
    /// A map file to apply instead of the spool's newest.
    pub from: Option<std::path::PathBuf>,
    /// Swap the live map with `PATH.prev` instead.
    pub rollback: bool,
}

/// Runs apply.
pub fn run(config: &Config, options: &Options, printer: Printer) -> Result {
    let install = config.install()?;
    let change = &options.change;
    let postfix = Postfix::new(&install.postfix_config_dir);
    let installer = Installer::new(&install.map, &postfix, install.cdb_writer);
    let _lock = Lock::acquire(&with_suffix(&install.map.path, ".lock"))?;
    installer.remove_leftovers()?;
    // Loaded, not streamed: the live file is replaced before the change is printed.
    let before = Previous::load(&install.map.path).context("read the installed map")?;

    if options.rollback {
        return rollback(install, &installer, &postfix, &before, change, printer);
    }

    let source = match &options.from {
        Some(path) => path.clone(),
        None => spool::newest(&install.spool)
            .with_context(|| format!("read spool {}", install.spool.display()))?
            .with_context(|| {
                format!(
                    "no map in the spool {}; push one with `rcptsync push`, or give one with --from FILE",
                    install.spool.display()
                )
            })?,
    };
    let received = fs_err::read(&source)?;
    let entries = match validate::validate(&received, &source) {
        Ok(entries) => entries,
        Err(problems) => {
            for problem in &problems {
                error!("{problem}");
            }
            error!(
                "refusing to install {}: {} invalid line(s); the installed map is unchanged",
                source.display(),
                problems.len()
            );
            return Ok(ExitStatus::Refused);
        }
    };
    let new_text = text::render(entries.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if installer.is_current(&new_text)? {
        printer.note(format_args!(
            "{}: {} recipients, unchanged",
            install.map,
            entries.len()
        ))?;
        return Ok(ExitStatus::Success);
    }
    // A rolled-back map stays rolled back: the map that was rolled back from is not installed
    // again until another one arrives (or it is given explicitly with --from).
    let rolled_back = installer.rolled_back_from();
    if options.from.is_none() && rolled_back.as_deref() == Some(sha256_hex(&new_text).as_str()) {
        warn!(
            "not installing {}: it is the map that was rolled back (apply --from FILE installs it anyway)",
            source.display()
        );
        return Ok(ExitStatus::Success);
    }
    // Only a report: a relay_domains that cannot be read must not stop the install.
    if let Err(e) = report_unrelayed(&postfix, &entries) {
        warn!("could not compare the map's domains with relay_domains: {e:#}");
    }
    let keys: KeySet = entries.keys().map(String::as_str).collect();
    let summary = before.merge(&keys, |_, _| {})?;
    let proposal = Proposal {
        count: keys.len(),
        sourced: keys.len(),
        previous: summary.map(|s| (s.previous, s.removed)),
    };
    let verdict = Verdict::new(
        &config.safety,
        &proposal,
        |k| entries.contains_key(k),
        change.force,
    );
    report_guards(
        &verdict,
        &format!(
            "refusing to install {} into {}; the installed map is unchanged",
            source.display(),
            install.map
        ),
    );
    if !verdict.allows() {
        return Ok(ExitStatus::Refused);
    }
    if change.dry_run {
        print_change(
            &install.map,
            &before,
            &keys,
            printer.verbose(),
            true,
            printer,
        )?;
        return Ok(ExitStatus::Success);
    }

    // The probe: a canary if there is one (it is what must work), else the first entry.
    let probe = config
        .safety
        .canaries
        .iter()
        .find_map(|c| entries.get_key_value(c))
        .or_else(|| entries.iter().next())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .unwrap_or(("", ""));
    let pairs: Vec<(&str, &str)> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    installer
        .install(&new_text, &pairs, probe)
        .with_context(|| format!("install {}", install.map))?;
    reload(install, &postfix).context("the new map is installed, but")?;
    print_change(
        &install.map,
        &before,
        &keys,
        printer.verbose(),
        false,
        printer,
    )?;
    Ok(ExitStatus::Success)
}

/// `--rollback`: swaps the live map with the previous one (or, with --dry-run, shows what
/// that would change).
fn rollback(
    install: &install::Settings,
    installer: &Installer<'_>,
    postfix: &Postfix,
    before: &Previous,
    change: &Change,
    printer: Printer,
) -> Result {
    let previous = installer.previous_path();
    if change.dry_run {
        let keys = keys_of(&fs_err::read(&previous)?, &previous)?;
        print_change(&install.map, before, &keys, true, true, printer)?;
        return Ok(ExitStatus::Success);
    }
    let live_text = fs_err::read(&install.map.path).ok();
    let restored = installer.rollback()?;
    installer.remember_rollback(live_text.as_deref().unwrap_or_default())?;
    let keys = keys_of(&restored, &install.map.path)?;
    reload(install, postfix)?;
    warn!("rolled back {} to the previous map", install.map);
    print_change(&install.map, before, &keys, true, false, printer)?;
    Ok(ExitStatus::Success)
}

fn keys_of(text: &[u8], path: &Path) -> Result<KeySet> {
    let keys = text::keys(text, path)?;
    Ok(keys.iter().map(String::as_str).collect())
}

/// Warns about addresses in domains the gateway does not relay: they are harmless in the map
/// but point at a mismatch between the directory and the gateway's relay_domains.
fn report_unrelayed(postfix: &Postfix, entries: &validate::Entries) -> anyhow::Result<()> {
    let relay = RelayDomains::read(postfix)?;
    let missing = unrelayed(entries.keys().map(String::as_str), |domain| {
        relay.covers(postfix, domain)
    })?;
    if !missing.is_empty() {
        let listed: Vec<String> = missing
            .iter()
            .map(|(domain, count)| format!("{domain} ({count})"))
            .collect();
        warn!(
            "the map has addresses in domains this gateway does not relay (not in relay_domains): {}",
            listed.join(", ")
        );
    }
    Ok(())
}

fn reload(install: &install::Settings, postfix: &Postfix) -> anyhow::Result<()> {
    if install.needs_reload() {
        if postfix.is_running()? {
            postfix.reload()?;
            info!("postfix reloaded");
        } else {
            info!("postfix is not running; the map takes effect when it starts");
        }
    }
    Ok(())
}

/// Prints the summary line (and with `list` the `+`/`-` lines) of `before` → `after`.
fn print_change(
    map: &dyn std::fmt::Display,
    before: &Previous,
    after: &KeySet,
    list: bool,
    dry_run: bool,
    printer: Printer,
) -> Result<()> {
    let mut stdout = printer.out();
    let mut written = Ok(());
    let summary = before
        .merge(after, |side, key| {
            if list && written.is_ok() {
                written = diff::write_line(stdout.writer(), side, key);
            }
        })?
        .unwrap_or(diff::Summary {
            added: after.len(),
            ..diff::Summary::default()
        });
    written.map_err(super::printer::Error)?;
    stdout.line(summary.line(
        map,
        after.len(),
        dry_run.then_some("dry run, nothing installed"),
    ))?;
    stdout.finish()?;
    Ok(())
}
