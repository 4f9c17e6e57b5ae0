//! `rcptsync extract`: sources → recipient rules → safety guards → map file + diff.
//!
//! Security: runs unprivileged, as the account that may read the directory; it writes only
//! the output map and the files beside it (`.lock`, `.state`), all in the output directory.
//! It trusts the directory's answers only as far as the recipient rules check them: every
//! value is validated, and a failed or partial read aborts the run with the old map
//! untouched.
//!
//! The order matters: every source is read completely before anything is compared or
//! written; the guards run before the write; the write is atomic ([`crate::map::atomic`]).
//! Before reading anything, the sources' change marks are compared with the snapshot of the
//! last full run ([`crate::map::state`]): when nothing moved, the map is still right and the
//! run ends there, silently. A source that replays changes (Graph's delta rounds) starts from
//! the cursor the last full run kept in the snapshot. Which kind a source is, is the
//! source's business ([`crate::source::Reader`]).

mod domains;
mod drift;
mod dump;
mod export;
mod full;
mod incremental;
mod origins;
mod record;
mod write;

use std::collections::BTreeSet;
use std::path::Path;

use tracing::{info, warn};

use super::metrics::Observed;
use super::{Change, ExitStatus, Printer, Result};
use crate::config::{Output, Recipients};
use crate::lock::Lock;
use crate::map::state::{self, Snapshot};
use crate::map::{atomic, digest, with_suffix};
use crate::rules::Rules;
use crate::rules::guard::Limits;
use crate::source::{Feed, Item, Read, Reader, Source};
use dump::Dump;
use origins::Old;
use write::conclude;

/// What extract works with: the parts of the config it uses, resolved and checked
/// (`cli/settings.rs`), and the options of this run.
#[derive(Debug)]
pub struct Settings {
    /// The config file: its digest marks the snapshot, so that an edited config reads in full.
    pub config: std::path::PathBuf,
    /// The sources, at least one, in the order given.
    pub sources: Vec<Source>,
    /// `[recipients]`.
    pub recipients: Recipients,
    /// `[output]`.
    pub output: Output,
    /// `[safety]`.
    pub safety: Limits,
    /// `[safety].full_every`.
    pub full_every: std::time::Duration,
    /// `[[export]]`: what is made from the map after it stands.
    pub exports: Vec<crate::export::Export>,
    /// This run's options.
    pub options: Options,
}

/// What to extract, besides the config.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Guards and dry run.
    pub change: Change,
    /// Search the directory even when it reports no change since the last full run.
    pub full: bool,
    /// Write the directory sources' entries as LDIF to this new file (`--dump-entries`).
    pub dump_entries: Option<std::path::PathBuf>,
    /// Leave the exports' commands to [`commands`], which sync and watch run once the map is
    /// on its way to the gateways: an upload must not hold the gateways back.
    pub defer_commands: bool,
}

/// Runs extract; the change it makes to the map is noted in `seen`, for the metrics.
pub fn run(settings: &Settings, printer: Printer, seen: &mut Observed) -> Result {
    let result = match read(settings, printer, seen) {
        // The map is in place; the export that failed said why, at error.
        Ok(ExitStatus::Success) if seen.exports_failed => Ok(ExitStatus::Failure),
        other => other,
    };
    if !settings.options.change.dry_run {
        // A change held for the first time is news (exit 3), but the map was written.
        let exit = match &result {
            Ok(status) => *status,
            Err(e) => e.status(),
        };
        // A map written with removals held, or with an export that failed, is current.
        let current = exit == ExitStatus::Success
            || (exit == ExitStatus::Refused && seen.held_news)
            || (exit == ExitStatus::Failure && seen.exports_failed);
        crate::map::ran::Ran::note(&settings.output.path, exit as u8, current);
    }
    result
}

/// Runs the exports' commands that are owed (after a run with
/// [`Options::defer_commands`]); whether all succeeded. Each failure is said at error, and
/// tried again by the next run.
pub fn commands(settings: &Settings) -> bool {
    export::make(settings, None, true)
}

/// The run itself: [`run`] records how it ended.
fn read(settings: &Settings, printer: Printer, seen: &mut Observed) -> Result {
    let options = &settings.options;
    // The bind passwords and Graph credentials first: a secret file that is refused is a
    // config error, found before the lock, the connections and the other sources.
    let mut readers = settings
        .sources
        .iter()
        .map(Source::reader)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let out = &settings.output.path;
    let change = &options.change;
    let _lock = lock(out, change.dry_run)?;

    // Connect to the directories first: their change marks decide whether to read them.
    let state_path = with_suffix(out, ".state");
    let saved = Snapshot::read(&state_path);
    let mut snapshot = Snapshot {
        config: digest::sha256_file(&settings.config)?,
        sources: Default::default(),
        map: state::file_mark(out).unwrap_or_default(),
        full_at: state::now(),
        delta: Default::default(),
        rejected: Default::default(),
        methods: Default::default(),
        cursors: Default::default(),
        drift: None,
    };
    let mut all_marked = true;
    for (source, reader) in settings.sources.iter().zip(&mut readers) {
        reader.open()?;
        // --full reads anyway: replaying the cursor would be wasted.
        let cursor = saved
            .as_ref()
            .and_then(|s| s.delta.get(&source.name))
            .filter(|_| !options.full);
        let mark = reader.change_mark(cursor);
        all_marked &= mark.is_some();
        snapshot
            .sources
            .insert(source.name.clone(), mark.unwrap_or_default());
    }
    // A held change is decided again even when the directory did not move, when an approval
    // came after it or --force overrides it: that is what changed.
    let modified = |path: &Path| crate::fs::metadata(path).and_then(|m| m.modified()).ok();
    let held = modified(&crate::hold::held_path(out));
    let approved = modified(&crate::hold::approval_path(out));
    let reevaluate = held.is_some_and(|held| change.force || approved.is_some_and(|a| a >= held));
    if !options.full
        && !reevaluate
        && options.dump_entries.is_none()
        && all_marked
        && let Some(saved) = &saved
        && snapshot.unchanged_since(saved, settings.full_every)
        && (change.dry_run || !export::need_read(settings))
    {
        printer.note(format_args!(
            "{}: unchanged (the sources report no change since the last full run)",
            out.display()
        ))?;
        if !change.dry_run {
            // A command that failed before runs again, though nothing changed.
            seen.exports_failed = !export::make(settings, None, !options.defer_commands);
        }
        return Ok(ExitStatus::Success);
    }
    let known = saved
        .as_ref()
        .map(|s| s.rejected.clone())
        .unwrap_or_default();
    let dump = options
        .dump_entries
        .as_deref()
        .map(Dump::create)
        .transpose()?;
    let (accepted, open) = domains::resolve(settings, &mut readers)?;
    let rules = Rules {
        accepted,
        excluded: settings.recipients.excluded.clone(),
        skip_auth_required: settings.recipients.skip_auth_required,
        use_mail_attribute: settings.recipients.use_mail_attribute,
    };
    let mut feeds = Vec::new();
    for reader in &mut readers {
        feeds.push(reader.feed()?);
    }
    let recorder = (export::records_origins(settings) && !change.dry_run)
        .then(|| std::cell::RefCell::new(record::Recorder::new(settings, &rules)));
    let run = Run {
        settings,
        rules: &rules,
        open: &open,
        feeds: &feeds,
        change,
        printer,
        known: &known,
        config: &snapshot.config,
        reevaluate,
        recorder: recorder.as_ref(),
    };
    let store_path = with_suffix(out, ".store");
    let usable = match options.full {
        // --full reads in full, spending nothing on the changes first.
        true => None,
        false => incremental::usable(&run, &store_path, dump.is_some()),
    };
    let outcome = match &usable {
        Some(usable) if !usable.due => {
            // redb asserts on some damaged pages: that is a damaged store, read in full.
            let read = crate::panic::catch(|| {
                incremental::run(&run, &mut readers, &usable.store, &usable.meta, seen)
            });
            match read {
                Ok(read) => read?,
                Err(panic) => {
                    warn!(
                        "store {}: {panic}; reading in full, which replaces it",
                        store_path.display()
                    );
                    None
                }
            }
        }
        _ => None,
    };
    let outcome = match (outcome, usable) {
        (Some(outcome), _) => outcome,
        (None, Some(usable)) if usable.due && !change.dry_run => {
            reconcile(&run, &mut readers, &usable, &store_path, seen, dump)?
        }
        (None, usable) => {
            let old = match &usable {
                Some(usable) => Old::Open(&usable.store),
                None => Old::At(&store_path),
            };
            full::run(&run, &mut readers, &store_path, old, seen, dump)?
        }
    };
    if outcome.stands && !change.dry_run {
        // A cursor now stands for what was read: the mark the read left says so.
        for (name, read) in outcome.reads {
            if let Some(mark) = read.mark {
                snapshot.sources.insert(name.clone(), mark);
            }
            if let Some(cursor) = read.cursor {
                snapshot.delta.insert(name, cursor);
            }
        }
        snapshot.rejected = outcome.rejected;
        snapshot.methods = outcome.methods;
        snapshot.cursors = outcome.cursors;
        snapshot.drift = outcome.drift.or(saved.as_ref().and_then(|s| s.drift));
        snapshot.map = state::file_mark(out)?;
        snapshot.full_at = outcome.full_at;
        crate::crash::point("extract:store-kept");
        snapshot.write(&state_path)?;
        let incremental = snapshot
            .methods
            .iter()
            .filter(|(_, method)| *method != "full")
            .map(|(name, _)| name.as_str())
            .collect();
        let read = record::Read {
            rules: &rules,
            recorder: recorder.as_ref(),
            incremental,
            store: &store_path,
        };
        seen.exports_failed = !export::make(settings, Some(read), !options.defer_commands);
    }
    Ok(outcome.status)
}

/// A full read that replaces a store incremental reads kept, checked against it
/// ([`drift`]).
fn reconcile(
    run: &Run<'_>,
    readers: &mut [Box<dyn Reader + '_>],
    usable: &incremental::Usable,
    store_path: &Path,
    seen: &mut Observed,
    dump: Option<Dump>,
) -> Result<Outcome> {
    // A store that cannot be caught up only costs the drift check.
    let before = drift::before(run, readers, &usable.store, &usable.meta).unwrap_or_else(|e| {
        warn!("{e}; no drift check");
        None
    });
    let old = match &before {
        Some(before) => before.old(),
        None => Old::Open(&usable.store),
    };
    let mut outcome = full::run(run, readers, store_path, old, seen, dump)?;
    if let Some(before) = before
        && outcome.stands
    {
        // The map and the store are in place: a check that fails is said, not the run.
        match drift::compare(run, readers, before, store_path) {
            Ok(drifted) => {
                outcome.drift = Some(drifted);
                seen.drift = Some(drifted);
            }
            Err(e) => warn!("the drift check failed: {e}"),
        }
    }
    Ok(outcome)
}

/// What every way of reading works with.
struct Run<'a> {
    settings: &'a Settings,
    /// The recipient rules, with the accepted domains of this run.
    rules: &'a Rules,
    /// The domains opened with an `@domain` line.
    open: &'a BTreeSet<String>,
    /// Each source's change feed, in source order.
    feeds: &'a [Option<Feed>],
    change: &'a Change,
    printer: Printer,
    /// The rejected values reported before.
    known: &'a BTreeSet<String>,
    /// The config file's digest.
    config: &'a str,
    /// Conclude even when no recipient changed (a held change may have been approved).
    reevaluate: bool,
    /// Where each address came from, recorded for the exports that say so.
    recorder: Option<&'a std::cell::RefCell<record::Recorder<'a>>>,
}

impl Run<'_> {
    /// What the store's meta data must say for the store to stand for this run's rules.
    fn domains_digest(&self) -> String {
        let text = format!("{:?} {:?}", self.rules.accepted, self.open);
        crate::map::digest::sha256_hex(text.as_bytes())
    }
}

/// Where each source of `meta` goes on from, as status shows it.
fn cursor_text(meta: &crate::store::Meta) -> std::collections::BTreeMap<String, String> {
    meta.sources
        .iter()
        .map(|(name, kept)| {
            let text = kept
                .cursor
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            (name.clone(), text)
        })
        .collect()
}

/// How a run that read went.
struct Outcome {
    status: ExitStatus,
    /// Whether the map is the one this read makes (written, held or unchanged): the store
    /// and the snapshot then stand for it.
    stands: bool,
    /// What each source's read left for the next run (Graph's cursors), by source name.
    reads: Reads,
    /// The rejected values now in the directory, by id.
    rejected: BTreeSet<String>,
    /// How each source was read (`full`, or its feed's method).
    methods: std::collections::BTreeMap<String, String>,
    /// Where each source with a feed goes on from, for status ([`cursor_text`]).
    cursors: std::collections::BTreeMap<String, String>,
    /// When the last full read was (now, or the store's).
    full_at: u64,
    /// How many objects a full reconcile found the incremental reads had wrong; None when
    /// this was no reconcile.
    drift: Option<usize>,
}

/// Takes the output's lock and removes what a killed run left; a dry run without a map yet
/// takes none (there is nothing to protect, and it must not create the directory).
fn lock(out: &Path, dry_run: bool) -> Result<Option<Lock>> {
    if dry_run && !out.exists() {
        return Ok(None);
    }
    prepare_dir(out)?;
    let lock = Lock::acquire_within(&with_suffix(out, ".lock"), crate::lock::WAIT)?;
    // Under the lock no other run writes here: a temporary file is a killed run's.
    if !dry_run {
        for leftover in atomic::remove_leftovers(out)? {
            info!(
                "removed {}, left by a run that was killed",
                leftover.display()
            );
        }
    }
    Ok(Some(lock))
}

/// Where keys came from (`SOURCE CONTAINER`), by key, as far as a run knows.
type Origins = std::collections::HashMap<String, String>;

/// What each source's full read left for the next run, by source name.
type Reads = Vec<(String, Read)>;

/// Reads one source, each item to `each`, to the run's record of origins when it keeps one,
/// and to the dump when there is one (a list's lines are a file already).
fn read_source(
    run: &Run<'_>,
    source: &Source,
    reader: &mut dyn Reader,
    mut dump: Option<&mut Dump>,
    each: &mut dyn FnMut(Item<'_>),
) -> std::result::Result<Read, crate::source::Error> {
    let mut items = 0usize;
    let read = reader.read(&mut |item| {
        items += 1;
        if let Some(recorder) = run.recorder {
            recorder.borrow_mut().item(&source.name, item);
        }
        if let (Some(dump), Item::Entry(entry) | Item::Object { entry, .. }) =
            (dump.as_deref_mut(), item)
        {
            dump.entry(entry);
        }
        each(item);
    })?;
    let entries = if items == 1 { "entry" } else { "entries" };
    info!("source {}: {items} {entries}", source.name);
    Ok(read)
}

/// The output directory is created on first use, as `install -d` would.
fn prepare_dir(out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        crate::fs::create_dir_all(dir)?;
        info!("created {}", dir.display());
    }
    Ok(())
}
