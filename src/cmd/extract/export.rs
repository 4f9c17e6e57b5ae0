//! The run's exports ([`crate::export`]): made from the map once it stands, so that every
//! consumer sees what the gateways see. Which source and object gave each address (for the
//! formats that say so) is recorded while the sources are read ([`Recorder`]); the objects an
//! incremental read did not read come from the store, which stands for the same map.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context as _;
use tracing::warn;

use super::Settings;
use crate::export::state::{Due, Made, State};
use crate::export::{Export, Row};
use crate::map::text::SortedKeys;
use crate::map::{state::file_mark, with_suffix};
use crate::rules::{Collector, Rules};
use crate::source::Item;

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
        let source = self
            .sources
            .iter()
            .position(|s| s == source)
            .unwrap_or_default() as u32;
        for key in keys {
            self.rows.push(Origin {
                key,
                source,
                id: id.into(),
            });
        }
    }
}

/// Whether any export needs the map read again (its content is due): then the run may not
/// stop at "unchanged".
pub(super) fn need_read(settings: &Settings) -> bool {
    if settings.exports.is_empty() {
        return false;
    }
    let out = &settings.output.path;
    let state = State::read(&state_path(out));
    let map = file_mark(out).unwrap_or_default();
    settings
        .exports
        .iter()
        .any(|export| state.due(export, &map) == Due::Content)
}

/// Whether a record of where addresses came from is needed this run.
pub(super) fn records_origins(settings: &Settings) -> bool {
    settings.exports.iter().any(|e| e.format.has_origins())
}

/// What a run that read the sources gives the exports that say where addresses came from.
pub(super) struct Read<'a, 'r> {
    /// The run's rules.
    pub(super) rules: &'a Rules,
    /// The run's record, if one was kept ([`records_origins`]).
    pub(super) recorder: Option<&'a std::cell::RefCell<Recorder<'r>>>,
    /// The sources read incrementally: their other objects are in the store.
    pub(super) incremental: Vec<&'a str>,
    /// The store, which stands for the map in place.
    pub(super) store: &'a Path,
}

/// Makes every export that is due from the map in place; with no `read` (the run found
/// nothing changed), only the commands that are due run. Every export is tried, and each
/// failure is said at error; whether all were made. What failed is tried again by the next
/// run.
pub(super) fn make(settings: &Settings, read: Option<Read<'_, '_>>) -> bool {
    if settings.exports.is_empty() {
        return true;
    }
    let out = &settings.output.path;
    let state_path = state_path(out);
    let mut state = State::read(&state_path);
    let map = match file_mark(out) {
        Ok(map) => map,
        Err(e) => {
            tracing::error!("no export is made: read {}: {e}", out.display());
            return false;
        }
    };
    let mut origins: Option<Origins> = None;
    let mut failed = 0;
    for export in &settings.exports {
        let due = state.due(export, &map);
        if due == Due::Nothing || (due == Due::Content && read.is_none()) {
            continue;
        }
        let mut command_done = state.made(export).and_then(|m| m.command_done.clone());
        if due == Due::Content {
            if let (true, None, Some(read)) = (export.format.has_origins(), &origins, &read) {
                origins = Some(Origins::gather(settings, read));
            }
            match write(settings, export, origins.as_ref()) {
                Ok(true) => command_done = None,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!("export {}: {e:#}", export.path.display());
                    failed += 1;
                    continue;
                }
            }
        }
        if export.command.is_some() && command_done != export.command {
            match crate::export::run_command(export) {
                Ok(()) => command_done = export.command.clone(),
                Err(e) => {
                    tracing::error!("{e}");
                    failed += 1;
                }
            }
        }
        // Recorded even when the command failed: the next run then runs only the command.
        state.record(Made {
            path: export.path.clone(),
            format: export.format.name().to_owned(),
            map: map.clone(),
            file: file_mark(&export.path).unwrap_or_default(),
            command_done,
        });
    }
    if let Err(e) = state.write(&state_path) {
        // Each export is then made again by the next run: time, not correctness.
        warn!("{e}; the next run makes every export again");
    }
    failed == 0
}

/// Where the exports' state is kept, beside the map.
fn state_path(out: &Path) -> std::path::PathBuf {
    with_suffix(out, ".exports")
}

/// Writes `export` from the map (whether its file changed).
fn write(settings: &Settings, export: &Export, origins: Option<&Origins>) -> anyhow::Result<bool> {
    let out = &settings.output.path;
    let keys = || -> anyhow::Result<SortedKeys<_>> {
        SortedKeys::open(out)
            .with_context(|| format!("read {}", out.display()))?
            .with_context(|| format!("{} is not there", out.display()))
    };
    // The open domains first (`@domain` keys sort among the others).
    let mut open = Vec::new();
    for key in keys()? {
        if let Some(domain) = key?.strip_prefix('@') {
            open.push(domain.to_owned());
        }
    }
    let extra: HashSet<&str> = settings
        .recipients
        .extra
        .iter()
        .map(String::as_str)
        .collect();
    let mut at = 0;
    let rows = keys()?.filter_map(|key| {
        let key = match key {
            Ok(key) if key.starts_with('@') => return None,
            Ok(key) => key,
            Err(e) => return Some(Err(std::io::Error::other(e.to_string()))),
        };
        let (source, id) = match origins {
            Some(origins) => origins.of(&key, &mut at),
            None => ("", ""),
        };
        let source = match source {
            "" if extra.contains(key.as_str()) => "config",
            source => source,
        };
        Some(Ok(Row {
            address: key,
            source,
            id,
        }))
    });
    let written = crate::export::write(export, rows, &open)?;
    if written.left_out > 0 {
        warn!(
            "export {}: {} address(es) with a quoted local part are left out: the {} format \
             cannot carry them",
            export.path.display(),
            written.left_out,
            export.format.name()
        );
    }
    Ok(written.changed)
}

/// Every key's origin, sorted by key: of the objects that give a key, the first source's,
/// and of its objects the smallest id.
struct Origins {
    sources: Vec<String>,
    rows: Vec<Origin>,
}

impl Origins {
    /// The run's record, with the objects of the sources read incrementally from the store.
    fn gather(settings: &Settings, read: &Read<'_, '_>) -> Self {
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
    fn of(&self, key: &str, at: &mut usize) -> (&str, &str) {
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
