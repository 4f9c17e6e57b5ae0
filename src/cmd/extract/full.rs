//! The full read: every source read completely, and, where a source has a change feed, the
//! store rebuilt from what was read ([`crate::store`]), so that the next run can read only
//! the changes. Each feed's cursor is taken before the read: what changes while it runs is
//! read again by the next run, never missed.

use std::collections::BTreeSet;
use std::path::Path;

use tracing::warn;

use super::dump::Dump;
use super::{Outcome, Reads, Run, conclude, read_source};
use crate::cmd::Result;
use crate::cmd::metrics::Observed;
use crate::map::keys::KeySet;
use crate::map::state;
use crate::rules::{Collector, Rejection};
use crate::source::{Item, Reader};
use crate::store::{self, Meta, SourceMeta, Store};

/// Objects handed to the store's writer at a time.
const BATCH: usize = 512;

/// The objects the store's writer holds before it stores them as a part (the first part,
/// unless it is the only one, also decides the number of buckets from four times its size).
const PART_BYTES: usize = 16 << 20;

/// Reads every source (`readers`, opened, in source order) and installs the result; the
/// store at `store_path` is rebuilt when a source has a feed (not on a dry run).
pub(super) fn run(
    run: &Run<'_>,
    readers: &mut [Box<dyn Reader + '_>],
    store_path: &Path,
    old: super::origins::Old<'_>,
    seen: &mut Observed,
    mut dump: Option<Dump>,
) -> Result<Outcome> {
    let settings = run.settings;
    let building = run.feeds.iter().any(Option::is_some) && !run.change.dry_run;
    // A store that cannot be made or written (a full disk) costs the next run its shortcut,
    // never this run its map: it is left out, with a warning.
    let store = building.then(|| Store::build(store_path)).and_then(or_warn);
    let txn = store.as_ref().and_then(|store| or_warn(store.begin()));
    let mut meta = Meta {
        config: run.config.to_owned(),
        domains: run.domains_digest(),
        full_at: state::now(),
        ..Meta::default()
    };
    let mut methods = std::collections::BTreeMap::new();
    let mut collector = Collector::new(run.rules);
    // The keys the objects give, counted for the store (the map is made of them too).
    let mut object_keys = KeySet::new();
    let mut reads = Reads::new();
    // The objects go to the store on a thread of their own, while the read goes on: the
    // store's writes then cost little of the read's time.
    let stored = std::thread::scope(
        |scope| -> Result<std::result::Result<usize, store::Error>> {
            // Batches of objects: one hand-over per object would cost more than the store.
            // Their buffers go back to be filled again, so that a full read allocates a few.
            let (sender, received) = std::sync::mpsc::sync_channel::<store::Batch>(16);
            let (recycle, recycled) = std::sync::mpsc::sync_channel::<store::Batch>(16);
            let writer = txn.as_ref().map(|txn| {
                let names: Vec<&str> = settings.sources.iter().map(|s| s.name.as_str()).collect();
                scope.spawn(move || -> std::result::Result<usize, store::Error> {
                    let mut tables = txn.tables()?;
                    // Objects are stored a part at a time: a few values per bucket for a
                    // million objects, written in key order ([`store::Batch`]).
                    let (mut part, mut bytes) = (Vec::new(), 0);
                    for batch in received {
                        bytes += batch.bytes();
                        part.push(batch);
                        if bytes >= PART_BYTES {
                            tables.pack(&names, &part, false)?;
                            for mut batch in part.drain(..) {
                                batch.clear();
                                let _ = recycle.try_send(batch);
                            }
                            bytes = 0;
                        }
                    }
                    tables.pack(&names, &part, true)?;
                    Ok(tables.listed_twice())
                })
            });
            let mut batch = store::Batch::default();
            let sender = writer.is_some().then_some(sender);
            let sources = settings
                .sources
                .iter()
                .zip(readers.iter_mut())
                .zip(run.feeds);
            for (index, ((source, reader), feed)) in sources.enumerate() {
                methods.insert(source.name.clone(), "full".to_owned());
                if let (Some(feed), Some(_)) = (feed, &sender) {
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
                let read = read_source(run, source, reader.as_mut(), dump.as_mut(), &mut |item| {
                    match item {
                        Item::Object { id, entry } if sender.is_some() => {
                            collector.entry_into(entry, &mut object_keys);
                            batch.push(index, id, entry);
                            if batch.len() == BATCH
                                && let Some(sender) = &sender
                            {
                                let next = recycled.try_recv().unwrap_or_default();
                                // A writer that stopped has its error, which is reported below.
                                let _ = sender.send(std::mem::replace(&mut batch, next));
                            }
                        }
                        Item::Entry(entry) | Item::Object { entry, .. } => collector.entry(entry),
                        Item::Listed { at, address } => collector.listed(at, address),
                    }
                })?;
                reads.push((source.name.clone(), read));
            }
            if let Some(sender) = sender {
                let _ = sender.send(batch);
            }
            Ok(match writer.map(|w| w.join()) {
                Some(Ok(done)) => done,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => Ok(0),
            })
        },
    )?;
    // An object listed twice (it changed while the search paged, or a source without
    // identities) would have its keys counted twice: such a store is not kept. A store that
    // could not be written (a full disk) is not kept either: the map does not depend on it.
    let kept = match stored {
        Ok(0) => true,
        Ok(twice) => {
            warn!(
                "the sources listed {twice} object(s) twice during the read; the store is not \
                 kept, and the next run reads in full again"
            );
            false
        }
        Err(e) => or_warn::<()>(Err(e)).is_some(),
    };
    let txn = txn.filter(|_| kept);
    // The dump is complete (or its failure reported) before the map may be replaced: a run
    // that fails must leave the map as it was.
    if let Some(dump) = dump {
        dump.finish()?;
    }
    let (others, stats, rejections) = collector.finish();
    // The map: the objects' keys, counted into the store in order, and the other sources'.
    let mut recipients = object_keys;
    let txn = match txn {
        Some(txn) => {
            let mut failed = None;
            match txn.tables() {
                Ok(mut tables) => {
                    recipients.finish_counting(|key, count| {
                        if failed.is_none() {
                            failed = tables.set_count(key, count).err();
                        }
                    });
                    if failed.is_none() {
                        failed = tables.counted().err();
                    }
                }
                Err(e) => {
                    recipients.finish();
                    failed = Some(e);
                }
            }
            match failed {
                None => Some(txn),
                Some(e) => or_warn::<()>(Err(e)).and(None),
            }
        }
        None => {
            recipients.finish();
            None
        }
    };
    if recipients.is_empty() {
        recipients = others;
    } else if !others.is_empty() {
        for key in others.iter() {
            recipients.push(key);
        }
        recipients.finish();
    }
    crate::crash::point("extract:read");
    let rejected: BTreeSet<String> = rejections.iter().map(Rejection::id).collect();
    let gone = run.known.difference(&rejected).count();
    // The store's pages are written while the map is: a first commit of the temporary store
    // on a thread of its own, then, after the map, a small one that records the map it
    // stands for (only that makes it a store the next run uses; it is installed after).
    let (concluded, pages) = std::thread::scope(|scope| -> Result<_> {
        let pages = txn.map(|txn| {
            let meta = meta.clone();
            scope.spawn(move || txn.commit(&meta))
        });
        // Where removed keys came from is in the store being replaced, not read here.
        let origins = |keys: &[String]| super::origins::lookup(run, &old, keys);
        let concluded = conclude(run, recipients, &stats, &rejections, gone, &origins, seen)?;
        let pages = pages.map(|pages| match pages.join() {
            Ok(committed) => committed,
            Err(panic) => std::panic::resume_unwind(panic),
        });
        Ok((concluded, pages))
    })?;
    if concluded.stands
        && let (Some(store), Some(pages)) = (store, pages)
    {
        // After the map: a store that stood for it first would stand for a map that is not
        // there.
        meta.map = state::file_mark(&settings.output.path)?;
        let installed = pages
            .and_then(|()| store.begin()?.commit(&meta))
            .and_then(|()| {
                crate::crash::point("extract:store-committed");
                store.install()
            });
        if let Err(e) = installed {
            // The map is right; only the next run's shortcut is lost.
            warn!("{e}; the next run reads in full again");
        }
    }
    Ok(Outcome {
        status: concluded.status,
        stands: concluded.stands,
        reads,
        rejected,
        methods,
        cursors: super::cursor_text(&meta),
        full_at: meta.full_at,
        drift: None,
    })
}

/// The store's `result`, or None with a warning: the store is an optimization of the next run.
fn or_warn<T>(result: std::result::Result<T, store::Error>) -> Option<T> {
    result
        .inspect_err(|e| warn!("{e}; the store is not kept, and the next run reads in full again"))
        .ok()
}
