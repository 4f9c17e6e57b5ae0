//! `rcptsync extract`: sources → recipient rules → safety guards → map file + diff.
//!
//! Runs unprivileged: it needs read access to the directory and write access to the output
//! directory only. The order matters: every source is read completely before anything is
//! compared or written, so a failing source aborts the run with the old map untouched; the
//! guards run before the write; the write is atomic ([`crate::map::atomic`]).
//!
//! Before reading anything, the sources' change marks are compared with the snapshot of the
//! last full run ([`crate::source::snapshot`]): when nothing moved, the map is still right
//! and the run ends there, silently.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tracing::{error, info, warn};

use crate::cli::ExitStatus;
use crate::cli::args::{Change, Extraction as Args};
use crate::config::{Config, DomainSetting, Extraction, Source, SourceKind};
use crate::lock::Lock;
use crate::map::diff::{self, Summary};
use crate::map::keys::KeySet;
use crate::map::{atomic, text, with_suffix};
use crate::rules::domains::AcceptedDomains;
use crate::rules::{Collector, Rules, guard};
use crate::source::snapshot::{self, Snapshot};
use crate::source::{ldap, ldif, list};

/// Runs extract; `verbose` prints a summary even when nothing changed.
pub fn run(config: &Config, args: &Args, verbose: bool) -> anyhow::Result<ExitStatus> {
    let parts = config.extraction()?;
    let out = &parts.output.path;
    let change = &args.change;
    let _lock = if change.dry_run && !out.exists() {
        None
    } else {
        prepare_dir(out)?;
        Some(Lock::acquire(&with_suffix(out, ".lock"))?)
    };

    // Connect to the directories first: their change marks decide whether to read them.
    let mut connections = Vec::new();
    let mut snapshot = Snapshot {
        config: crate::map::payload::sha256_hex(&fs_err::read(&config.path)?),
        sources: Default::default(),
        map: snapshot::file_mark(out).unwrap_or_default(),
        full_at: snapshot::now(),
    };
    let mut all_marked = true;
    for source in parts.sources {
        let context = || format!("source {}", source.name);
        let (connection, mark) = match &source.kind {
            SourceKind::Ldap(l) => {
                let mut connection = ldap::connect(l).with_context(context)?;
                // A mark that cannot be read only costs the shortcut: search in full.
                let mark = connection.change_mark(&l.base_dn).unwrap_or_else(|e| {
                    warn!(
                        "source {}: cannot read the change mark ({e}); searching in full",
                        source.name
                    );
                    None
                });
                (Some(connection), mark)
            }
            SourceKind::Ldif(path) | SourceKind::List(path) => {
                (None, snapshot::content_mark(path).ok())
            }
        };
        all_marked &= mark.is_some();
        snapshot
            .sources
            .insert(source.name.clone(), mark.unwrap_or_default());
        connections.push(connection);
    }
    let state = with_suffix(out, ".state");
    if !args.full
        && all_marked
        && let Some(saved) = Snapshot::read(&state)
        && snapshot.unchanged_since(&saved, config.full_every)
    {
        if verbose {
            println!(
                "{}: unchanged (the sources report no change since the last full run)",
                out.display()
            );
        }
        return Ok(ExitStatus::Success);
    }
    let status = full_run(config, &parts, connections, change, verbose)?;
    if status == ExitStatus::Success && !change.dry_run {
        snapshot.map = snapshot::file_mark(out)?;
        snapshot.full_at = snapshot::now();
        snapshot.write(&state)?;
    }
    Ok(status)
}

/// Reads every source and installs the result; `connections` holds the LDAP sources'
/// connections, in source order (None for the others).
fn full_run(
    config: &Config,
    parts: &Extraction<'_>,
    mut connections: Vec<Option<ldap::Connection>>,
    change: &Change,
    verbose: bool,
) -> anyhow::Result<ExitStatus> {
    let out = &parts.output.path;
    // With domains = "exchange" the first LDAP source also tells the accepted domains.
    let accepted = match &parts.recipients.domains {
        DomainSetting::Listed(accepted) => accepted.clone(),
        DomainSetting::Exchange => {
            let Some((source, connection)) = parts
                .sources
                .iter()
                .zip(connections.iter_mut())
                .find_map(|(s, c)| c.as_mut().map(|c| (s, c)))
            else {
                anyhow::bail!("recipients.domains = \"exchange\" needs a kind = \"ldap\" source");
            };
            let names = connection
                .accepted_domains()
                .with_context(|| format!("source {}: accepted domains", source.name))?;
            AcceptedDomains::new(names)
        }
    };

    let rules = Rules {
        accepted,
        excluded: parts.recipients.excluded.clone(),
        skip_auth_required: parts.recipients.skip_auth_required,
        use_mail_attribute: parts.recipients.use_mail_attribute,
    };
    let mut collector = Collector::new(&rules);
    for (source, connection) in parts.sources.iter().zip(connections) {
        read_source(source, connection, &mut collector)
            .with_context(|| format!("source {}", source.name))?;
    }
    let (mut recipients, stats, rejections) = collector.finish();
    let sourced = recipients.len();
    if !parts.recipients.extra.is_empty() {
        for address in &parts.recipients.extra {
            recipients.push(address);
        }
        recipients.finish();
    }
    for rejection in &rejections {
        warn!("{rejection}");
    }
    info!(
        "{} entries read; left out: {} requiring authenticated senders, {} non-SMTP proxy addresses, \
         {} outside the accepted domains, {} in excluded domains, {} invalid",
        stats.entries,
        stats.auth_required,
        stats.other_types,
        stats.foreign,
        stats.excluded,
        rejections.len()
    );

    let value = parts.output.value.as_str();
    if text::same_as_file(out, &recipients, value)? {
        if verbose {
            println!(
                "{}: {} recipients, unchanged",
                out.display(),
                recipients.len()
            );
        }
        return Ok(ExitStatus::Success);
    }
    let old = OldMap::open(out)?;
    let summary = old.diff(&recipients, |_, _| {})?;
    let proposal = guard::Proposal {
        count: recipients.len(),
        sourced,
        previous: summary.map(|s| (s.previous, s.removed)),
    };
    let violations = guard::check(&config.safety, &proposal, |k| recipients.contains(k));
    let forced = change.force && violations.iter().all(guard::Violation::overridable);

    if change.dry_run || violations.is_empty() || forced {
        // Buffered: stdout is line-buffered, and a first run prints a line per recipient.
        let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        old.diff(&recipients, |side, key| {
            let _ = diff::write_line(&mut stdout, side, key);
        })?;
        let summary = summary.unwrap_or(Summary {
            added: recipients.len(),
            ..Summary::default()
        });
        let _ = writeln!(
            stdout,
            "{}: {} recipients, {} added, {} removed{}",
            out.display(),
            recipients.len(),
            summary.added,
            summary.removed,
            if change.dry_run {
                " (dry run, nothing written)"
            } else {
                ""
            }
        );
        let _ = stdout.flush();
    }
    if !violations.is_empty() {
        if forced {
            for violation in &violations {
                error!("--force overrides safety guard: {violation}");
            }
        } else {
            for violation in &violations {
                if violation.overridable() {
                    error!("safety guard: {violation}");
                } else {
                    error!("safety guard: {violation} (--force cannot override this)");
                }
            }
            error!(
                "refusing to replace {}, which is unchanged; check the sources, or run again with --force if this change is intended",
                out.display()
            );
            return Ok(ExitStatus::Refused);
        }
    }
    if change.dry_run {
        return Ok(ExitStatus::Success);
    }
    atomic::write_with(out, 0o644, |w| text::write_map(&recipients, value, w))?;
    Ok(ExitStatus::Success)
}

/// The map being replaced, compared with the new one key by key. rcptsync writes maps sorted,
/// so they are streamed; a map edited by hand into another order is read whole instead.
enum OldMap {
    /// There is none (a first run).
    Missing,
    /// Sorted: streamed from the file on every pass.
    Sorted(PathBuf),
    /// Out of order: its keys, sorted here.
    Loaded(KeySet),
}

impl OldMap {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let Some(keys) = text::SortedKeys::open(path)? else {
            return Ok(Self::Missing);
        };
        for key in keys {
            match key {
                Ok(_) => {}
                Err(e) if e.unsorted => {
                    let text = fs_err::read(path)?;
                    let keys = text::keys(&text, path)?;
                    return Ok(Self::Loaded(keys.iter().map(String::as_str).collect()));
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(
                        "read the current map to compare against (fix or remove the line; removing \
                     the file also disables the removal guards for one run)",
                    ));
                }
            }
        }
        Ok(Self::Sorted(path.to_owned()))
    }

    /// One merge pass; None when there is no old map.
    fn diff(
        &self,
        new: &KeySet,
        each: impl FnMut(diff::Side, &str),
    ) -> anyhow::Result<Option<Summary>> {
        Ok(match self {
            Self::Missing => {
                let mut each = each;
                for key in new.iter() {
                    each(diff::Side::Added, key);
                }
                None
            }
            Self::Sorted(path) => {
                let keys = text::SortedKeys::open(path)?
                    .ok_or_else(|| anyhow::anyhow!("{} disappeared", path.display()))?;
                Some(diff::merge(keys, new, each)?)
            }
            Self::Loaded(old) => Some(diff::merge(
                old.iter().map(Ok::<_, text::Error>),
                new,
                each,
            )?),
        })
    }
}

fn read_source(
    source: &Source,
    connection: Option<ldap::Connection>,
    collector: &mut Collector<'_>,
) -> anyhow::Result<()> {
    let before = collector.stats().entries;
    match &source.kind {
        SourceKind::Ldif(path) => {
            for entry in ldif::Reader::open(path)? {
                collector.entry(&entry?);
            }
        }
        SourceKind::List(path) => {
            list::read(path, |line, address| {
                collector.listed(&format!("{}:{line}", path.display()), address);
            })?;
        }
        SourceKind::Ldap(config) => {
            ldap::read(config, connection, |entry| collector.entry(entry))?;
        }
    }
    info!(
        "source {}: {} entries",
        source.name,
        collector.stats().entries - before
    );
    Ok(())
}

/// The output directory is created on first use, as `install -d` would.
fn prepare_dir(out: &Path) -> anyhow::Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        fs_err::create_dir_all(dir)?;
        info!("created {}", dir.display());
    }
    Ok(())
}
