//! `rcptsync apply`: the root-side step on the gateway. Takes the newest map from the spool
//! (or `--from FILE`), trusts none of it, and installs it into Postfix atomically.
//!
//! Every line is parsed again and every address validated with the same rules as extract; a
//! single bad line refuses the whole map (exit 3), because a map that was damaged or tampered
//! with on the way cannot be trusted in part. Addresses in domains the gateway does not relay
//! are reported. The safety guards are measured against the map installed now. The map that
//! goes live is rendered by rcptsync from the validated entries, never the received bytes.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use tracing::{error, info, warn};

use crate::cli::ExitStatus;
use crate::cli::args::Change;
use crate::config::{Config, Install, Reload};
use crate::install::apply::Installer;
use crate::install::postfix::Postfix;
use crate::install::spool;
use crate::lock::Lock;
use crate::map::keys::KeySet;
use crate::map::payload::sha256_hex;
use crate::map::{diff, text, with_suffix};
use crate::rules::{address, guard};

/// What to apply.
#[derive(Debug)]
pub struct Input<'a> {
    /// A map file to apply instead of the spool's newest.
    pub from: Option<&'a Path>,
    /// Swap the live map with `PATH.prev` instead.
    pub rollback: bool,
}

/// Runs apply.
pub fn run(
    config: &Config,
    change: &Change,
    input: &Input<'_>,
    verbose: bool,
) -> anyhow::Result<ExitStatus> {
    let install = config.install()?;
    let postfix = Postfix::new(&install.postfix_config_dir);
    let installer = Installer::new(&install.map, &postfix, install.cdb_writer);
    let _lock = Lock::acquire(&with_suffix(&install.map.path, ".lock"))?;
    installer.remove_leftovers()?;
    let before = installer.installed_text()?;
    let before_keys = before
        .as_deref()
        .map(|t| text::keys(t, &install.map.path))
        .transpose()
        .context("read the installed map")?;

    if input.rollback {
        if change.dry_run {
            let previous = fs_err::read(installer.previous_path())?;
            let keys = key_set(&text::keys(&previous, &installer.previous_path())?);
            print_change(
                &install.map.to_string(),
                before_keys.as_ref(),
                &keys,
                true,
                true,
            );
            return Ok(ExitStatus::Success);
        }
        let restored = installer.rollback()?;
        installer.remember_rollback(before.as_deref().unwrap_or_default())?;
        let keys = key_set(&text::keys(&restored, &install.map.path)?);
        reload(install, &postfix)?;
        warn!("rolled back {} to the previous map", install.map);
        print_change(
            &install.map.to_string(),
            before_keys.as_ref(),
            &keys,
            true,
            false,
        );
        return Ok(ExitStatus::Success);
    }

    let source = match input.from {
        Some(path) => path.to_owned(),
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
    let entries = match validate(&received, &source) {
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
        if verbose {
            println!("{}: {} recipients, unchanged", install.map, entries.len());
        }
        return Ok(ExitStatus::Success);
    }
    // A rolled-back map stays rolled back: the map that was rolled back from is not installed
    // again until another one arrives (or it is given explicitly with --from).
    let rolled_back = installer.rolled_back_from();
    if input.from.is_none() && rolled_back.as_deref() == Some(sha256_hex(&new_text).as_str()) {
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
    let proposal = guard::Proposal {
        count: keys.len(),
        sourced: keys.len(),
        previous: before_keys.as_ref().map(|b| {
            (
                b.len(),
                b.iter().filter(|k| !entries.contains_key(*k)).count(),
            )
        }),
    };
    let violations = guard::check(&config.safety, &proposal, |k| entries.contains_key(k));
    let forced = change.force && violations.iter().all(guard::Violation::overridable);
    if !violations.is_empty() {
        for violation in &violations {
            if forced {
                error!("--force overrides safety guard: {violation}");
            } else if violation.overridable() {
                error!("safety guard: {violation}");
            } else {
                error!("safety guard: {violation} (--force cannot override this)");
            }
        }
        if !forced {
            error!(
                "refusing to install {} into {}; the installed map is unchanged",
                source.display(),
                install.map
            );
            return Ok(ExitStatus::Refused);
        }
    }
    if change.dry_run {
        print_change(
            &install.map.to_string(),
            before_keys.as_ref(),
            &keys,
            verbose,
            true,
        );
        return Ok(if violations.is_empty() || forced {
            ExitStatus::Success
        } else {
            ExitStatus::Refused
        });
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
        &install.map.to_string(),
        before_keys.as_ref(),
        &keys,
        verbose,
        false,
    );
    Ok(ExitStatus::Success)
}

/// Parses and validates the received map; every problem is reported, not just the first.
fn validate(received: &[u8], source: &Path) -> Result<BTreeMap<String, String>, Vec<String>> {
    let lines = text::lines(received, source).map_err(|e| vec![e.to_string()])?;
    let mut entries = BTreeMap::new();
    let mut problems = Vec::new();
    for line in lines {
        let at = format!("{}:{}", source.display(), line.number);
        match address::normalize(line.key) {
            Err(reason) => problems.push(format!("{at}: {:?}: {reason}", line.key)),
            Ok(_)
                if line
                    .value
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace()) =>
            {
                problems.push(format!("{at}: value {:?} must be one word", line.value));
            }
            Ok(key) => {
                entries.entry(key).or_insert_with(|| line.value.to_owned());
            }
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

/// Warns about addresses in domains the gateway does not relay: they are harmless in the map
/// but point at a mismatch between the directory and the gateway's relay_domains.
fn report_unrelayed(postfix: &Postfix, entries: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let relay = postfix.relay_domains()?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for key in entries.keys() {
        let domain = key.rsplit_once('@').map_or("", |(_, d)| d);
        *counts.entry(domain).or_default() += 1;
    }
    let mut missing = Vec::new();
    for (domain, count) in counts {
        if !relay.covers(postfix, domain)? {
            missing.push(format!("{domain} ({count})"));
        }
    }
    if !missing.is_empty() {
        warn!(
            "the map has addresses in domains this gateway does not relay (not in relay_domains): {}",
            missing.join(", ")
        );
    }
    Ok(())
}

fn reload(install: &Install, postfix: &Postfix) -> anyhow::Result<()> {
    let needed = match install.reload {
        Reload::Auto => install.map.kind.needs_reload(),
        Reload::Always => true,
        Reload::Never => false,
    };
    if needed {
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
    map: &str,
    before: Option<&std::collections::BTreeSet<String>>,
    after: &KeySet,
    list: bool,
    dry_run: bool,
) {
    use std::io::Write as _;
    let old = before
        .into_iter()
        .flatten()
        .map(Ok::<_, std::convert::Infallible>);
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let Ok(summary) = diff::merge(old, after, |side, key| {
        if list {
            let _ = diff::write_line(&mut stdout, side, key);
        }
    });
    let _ = writeln!(
        stdout,
        "{map}: {} recipients, {} added, {} removed{}",
        after.len(),
        summary.added,
        summary.removed,
        if dry_run {
            " (dry run, nothing installed)"
        } else {
            ""
        }
    );
    let _ = stdout.flush();
}

fn key_set(keys: &std::collections::BTreeSet<String>) -> KeySet {
    keys.iter().map(String::as_str).collect()
}
