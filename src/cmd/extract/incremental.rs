//! The incremental read: each source with a change feed reads only what changed since the
//! cursor its store keeps ([`crate::store`]); the store takes each changed object's old keys
//! away and adds its new ones, and the map is the store's keys plus whatever the sources
//! without a feed give (read in full, as always), through the same guards, diff and atomic
//! write as a full read. The store is committed only after the map was written; a refused
//! or failed run leaves it as it was, so the next run reads the same changes again (a
//! refused change is never lost).

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use tracing::info;

use super::write::Concluded;
use super::{Origins, Outcome, Reads, Run, conclude, read_source};
use crate::cmd::metrics::Observed;
use crate::cmd::{ExitStatus, Result};
use crate::map::state;
use crate::rules::{Collector, Rejection};
use crate::source::{Change, Item, Reader};
use crate::store::{Meta, SourceMeta, Store, Tables};

/// A store that stands for this run.
pub(super) struct Usable {
    /// The store.
    pub(super) store: Store,
    /// What it stands for.
    pub(super) meta: Meta,
    /// A full read is due all the same (`[safety].full_every`, `--dump-entries`): it
    /// reconciles the store ([`super::drift`]).
    pub(super) due: bool,
}

/// The store at `path` and its meta data, if it stands for this run: the same config,
/// accepted domains and map, and every feed's server. Otherwise None, and the run reads in
/// full (saying why, with -v). `full` asks for a full read even so (a reconcile).
pub(super) fn usable(run: &Run<'_>, path: &Path, full: bool) -> Option<Usable> {
    if run.feeds.iter().all(Option::is_none) {
        return None;
    }
    let why = match Store::open(path) {
        Ok(Some((store, meta))) => match doubt(run, &meta) {
            None => {
                let age = state::now().checked_sub(meta.full_at);
                let old = age.is_none_or(|age| age >= run.settings.full_every.as_secs());
                if old {
                    info!("reading in full: the last full read is older than [safety].full_every");
                }
                return Some(Usable {
                    store,
                    meta,
                    due: full || old,
                });
            }
            Some(why) => why,
        },
        Ok(None) => "there is no store of a full read yet".to_owned(),
        Err(e) => {
            tracing::warn!("{e}; reading in full, which replaces it");
            return None;
        }
    };
    info!("reading in full: {why}");
    None
}

/// Why the store does not stand for this run, if it does not.
fn doubt(run: &Run<'_>, meta: &Meta) -> Option<String> {
    let out = &run.settings.output.path;
    if meta.version != env!("CARGO_PKG_VERSION") {
        return Some("the store was made by another version of rcptsync".into());
    }
    if meta.config != run.config {
        return Some("the config changed since the store was made".into());
    }
    if meta.domains != run.domains_digest() {
        return Some("the accepted domains changed since the store was made".into());
    }
    if state::file_mark(out).ok().as_deref() != Some(meta.map.as_str()) {
        return Some(format!(
            "{} is not the map the store stands for (written since by someone else, or the \
             last run was killed before it kept its store)",
            out.display()
        ));
    }
    let sources = &run.settings.sources;
    for (source, feed) in sources.iter().zip(run.feeds) {
        let kept = meta.sources.get(&source.name);
        match (feed, kept) {
            (Some(feed), Some(kept)) if kept.method != feed.method => {
                return Some(format!("source {}: the change feed changed", source.name));
            }
            (Some(feed), Some(kept)) if kept.identity != feed.identity => {
                return Some(format!(
                    "source {}: another server ({}; the store's cursor is for {})",
                    source.name, feed.identity, kept.identity
                ));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Some(format!(
                    "source {}: its change feed came or went",
                    source.name
                ));
            }
            _ => {}
        }
    }
    None
}

/// Reads the changes of every source with a feed (the others in full) and installs the
/// result; None when a source's cursor is no longer valid (then the caller reads in full).
pub(super) fn run(
    run: &Run<'_>,
    readers: &mut [Box<dyn Reader + '_>],
    store: &Store,
    meta: &Meta,
    seen: &mut Observed,
) -> Result<Option<Outcome>> {
    let settings = run.settings;
    let txn = match store.begin() {
        Ok(txn) => txn,
        Err(e) => return damaged(e),
    };
    let mut tables = match txn.tables() {
        Ok(tables) => tables,
        Err(e) => return damaged(e),
    };
    let mut apply = Apply::new(run.rules);
    let mut next = meta.clone();
    let mut methods = std::collections::BTreeMap::new();
    let mut reads = Reads::new();
    for ((source, reader), feed) in settings.sources.iter().zip(readers).zip(run.feeds) {
        let name = source.name.as_str();
        let Some(feed) = feed else {
            methods.insert(source.name.clone(), "full".to_owned());
            let read = read_source(run, source, reader.as_mut(), None, &mut |item| match item {
                Item::Entry(entry) | Item::Object { entry, .. } => apply.collector.entry(entry),
                Item::Listed { at, address } => apply.collector.listed(at, address),
            })?;
            reads.push((source.name.clone(), read));
            continue;
        };
        let Some(kept) = meta.sources.get(name) else {
            return Ok(None);
        };
        let Some(caught) = catch_up(reader.as_mut(), name, &kept.cursor, &mut tables, &mut apply)?
        else {
            return Ok(None);
        };
        info!(
            "source {name}: incremental ({}): {} changed object(s) read{}",
            feed.method,
            caught.changed,
            match caught.gone_unlisted {
                Some(gone) => format!(", {gone} gone (the server listed what is still there)"),
                None => String::new(),
            }
        );
        let changes = caught;
        methods.insert(source.name.clone(), feed.method.to_owned());
        // The cursor goes to the state file too: Graph's change mark replays it.
        let read = crate::source::Read {
            cursor: Some(changes.cursor.clone()),
            mark: None,
        };
        reads.push((source.name.clone(), read));
        next.sources.insert(
            source.name.clone(),
            SourceMeta {
                cursor: changes.cursor,
                ..kept.clone()
            },
        );
    }
    let (mut recipients, stats, rejections) = apply.collector.finish();
    // No key came or went, and every source is in the store: the map the store stands for
    // (checked by `usable`) is still right, and reading every key to compare would cost a
    // pass over the whole store for nothing.
    let unchanged =
        !tables.keys_changed() && run.feeds.iter().all(Option::is_some) && !run.reevaluate;
    if !unchanged {
        if let Err(e) = tables.keys_into(&mut recipients) {
            return damaged(e);
        }
        recipients.finish();
    }
    drop(tables);
    crate::crash::point("extract:read");
    // The rejected values: those of the changed objects as they were are replaced by those
    // they have now.
    let now: BTreeSet<String> = rejections.iter().map(Rejection::id).collect();
    let gone = apply.old_rejected.difference(&now).count();
    let mut rejected: BTreeSet<String> =
        run.known.difference(&apply.old_rejected).cloned().collect();
    rejected.extend(now);
    let concluded = match unchanged {
        true => {
            super::write::report(run, &stats, &rejections, gone);
            run.printer.note(format_args!(
                "{}: unchanged (no recipient changed)",
                settings.output.path.display()
            ))?;
            Concluded {
                status: ExitStatus::Success,
                stands: true,
            }
        }
        false => {
            // The objects this read saw go are where its removals came from.
            let origins = |keys: &[String]| -> super::Origins {
                keys.iter()
                    .filter_map(|k| Some((k.clone(), apply.origins.get(k)?.clone())))
                    .collect()
            };
            conclude(run, recipients, &stats, &rejections, gone, &origins, seen)?
        }
    };
    if concluded.stands && !run.change.dry_run {
        next.map = state::file_mark(&settings.output.path)?;
        // After the map: see the module's doc. The map is right either way; a store that
        // did not move on only makes the next run read the same changes again.
        if let Err(e) = txn.commit(&next) {
            tracing::warn!("{e}; the next run reads the same changes again");
        }
    }
    Ok(Some(Outcome {
        status: concluded.status,
        stands: concluded.stands,
        reads,
        rejected,
        methods,
        cursors: super::cursor_text(&next),
        full_at: meta.full_at,
        drift: None,
    }))
}

/// A store that opened but is damaged inside (a record, a count): the run reads in full,
/// which replaces it, instead of failing until someone removes it.
fn damaged(e: crate::store::Error) -> Result<Option<Outcome>> {
    tracing::warn!("{e}; reading in full, which replaces it");
    Ok(None)
}

/// What a source's changes since a cursor did to the store.
pub(super) struct CaughtUp {
    /// Where the next read of changes starts.
    pub(super) cursor: crate::source::Cursor,
    /// Objects the source said changed.
    pub(super) changed: usize,
    /// When the source listed what is still there: how many objects were gone by not
    /// being listed.
    pub(super) gone_unlisted: Option<usize>,
}

/// Reads what changed in source `name` since `cursor` into `tables`; None when the cursor
/// is no longer valid, or the store turned out damaged (a full read replaces it).
pub(super) fn catch_up(
    reader: &mut dyn Reader,
    name: &str,
    cursor: &crate::source::Cursor,
    tables: &mut Tables<'_>,
    apply: &mut Apply<'_>,
) -> Result<Option<CaughtUp>> {
    let mut named = HashSet::new();
    let changes = reader.read_changes(cursor, &mut |change| {
        let id = match change {
            Change::Changed { id, .. } | Change::Gone { id } => id,
        };
        named.insert(id.to_owned());
        apply.change(tables, name, change);
    })?;
    let Some(changes) = changes else {
        return Ok(None);
    };
    let mut gone_unlisted = None;
    if let Some(present) = &changes.present {
        let mut gone = 0;
        for id in tables.ids(name)? {
            if !present.contains(&id) && !named.contains(&id) {
                apply.change(tables, name, Change::Gone { id: &id });
                gone += 1;
            }
        }
        gone_unlisted = Some(gone);
    }
    if let Some(e) = apply.failed.take() {
        tracing::warn!("{e}; reading in full, which replaces the store");
        return Ok(None);
    }
    Ok(Some(CaughtUp {
        cursor: changes.cursor,
        changed: changes.changed,
        gone_unlisted,
    }))
}

/// Applies changes to the store's tables.
pub(super) struct Apply<'r> {
    /// The changed objects as they are now: counted, their rejected values reported.
    collector: Collector<'r>,
    /// The changed objects as the store had them: only their keys and rejected values
    /// matter.
    before: Collector<'r>,
    /// The rejected values of the objects as the store had them.
    old_rejected: BTreeSet<String>,
    /// The first error of the store; nothing is applied after it.
    failed: Option<crate::store::Error>,
    /// Where each key an object lost came from (`SOURCE CONTAINER`), for a change a guard
    /// holds ([`crate::hold::held`]).
    pub(super) origins: Origins,
}

impl<'r> Apply<'r> {
    /// Nothing applied yet, under `rules`.
    pub(super) fn new(rules: &'r crate::rules::Rules) -> Self {
        Self {
            collector: Collector::new(rules),
            before: Collector::new(rules),
            old_rejected: BTreeSet::new(),
            failed: None,
            origins: Origins::new(),
        }
    }

    fn change(&mut self, tables: &mut Tables<'_>, source: &str, change: Change<'_>) {
        if self.failed.is_some() {
            return;
        }
        let result = (|| {
            let (id, entry) = match change {
                Change::Changed { id, entry } => (id, Some(entry)),
                Change::Gone { id } => (id, None),
            };
            // Only the keys the object gained or lost touch the counts: an object changed in
            // an attribute no rule reads changes no key, and so no map.
            let mut lost = Vec::new();
            if let Some(old) = tables.replace(source, id, entry)? {
                let origin = format!("{source} {}", old.container());
                let old = self.before.object(&old);
                lost = old.keys;
                for key in &lost {
                    self.origins
                        .insert(key.clone(), origin.trim_end().to_owned());
                }
                self.old_rejected.extend(old.rejected);
            }
            let mut gained = Vec::new();
            if let Some(entry) = entry {
                for key in self.collector.object(entry).keys {
                    match lost.iter().position(|k| *k == key) {
                        Some(kept) => {
                            lost.swap_remove(kept);
                        }
                        None => gained.push(key),
                    }
                }
            }
            tables.remove_keys(&lost)?;
            tables.add_keys(&gained)?;
            Ok(())
        })();
        self.failed = result.err();
    }
}
