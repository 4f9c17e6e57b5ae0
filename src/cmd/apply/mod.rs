//! `rcptsync apply`: the root-side step on the gateway. Takes the map `receive` left in the
//! spool (or `--from FILE`), trusts none of it, and installs it into Postfix atomically.
//!
//! Security: runs as root; the spool is written by the unprivileged SSH account, so its
//! content is hostile input. The file is opened without following links and its handle
//! checked before a byte is read ([`crate::install::spool::Spooled`]); its payload header
//! must match its body; every line is validated again while the new map is built beside the
//! live one ([`crate::install::build`]), and a single bad line refuses the whole map (exit 3).
//! The guards are measured against the map installed now. The map that goes live is rendered
//! by rcptsync from the validated entries, never the received bytes, and it replaces the live
//! one only by rename ([`crate::install::swap`]). Addresses in domains the gateway does not
//! relay are reported.

mod guard;
mod outcome;
mod relay;
mod stale;

use std::path::Path;

use anyhow::Context as _;
use tracing::{error, info, warn};

pub use outcome::APPLIED_MAX;

use super::{Change, ExitStatus, Failure as _, Printer, Result};
use crate::install::approved;
use crate::install::build::{self, Built};
use crate::install::relay::Domains;
use crate::install::spool::{self, Spooled};
use crate::install::swap::Installer;
use crate::install::{self};
use crate::lock::Lock;
use crate::map::diff::{self, Previous, Summary};
use crate::map::with_suffix;
use crate::postfix::Postfix;
use crate::rules::guard::Limits;

/// What to apply.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Guards and dry run.
    pub change: Change,
    /// A map file to apply instead of the spooled one.
    pub from: Option<std::path::PathBuf>,
    /// Swap the live map with `PATH.prev` instead.
    pub rollback: bool,
    /// Only the freshness step ([`stale`]): the spooled map is left alone.
    pub freshness: bool,
}

/// What apply works with, resolved from the config (`cli/settings.rs`).
#[derive(Debug)]
pub struct Settings {
    /// `[install]`.
    pub install: install::Settings,
    /// `[safety]`: the guards, measured against the installed map.
    pub safety: Limits,
    /// This run's options.
    pub options: Options,
}

/// Runs apply, then records its outcome for `status` (not after a dry run).
pub fn run(settings: &Settings, printer: Printer) -> Result {
    let live = &settings.install.map.path;
    let dry_run = settings.options.change.dry_run;
    if settings.options.freshness {
        // A refused map waiting in the spool is not refused again (and reported) each time.
        return match dry_run {
            true => Ok(ExitStatus::Success),
            false => stale::check(&settings.install, false, false)
                .failure()
                .map(|()| ExitStatus::Success),
        };
    }
    let before = crate::map::state::file_mark(live).ok();
    let result = apply(settings, printer);
    if dry_run {
        return result;
    }
    let changed = crate::map::state::file_mark(live).ok() != before;
    outcome::record(live, changed, &result);
    let vouched = changed && settings.options.from.is_some() && !settings.options.rollback;
    // A payload this run refused (or could not read) vouches for nothing.
    let taken = matches!(result, Ok(ExitStatus::Success));
    match stale::check(&settings.install, taken, vouched) {
        Ok(()) => result,
        Err(e) => {
            error!("{e:#}");
            match result {
                Ok(ExitStatus::Success) => Ok(ExitStatus::Failure),
                other => other,
            }
        }
    }
}

/// A step's outcome: go on with what it made, or end the run with this status (the step has
/// said why).
enum Next<T> {
    Go(T),
    End(ExitStatus),
}

/// The value of a step that goes on; ends the run otherwise.
macro_rules! go {
    ($step:expr) => {
        match $step {
            Next::Go(value) => value,
            Next::End(status) => return Ok(status),
        }
    };
}

/// apply's steps: lock, open the map, skip it if it is installed, build, guard, install,
/// report.
fn apply(settings: &Settings, printer: Printer) -> Result {
    let (install, options) = (&settings.install, &settings.options);
    let change = &options.change;
    let postfix = Postfix::new(&install.postfix_config_dir);
    let installer = Installer::new(&install.map, &postfix, install.cdb_writer);
    let _lock = Lock::acquire(&with_suffix(&install.map.path, ".lock"))?;
    installer.remove_leftovers()?;
    if let Some(table) = &install.relay_domains {
        relay::installer(table, &postfix).remove_leftovers()?;
    }
    if options.rollback {
        return rollback(install, &installer, &postfix, change, printer);
    }

    let (mut spooled, source) = go!(open_checked(install, options.from.as_deref())?);
    let shown = spooled.path.display().to_string();
    // A rolled-back map stays rolled back: the map that was rolled back from is not installed
    // again until another one arrives (or it is given explicitly with --from).
    let rolled_back = installer
        .rolled_back_from()?
        .filter(|_| options.from.is_none());
    let table = install.relay_domains.as_ref();
    let domains = go!(relay::pending(table, &spooled, &postfix)?);
    if domains.is_none() && installer.is_current(&source)? {
        let count = spooled.header.as_ref().map(|h| h.count);
        printer.note(match count {
            Some(count) => format!("{}: {count} recipients, unchanged", install.map),
            None => format!("{}: unchanged", install.map),
        })?;
        return Ok(ExitStatus::Success);
    }
    if rolled_back.as_ref().is_some_and(|r| r.source == source) {
        warn!(
            "not installing {shown}: it is the map that was rolled back (apply --from FILE installs it anyway)"
        );
        return Ok(ExitStatus::Success);
    }

    let previous = Previous::open(&install.map.path)
        .context("read the installed map")
        .failure()?;
    let honoured = approved::honoured_path(&install.map.path);
    let now = crate::map::state::now();
    let carried = approved::check(&install.approval_keys, spooled.approval(), &honoured, now);
    let approved: Vec<&crate::hold::Removals> = carried
        .usable
        .iter()
        .map(|u| &u.approval.removals)
        .collect();
    let relay = domains.as_ref().map(relay::Pending::relay);
    let built = go!(build(
        settings,
        &installer,
        &mut spooled,
        &source,
        &previous,
        &approved,
        relay
    )?);
    let map_changed = !installer.has_text(&built.sha256)?;
    if !map_changed {
        if !change.dry_run {
            installer.note_source(&source, &built.sha256)?;
        }
        printer.note(format_args!(
            "{}: {} recipients, unchanged",
            install.map, built.count
        ))?;
        if domains.is_none() {
            return Ok(ExitStatus::Success);
        }
    } else if rolled_back.as_ref().is_some_and(|r| r.text == built.sha256) {
        warn!(
            "not installing {shown}: it is the map that was rolled back (apply --from FILE installs it anyway)"
        );
        return Ok(ExitStatus::Success);
    }
    go!(guard::check(settings, &built, &shown, &carried));
    // An approval is honoured once: by the first map installed that removes any address it
    // names, whether or not this gateway's guards needed it.
    let honour: Vec<&crate::hold::approval::Approval> = carried
        .naming(&built.approvals_hit)
        .map(|usable| &usable.approval)
        .collect();
    if !honour.is_empty() && !change.dry_run {
        approved::honour(&honour, &honoured, now)
            .context("record the approvals as honoured (nothing was installed)")
            .failure()?;
    }
    // Only a report, and only for a map the guards let through: a relay_domains that cannot
    // be read must not stop the install.
    if let Err(e) = relay::report_unrelayed(&postfix, &built, domains.as_ref().map(|d| d.relayed()))
    {
        warn!("could not compare the map's domains with relay_domains: {e:#}");
    }
    if let (Some(pending), Some(table)) = (&domains, table) {
        printer.line(pending.line(table))?;
    }
    let report = Report {
        map: &install.map,
        summary: built.summary,
        count: built.count,
    };
    if change.dry_run {
        if map_changed {
            report.print(&previous, &built.text, printer.verbose(), true, printer)?;
        }
        return Ok(ExitStatus::Success);
    }
    // The domains first: a table that cannot be installed leaves the map as it was too.
    // trivial-rewrite, which tells smtpd whether a domain is relayed, stays connected and
    // would answer from the old table for a while: a change of domains (rare) reloads.
    let mut relay_changed = false;
    if let (Some(pending), Some(table)) = (domains, table) {
        pending
            .install(table, &postfix)
            .with_context(|| format!("install {}", table.map))
            .failure()?;
        relay_changed = true;
    }
    if !map_changed {
        reload(install, &postfix, relay_changed)
            .context("the new relay domains are installed, but")
            .failure()?;
        return Ok(ExitStatus::Success);
    }
    installer
        .install(built, &source)
        .with_context(|| format!("install {}", install.map))
        .failure()?;
    reload(install, &postfix, relay_changed || install.needs_reload())
        .context("the new map is installed, but")
        .failure()?;
    report.print(
        &previous,
        &install.map.path,
        printer.verbose(),
        false,
        printer,
    )?;
    Ok(ExitStatus::Success)
}

/// The map to apply, opened and checked ([`open`]), with the digest of its body.
fn open_checked(
    install: &install::Settings,
    from: Option<&Path>,
) -> Result<Next<(Spooled, String)>> {
    let mut spooled = match open(install, from)? {
        Opened::Map(spooled) => *spooled,
        Opened::Refused => return Ok(Next::End(ExitStatus::Refused)),
        Opened::Empty => {
            return Err(super::Error::Failure(anyhow::anyhow!(
                "no map in the spool {}; push one with `rcptsync push`, or give one with --from FILE",
                install.spool.display()
            )));
        }
    };
    let shown = spooled.path.display().to_string();
    match spooled.digest() {
        Ok(source) => Ok(Next::Go((spooled, source))),
        Err(e) if e.is_refusal() => Ok(Next::End(refuse(&e.to_string(), &shown))),
        Err(e) => Err(super::Error::Failure(e.into())),
    }
}

/// Builds the new map beside the live one from the validated lines of `spooled` (whose body
/// has digest `source`); a bad line, or a body that changed while it was read, refuses it.
fn build(
    settings: &Settings,
    installer: &Installer<'_>,
    spooled: &mut Spooled,
    source: &str,
    previous: &Previous,
    approved: &[&crate::hold::Removals],
    relay: Option<(&Domains, &Domains)>,
) -> Result<Next<Built>> {
    let install = &settings.install;
    let shown = spooled.path.display().to_string();
    let line_offset = spooled
        .header
        .as_ref()
        .map_or(0, |h| h.text.lines().count() + 1);
    let pass = build::Pass {
        source: &spooled.path.clone(),
        line_offset,
        spec: &install.map,
        native_cdb: installer.native_cdb(),
        canaries: &settings.safety.canaries,
        open_domains: &install.internal_relay_domains,
        previous,
        approved,
        relay,
    };
    let mut body = spooled
        .body()
        .with_context(|| format!("read {shown}"))
        .failure()?;
    match build::run(&pass, &mut body)? {
        Ok(built) if body.digest() != source => {
            drop(built);
            Ok(Next::End(refuse(
                "the file changed while it was read (is a push still writing it?); nothing of \
                 it was used",
                &shown,
            )))
        }
        Ok(built) => Ok(Next::Go(built)),
        Err(problems) => {
            for problem in &problems.listed {
                error!("{problem}");
            }
            if problems.total > problems.listed.len() {
                error!(
                    "... and {} more invalid line(s)",
                    problems.total - problems.listed.len()
                );
            }
            Ok(Next::End(refuse(
                &format!("{} invalid line(s)", problems.total),
                &shown,
            )))
        }
    }
}

/// What [`open`] found.
enum Opened {
    /// A map to read.
    Map(Box<Spooled>),
    /// The spool holds no map.
    Empty,
    /// The file was refused for what it is (reported).
    Refused,
}

/// Opens the map to apply: `--from FILE` or the spooled one.
fn open(install: &install::Settings, from: Option<&Path>) -> Result<Opened> {
    let opened = match from {
        Some(path) => {
            // The spool's owner is the one account besides root whose files apply takes.
            let trusted = crate::fs::metadata(&install.spool)
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                .unwrap_or(0);
            Spooled::from_file(path, install.max_bytes, trusted).map(Some)
        }
        None => Spooled::from_spool(&install.spool, install.max_bytes).map(|(spooled, strays)| {
            for stray in strays {
                warn!(
                    "ignoring {stray} in the spool {}: apply takes only {}, which receive writes",
                    install.spool.display(),
                    spool::SPOOL_NAME
                );
            }
            spooled
        }),
    };
    match opened {
        Ok(Some(spooled)) => Ok(Opened::Map(Box::new(spooled))),
        Ok(None) => Ok(Opened::Empty),
        Err(e) if e.is_refusal() => {
            let shown = from.map_or_else(
                || install.spool.join(spool::SPOOL_NAME).display().to_string(),
                |p| p.display().to_string(),
            );
            refuse(&e.to_string(), &shown);
            Ok(Opened::Refused)
        }
        Err(e) => Err(crate::cmd::Error::Failure(e.into())),
    }
}

/// Reports a refused map and returns exit 3.
fn refuse(reason: &str, shown: &str) -> ExitStatus {
    error!("refusing to install {shown}: {reason}; the installed map is unchanged");
    ExitStatus::Refused
}

/// `--rollback`: swaps the live map with the previous one (or, with --dry-run, shows what
/// that would change).
fn rollback(
    install: &install::Settings,
    installer: &Installer<'_>,
    postfix: &Postfix,
    change: &Change,
    printer: Printer,
) -> Result {
    let before = Previous::open(&install.map.path)
        .context("read the installed map")
        .failure()?;
    let previous = installer.previous_path();
    if change.dry_run {
        print_diff(&install.map, &before, &previous, true, printer)?;
        return Ok(ExitStatus::Success);
    }
    installer.rollback()?;
    reload(install, postfix, install.needs_reload()).failure()?;
    warn!("rolled back {} to the previous map", install.map);
    print_diff(&install.map, &before, &install.map.path, false, printer)?;
    Ok(ExitStatus::Success)
}

/// Every `+`/`-` line of `before` → the map text at `after`, then the summary line, both
/// sides streamed (read back from their files; a hand-edited one out of order is loaded).
fn print_diff(
    map: &dyn std::fmt::Display,
    before: &Previous,
    after: &Path,
    dry_run: bool,
    printer: Printer,
) -> Result<()> {
    let after = Previous::open(after)
        .with_context(|| format!("read {}", after.display()))
        .failure()?;
    printer.diff(
        |each| Ok(diff::merge_sorted(before.keys()?, after.keys()?, each)?),
        |summary| {
            let count = summary.previous - summary.removed + summary.added;
            summary.line(map, count, dry_run.then_some("dry run, nothing installed"))
        },
    )
}

/// What apply prints about a change it made (or would make).
struct Report<'a> {
    map: &'a dyn std::fmt::Display,
    summary: Option<Summary>,
    count: usize,
}

impl Report<'_> {
    /// The summary line; with `list`, first every `+`/`-` line, read back from the new text
    /// at `new` against the `previous` map's handle, both as streams.
    fn print(
        &self,
        previous: &Previous,
        new: &Path,
        list: bool,
        dry_run: bool,
        printer: Printer,
    ) -> Result<()> {
        if list {
            return print_diff(self.map, previous, new, dry_run, printer);
        }
        let summary = self.summary.unwrap_or(Summary {
            added: self.count,
            ..Summary::default()
        });
        printer.line(summary.line(
            self.map,
            self.count,
            dry_run.then_some("dry run, nothing installed"),
        ))?;
        Ok(())
    }
}

/// `postfix reload` when `needed` (a changed table the daemons do not pick up by themselves)
/// and the config does not say never.
fn reload(install: &install::Settings, postfix: &Postfix, needed: bool) -> anyhow::Result<()> {
    if needed && install.reload != install::Reload::Never
        || install.reload == install::Reload::Always
    {
        if postfix.is_running()? {
            postfix.reload()?;
            info!("postfix reloaded");
        } else {
            info!("postfix is not running; the map takes effect when it starts");
        }
    }
    Ok(())
}
