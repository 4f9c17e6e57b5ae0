//! Where each address of the map came from, for the exports that say so (csv, json): a
//! record kept while the sources are read ([`Recorder`]), completed after an incremental
//! read from the store, which stands for the same map, and sorted by address
//! ([`Origins`]).

use std::path::Path;

use tracing::warn;

use super::Settings;
use crate::rules::{Collector, Rules};
use crate::source::Item;

/// What a run that read the sources gives the exports that say where addresses came from.
pub(super) struct Read<'a, 'r> {
    /// The run's rules.
    pub(super) rules: &'a Rules,
    /// The run's record, if one was kept (when an export says where addresses came from).
    pub(super) recorder: Option<&'a std::cell::RefCell<Recorder<'r>>>,
    /// The sources read incrementally: their other objects are in the store.
    pub(super) incremental: Vec<&'a str>,
    /// The store, which stands for the map in place.
    pub(super) store: &'a Path,
}

/// Where each address came from, recorded as the sources are read: one row per key an object
/// or line gives, sorted at the end. Only kept when an export says where addresses came from.
pub(super) struct Recorder<'r> {
    collector: Collector<'r>,
    /// The sources' names, by the index the rows use.
    sources: Vec<String>,
    rows: Vec<Origin>,
}

/// One key and what gave it.
struct Origin {
    key: String,
    source: u32,
    id: Box<str>,
}

impl<'r> Recorder<'r> {
    /// An empty record, for `settings`' sources under `rules`.
    pub(super) fn new(settings: &Settings, rules: &'r Rules) -> Self {
        Self {
            collector: Collector::new(rules),
            sources: settings.sources.iter().map(|s| s.name.clone()).collect(),
            rows: Vec::new(),
        }
    }

    /// Records what `item`, read from `source`, gives the map.
    pub(super) fn item(&mut self, source: &str, item: Item<'_>) {
        let (keys, id) = match item {
            Item::Object { id, entry } => (self.collector.object(entry).keys, id),
            Item::Entry(entry) => (self.collector.object(entry).keys, entry.dn.as_str()),
            Item::Listed { at, address } => (self.collector.line(at, address), at),
        };
        // Every source is the config's, so it is always found.
        let Some(source) = self.sources.iter().position(|s| s == source) else {
            return;
        };
        let source = source as u32;
        for key in keys {
            self.rows.push(Origin {
                key,
                source,
                id: id.into(),
            });
        }
    }
}

/// Every key's origin, sorted by key: of the objects that give a key, the first source's,
/// and of its objects the smallest id.
pub(super) struct Origins {
    sources: Vec<String>,
    rows: Vec<Origin>,
}

impl Origins {
    /// The run's record, with the objects of the sources read incrementally from the store.
    pub(super) fn gather(settings: &Settings, read: &Read<'_, '_>) -> Self {
        let mut all = Recorder::new(settings, read.rules);
        if let Some(recorder) = read.recorder {
            all.rows = std::mem::take(&mut recorder.borrow_mut().rows);
        }
        if !read.incremental.is_empty() {
            // redb asserts on some damaged pages: then only the origins are missing.
            let scanned = crate::panic::catch(|| scan(&mut all, &read.incremental, read.store));
            match scanned {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(
                    "{e}; the exports leave the source and id of its objects' addresses empty"
                ),
                Err(panic) => warn!(
                    "the store: {panic}; the exports leave the source and id of its objects' addresses empty"
                ),
            }
        }
        // Whatever order the objects came in (a search's, the store's), the same origin.
        let mut rows = all.rows;
        rows.sort_unstable_by(|a, b| (&a.key, a.source, &a.id).cmp(&(&b.key, b.source, &b.id)));
        rows.dedup_by(|later, first| later.key == first.key);
        Self {
            sources: all.sources,
            rows,
        }
    }

    /// The origin of `key`; the keys are asked for in ascending order, `at` keeps the place.
    pub(super) fn of(&self, key: &str, at: &mut usize) -> (&str, &str) {
        while self.rows.get(*at).is_some_and(|o| o.key.as_str() < key) {
            *at += 1;
        }
        match self.rows.get(*at) {
            Some(o) if o.key == key => (
                self.sources
                    .get(o.source as usize)
                    .map_or("", String::as_str),
                &o.id,
            ),
            _ => ("", ""),
        }
    }
}

/// Records every object the store keeps for the `sources`.
fn scan(
    recorder: &mut Recorder<'_>,
    sources: &[&str],
    path: &Path,
) -> std::result::Result<(), crate::store::Error> {
    let Some((store, _)) = crate::store::Store::open(path)? else {
        return Ok(());
    };
    let txn = store.begin()?;
    let tables = txn.tables()?;
    for source in sources {
        for object in tables.objects(source)? {
            let (id, entry) = object?;
            recorder.item(
                source,
                Item::Object {
                    id: &id,
                    entry: &entry,
                },
            );
        }
    }
    Ok(())
}
