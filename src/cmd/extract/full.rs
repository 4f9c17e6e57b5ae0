//! The full read: every source read completely, and, where a source has a change feed, the
//! store rebuilt from what was read ([`crate::store`]), so that the next run can read only
//! the changes. Each feed's cursor is taken before the read: what changes while it runs is
//! read again by the next run, never missed.

use std::collections::BTreeSet;
use std::path::Path;

use tracing::warn;

use super::dump::Dump;
use super::{Outcome, Reads, Run, conclude, read_source};
use crate::cmd::metrics::Observed;
use crate::cmd::{ExitStatus, Result};
use crate::map::state;
use crate::rules::{Collector, Rejection};
use crate::source::{Item, Reader};
use crate::store::{self, Meta, SourceMeta, Store};

/// Reads every source (`readers`, opened, in source order) and installs the result; the
/// store at `store_path` is rebuilt when a source has a feed (not on a dry run).
pub(super) fn run(
    run: &Run<'_>,
    readers: &mut [Box<dyn Reader + '_>],
    store_path: &Path,
    seen: &mut Observed,
    mut dump: Option<Dump>,
) -> Result<Outcome> {
    let settings = run.settings;
    let building = run.feeds.iter().any(Option::is_some) && !run.change.dry_run;
    let store = building.then(|| Store::build(store_path)).transpose()?;
    let txn = store.as_ref().map(Store::begin).transpose()?;
    let mut tables = txn.as_ref().map(store::Txn::tables).transpose()?;
    let mut meta = Meta {
        config: run.config.to_owned(),
        domains: run.domains_digest(),
        full_at: state::now(),
        ..Meta::default()
    };
    let mut methods = std::collections::BTreeMap::new();
    let mut collector = Collector::new(run.rules);
    let mut reads = Reads::new();
    let mut failed = None;
    for ((source, reader), feed) in settings.sources.iter().zip(readers).zip(run.feeds) {
        methods.insert(source.name.clone(), "full".to_owned());
        if let (Some(feed), Some(_)) = (feed, &tables) {
            let cursor = reader.cursor_now()?;
            meta.sources.insert(
                source.name.clone(),
                SourceMeta {
                    method: feed.method.to_owned(),
                    identity: feed.identity.clone(),
                    cursor,
                },
            );
        }
        let name = source.name.as_str();
        let read = read_source(
            source,
            reader.as_mut(),
            dump.as_mut(),
            &mut |item| match item {
                Item::Object { id, entry } => {
                    let object = collector.object(entry);
                    collector.keep(&object.keys);
                    if let Some(tables) = tables.as_mut().filter(|_| failed.is_none()) {
                        let stored = tables
                            .put(name, id, entry)
                            .and_then(|()| tables.add_keys(&object.keys));
                        failed = stored.err();
                    }
                }
                Item::Entry(entry) => collector.entry(entry),
                Item::Listed { at, address } => collector.listed(at, address),
            },
        )?;
        reads.push((source.name.clone(), read));
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    // The dump is complete (or its failure reported) before the map may be replaced: a run
    // that fails must leave the map as it was.
    if let Some(dump) = dump {
        dump.finish()?;
    }
    drop(tables);
    crate::crash::point("extract:read");
    let (recipients, stats, rejections) = collector.finish();
    let rejected: BTreeSet<String> = rejections.iter().map(Rejection::id).collect();
    let gone = run.known.difference(&rejected).count();
    let status = conclude(run, recipients, &stats, &rejections, gone, seen)?;
    if status == ExitStatus::Success
        && let Some(txn) = txn
    {
        meta.map = state::file_mark(&settings.output.path)?;
        // After the map: a store committed first would stand for a map that is not there.
        let committed = txn.commit(&meta);
        crate::crash::point("extract:store-committed");
        let installed = committed.and_then(|()| store.map_or(Ok(()), Store::install));
        if let Err(e) = installed {
            // The map is right; only the next run's shortcut is lost.
            warn!("{e}; the next run reads in full again");
        }
    }
    Ok(Outcome {
        status,
        reads,
        rejected,
        methods,
        cursors: super::cursor_text(&meta),
        full_at: meta.full_at,
        drift: None,
    })
}
