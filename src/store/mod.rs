//! The per-object store that makes incremental reads possible: beside the map (`MAP.store`),
//! every object of a source that can read its changes, found by the object's stable identity
//! (OpenLDAP's `entryUUID`), holding the attributes the recipient rules read, and a count of
//! how many objects give each map key. An incremental run applies what changed to it (an
//! object's old keys taken away, its new keys added) and the map is its keys plus whatever
//! the other sources give, through the same guards and atomic write as a full read.
//!
//! Why redb: an embedded, pure-Rust, ACID key-value store (copy-on-write B-trees, every
//! commit durable when it returns, a crash leaves the last commit), so an incremental run
//! writes only the pages of the objects that changed, where a flat file would be rewritten
//! whole (O(directory)) on every run. SQLite would do as well, at the cost of a C build.
//! Objects are kept in packs of about 64 by the hash of their identity ([`packs`]) and the
//! key counts in sorted chunks ([`counts`]): a full read writes a few thousand values in key
//! order, not millions of records at random places in a B-tree larger than its cache.
//!
//! Consistency with the map: every run makes the map from the store's keys (plus the other
//! sources), so a map never holds anything but what some state of the store gives. Each
//! change is one transaction (objects, key counts and cursor together), committed after the
//! map was renamed into place; the store's [`Meta`] records the map file it stands for (size,
//! mtime, inode: [`crate::map::state::file_mark`]). A run killed before the commit leaves the
//! old store, whose cursor makes the next run read the same changes again; a map that is not
//! the one the store recorded (edited by hand, or written by a run killed before its commit)
//! means a full read. A full read builds a new store in a temporary file and renames it into
//! place after the map, the same way (tests/it/ldap/incremental.rs kills runs at each step).
//! A store that is missing, damaged, from another config, another server, or older than
//! `[safety].full_every` is not used: the run reads in full and replaces it.
//!
//! Security: the store is the run account's own file in the output directory, like the
//! map; it is opened without following a link, and what it holds is decoded without trust
//! ([`record`]). `status` never opens it (root reads only the small state file).

mod batch;
mod counts;
mod meta;
mod packs;
mod record;

pub use batch::Batch;
pub use meta::{Cause, Error, Meta, SourceMeta};
pub use packs::order;

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::map::keys::KeySet;
use crate::rules::Entry;

/// The objects, in packs ([`packs`]) of [`record`]s. Keys are bytes, not `&str`: redb would
/// check a `&str` key for UTF-8 at every comparison.
const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
/// The map keys the objects give and how many objects give each, in chunks ([`counts`]):
/// a chunk's first key → the chunk.
const KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("keys");

/// Where `source`'s objects start: the source's name with its length in front, so that one
/// source's objects are one range.
fn source_prefix(source: &str) -> Vec<u8> {
    let len = u16::try_from(source.len()).unwrap_or(u16::MAX);
    let mut key = len.to_be_bytes().to_vec();
    key.extend_from_slice(source.as_bytes());
    key
}
/// [`Meta`], as JSON, under the key `meta`; how the objects are packed ([`packs`]) under
/// `layout` (bucket bits and parts).
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// The layout this version writes; another one is read in full and replaced.
const FORMAT: u32 = 3;

/// The memory redb may use for pages (its default is 1 GiB). Little is read twice in a run:
/// a full read appends its packs and chunks, an incremental one reads each changed bucket and
/// the key counts once, so more cache would only hold pages that are not needed again.
const CACHE_BYTES: usize = 16 << 20;

fn builder() -> redb::Builder {
    let mut builder = redb::Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    builder
}

/// An open store.
pub struct Store {
    db: redb::Database,
    path: PathBuf,
    /// A store being built: the temporary file that becomes `path` once installed.
    building: Option<tempfile::NamedTempFile>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// The store at `path` and what it stands for; None when there is none. An error means
    /// it cannot be used (the caller reads in full, which replaces it).
    pub fn open(path: &Path) -> Result<Option<(Self, Meta)>, Error> {
        let fail = |cause: Cause| Error {
            path: path.to_owned(),
            cause,
        };
        let file = match crate::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(path)
            .and_then(|f| f.file().try_clone())
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fail(Cause::Io(e))),
        };
        let mode =
            std::os::unix::fs::MetadataExt::mode(&file.metadata().map_err(|e| fail(e.into()))?);
        let kind = rustix::fs::FileType::from_raw_mode(mode);
        if kind != rustix::fs::FileType::RegularFile {
            return Err(fail(Cause::Damaged(format!(
                "it is a {}, not a regular file",
                crate::map::nofollow::kind_name(kind)
            ))));
        }
        // redb asserts on some damaged files: that is a damaged store, not a bug.
        let db = crate::panic::catch(|| builder().create_file(file))
            .map_err(|panic| fail(Cause::Database(panic.0)))?
            .map_err(|e| fail(Cause::Database(e.to_string())))?;
        let store = Self {
            db,
            path: path.to_owned(),
            building: None,
        };
        let meta = crate::panic::catch(|| store.meta())
            .map_err(|panic| fail(Cause::Database(panic.0)))??;
        Ok(meta.map(|meta| (store, meta)))
    }

    /// A new, empty store for `path`, built in a temporary file beside it and put in place by
    /// [`Store::install`].
    pub fn build(path: &Path) -> Result<Self, Error> {
        let fail = |cause: Cause| Error {
            path: path.to_owned(),
            cause,
        };
        let temp = crate::map::atomic::temp_beside(path).map_err(|e| fail(e.into()))?;
        let file = temp.as_file().try_clone().map_err(|e| fail(e.into()))?;
        let db = builder()
            .create_file(file)
            .map_err(|e| fail(Cause::Database(e.to_string())))?;
        Ok(Self {
            db,
            path: path.to_owned(),
            building: Some(temp),
        })
    }

    fn fail(&self, cause: impl Into<Cause>) -> Error {
        Error {
            path: self.path.clone(),
            cause: cause.into(),
        }
    }

    fn database(&self, e: impl std::fmt::Display) -> Error {
        self.fail(Cause::Database(e.to_string()))
    }

    /// What the store stands for; None for a store of another format or without one.
    fn meta(&self) -> Result<Option<Meta>, Error> {
        let txn = self.db.begin_read().map_err(|e| self.database(e))?;
        let table = match txn.open_table(META) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.database(e)),
        };
        let Some(text) = table.get("meta").map_err(|e| self.database(e))? else {
            return Ok(None);
        };
        let meta: Meta = serde_json::from_str(text.value())
            .map_err(|e| self.fail(Cause::Damaged(format!("meta data: {e}"))))?;
        Ok((meta.format == FORMAT).then_some(meta))
    }

    /// Starts the one change a run makes; nothing is kept unless it is committed.
    pub fn begin(&self) -> Result<Txn<'_>, Error> {
        let txn = self.db.begin_write().map_err(|e| self.database(e))?;
        Ok(Txn { store: self, txn })
    }

    /// Puts a store made by [`Store::build`] in place of the old one (after the map it stands
    /// for); an opened store is in place already.
    pub fn install(self) -> Result<(), Error> {
        let Self { db, path, building } = self;
        drop(db);
        if let Some(temp) = building {
            let fail = |cause: std::io::Error| Error {
                path: path.clone(),
                cause: cause.into(),
            };
            temp.as_file().sync_all().map_err(fail)?;
            // Whatever is at the path (a damaged store, a link) is replaced, not followed.
            temp.persist(&path).map_err(|e| fail(e.error))?;
            crate::fs::File::open(crate::map::atomic::dir_of(&path))
                .and_then(|d| d.sync_all())
                .map_err(fail)?;
        }
        Ok(())
    }
}

/// The change one run makes to the store.
pub struct Txn<'s> {
    store: &'s Store,
    txn: redb::WriteTransaction,
}

impl<'s> Txn<'s> {
    /// The tables, to read and change objects and keys.
    pub fn tables(&self) -> Result<Tables<'_>, Error> {
        let open = |e| self.store.database(e);
        let meta = self.txn.open_table(META).map_err(open)?;
        let layout = match meta.get("layout").map_err(|e| self.store.database(e))? {
            None => None,
            Some(text) => Some(
                packs::Layout::parse(text.value())
                    .ok_or_else(|| self.store.fail(Cause::Damaged("its layout".into())))?,
            ),
        };
        Ok(Tables {
            store: self.store,
            objects: self.txn.open_table(OBJECTS).map_err(open)?,
            keys: self.txn.open_table(KEYS).map_err(open)?,
            meta,
            layout,
            keys_changed: false,
            building: counts::Building::default(),
            hashes: Vec::new(),
        })
    }

    /// Records `meta` and makes the change durable.
    pub fn commit(self, meta: &Meta) -> Result<(), Error> {
        let store = self.store;
        {
            let mut table = self.txn.open_table(META).map_err(|e| store.database(e))?;
            let text = serde_json::to_string(&Meta {
                format: FORMAT,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..meta.clone()
            })
            .map_err(|e| store.fail(Cause::Damaged(e.to_string())))?;
            table
                .insert("meta", text.as_str())
                .map_err(|e| store.database(e))?;
        }
        self.txn.commit().map_err(|e| store.database(e))
    }
}

/// The tables of a change in progress.
pub struct Tables<'t> {
    store: &'t Store,
    objects: redb::Table<'t, &'static [u8], &'static [u8]>,
    keys: redb::Table<'t, &'static [u8], &'static [u8]>,
    meta: redb::Table<'t, &'static str, &'static str>,
    /// How the objects are packed; None until the first object is stored.
    layout: Option<packs::Layout>,
    /// The hashes of the identities [`Tables::pack`] stored.
    hashes: Vec<u64>,
    /// A key came or went (its count crossed zero): the map changes.
    keys_changed: bool,
    /// The chunk of counts being built ([`Tables::set_count`]).
    building: counts::Building,
}

impl Tables<'_> {
    fn database(&self, e: impl std::fmt::Display) -> Error {
        self.store.database(e)
    }

    fn fault(&self, fault: packs::Fault, id: &str) -> Error {
        match fault {
            packs::Fault::Storage(e) => self.database(e),
            packs::Fault::Damaged => self.store.fail(Cause::Damaged(format!("the pack of {id}"))),
            packs::Fault::Outgrown => self.store.fail(Cause::Outgrown),
        }
    }

    /// Records `layout`.
    fn set_layout(&mut self, layout: packs::Layout) -> Result<(), Error> {
        self.meta
            .insert("layout", layout.to_string().as_str())
            .map_err(|e| self.store.database(e))?;
        self.layout = Some(layout);
        Ok(())
    }

    /// Object `id` of source `source`, as stored.
    pub fn get(&self, source: &str, id: &str) -> Result<Option<Entry>, Error> {
        let Some(layout) = self.layout else {
            return Ok(None);
        };
        let found = packs::get(&self.objects, &source_prefix(source), layout, id.as_bytes());
        found
            .map_err(|f| self.fault(f, id))?
            .map(|bytes| self.decode(id, &bytes))
            .transpose()
    }

    fn decode(&self, id: &str, bytes: &[u8]) -> Result<Entry, Error> {
        let damaged = || self.store.fail(Cause::Damaged(format!("object {id}")));
        record::decode(bytes).ok_or_else(damaged)
    }

    /// Stores object `id` of `source` as `entry` (None: forgets it); what was stored before.
    pub fn replace(
        &mut self,
        source: &str,
        id: &str,
        entry: Option<&Entry>,
    ) -> Result<Option<Entry>, Error> {
        let old = self.replace_record(source, id, entry.map(record::encode).as_deref())?;
        old.map(|bytes| self.decode(id, &bytes)).transpose()
    }

    /// Stores `record` as object `id` of `source`, whatever its bytes (how the tests damage a
    /// store from inside, as a disk or another program might).
    pub fn put_record(&mut self, source: &str, id: &str, record: &[u8]) -> Result<(), Error> {
        self.replace_record(source, id, Some(record)).map(drop)
    }

    fn replace_record(
        &mut self,
        source: &str,
        id: &str,
        record: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let layout = match self.layout {
            Some(layout) => layout,
            None if record.is_none() => return Ok(None),
            None => {
                let layout = packs::Layout {
                    bits: packs::bits_for(0),
                    parts: 1,
                };
                self.set_layout(layout)?;
                layout
            }
        };
        let prefix = source_prefix(source);
        packs::replace(&mut self.objects, &prefix, layout, id.as_bytes(), record)
            .map_err(|f| self.fault(f, id))
    }

    /// Stores the objects of `batches` (of the sources `names`, by index) as the next part of
    /// a store being built, `last` when no more will come (the first part decides the number
    /// of buckets: from all the objects when it is the last, else from four times its own).
    pub fn pack(&mut self, names: &[&str], batches: &[Batch], last: bool) -> Result<(), Error> {
        let prefixes: Vec<Vec<u8>> = names.iter().map(|name| source_prefix(name)).collect();
        let mut objects: Vec<(&[u8], &[u8], &[u8])> = Vec::new();
        for (source, id, record) in batches.iter().flat_map(Batch::iter) {
            let prefix = prefixes.get(source).map_or(&[][..], Vec::as_slice);
            // The same identity in two sources is two objects.
            self.hashes.push(packs::hash_on(packs::hash(prefix), id));
            objects.push((prefix, id, record));
        }
        let layout = self.layout.unwrap_or(packs::Layout {
            bits: packs::bits_for(if last {
                objects.len()
            } else {
                objects.len() * 4
            }),
            parts: 0,
        });
        packs::write_part(&mut self.objects, layout.bits, layout.parts, &objects)
            .map_err(|e| self.store.database(e))?;
        self.set_layout(packs::Layout {
            parts: layout.parts + 1,
            ..layout
        })
    }

    /// How many of the objects [`Tables::pack`] stored had an identity already stored (the
    /// directory listed an object twice during the read, or two share a hash: rare enough
    /// that such a store is simply not kept).
    pub fn listed_twice(&mut self) -> usize {
        self.hashes.sort_unstable();
        self.hashes.windows(2).filter(|w| w[0] == w[1]).count()
    }

    /// Sets how many objects give `key`: a store being built, keys in ascending order, and
    /// [`Tables::counted`] after the last one.
    pub fn set_count(&mut self, key: &str, count: u64) -> Result<(), Error> {
        match self.building.push(key, count) {
            true => self.counted(),
            false => Ok(()),
        }
    }

    /// Stores the counts [`Tables::set_count`] has not stored yet.
    pub fn counted(&mut self) -> Result<(), Error> {
        match self.building.take() {
            Some((first, chunk)) => self.keys.insert(first.as_slice(), chunk.as_slice()),
            None => return Ok(()),
        }
        .map(drop)
        .map_err(|e| self.store.database(e))
    }

    /// The identities of `source`'s objects.
    pub fn ids(&self, source: &str) -> Result<Vec<String>, Error> {
        self.objects(source)?
            .map(|object| object.map(|(id, _)| id))
            .collect()
    }

    /// `source`'s objects, in the order of [`order`].
    pub fn objects<'a>(
        &'a self,
        source: &'a str,
    ) -> Result<impl Iterator<Item = Result<(String, Entry), Error>> + 'a, Error> {
        let layout = self.layout.unwrap_or(packs::Layout { bits: 0, parts: 0 });
        let range = packs::objects(&self.objects, &source_prefix(source), layout)
            .map_err(|f| self.fault(f, source))?;
        Ok(range.map(move |object| {
            let (id, bytes) = object.map_err(|f| self.fault(f, source))?;
            let id = String::from_utf8_lossy(&id).into_owned();
            let entry = self.decode(&id, &bytes)?;
            Ok((id, entry))
        }))
    }

    /// One more object gives each of `keys`.
    pub fn add_keys(&mut self, keys: &[String]) -> Result<(), Error> {
        keys.iter().try_for_each(|key| self.recount(key, true))
    }

    /// One object fewer gives each of `keys`; a key no object gives any more is gone.
    pub fn remove_keys(&mut self, keys: &[String]) -> Result<(), Error> {
        keys.iter().try_for_each(|key| self.recount(key, false))
    }

    /// One object more (`more`) or fewer gives `key`.
    fn recount(&mut self, key: &String, more: bool) -> Result<(), Error> {
        let (first, mut chunk) = self.chunk_of(key)?;
        match (chunk.binary_search_by(|(k, _)| k.cmp(key)), more) {
            (Ok(at), true) => chunk[at].1 = chunk[at].1.saturating_add(1),
            (Err(at), true) => {
                self.keys_changed = true;
                chunk.insert(at, (key.clone(), 1));
            }
            (Ok(at), false) if chunk[at].1 > 1 => chunk[at].1 -= 1,
            (Ok(at), false) => {
                self.keys_changed = true;
                chunk.remove(at);
            }
            (Err(_), false) => {
                let counted = format!("key {key} is counted for no object");
                return Err(self.store.fail(Cause::Damaged(counted)));
            }
        }
        counts::put(&mut self.keys, first, chunk).map_err(|e| self.store.database(e))
    }

    /// The chunk where `key` is or belongs ([`counts::find`]).
    fn chunk_of(&self, key: &str) -> Result<(Option<Vec<u8>>, counts::Chunk), Error> {
        counts::find(&self.keys, key).map_err(|failure| match failure {
            Some(e) => self.database(e),
            None => self
                .store
                .fail(Cause::Damaged(format!("the key counts near {key}"))),
        })
    }

    /// Whether a key came or went in this change (the map changes).
    pub fn keys_changed(&self) -> bool {
        self.keys_changed
    }

    /// Every key the objects give, into `set`.
    pub fn keys_into(&self, set: &mut KeySet) -> Result<(), Error> {
        for item in self.keys.iter().map_err(|e| self.database(e))? {
            let (first, bytes) = item.map_err(|e| self.database(e))?;
            counts::each(bytes.value(), |key, _| set.push(key)).ok_or_else(|| {
                let near = String::from_utf8_lossy(first.value()).into_owned();
                self.store
                    .fail(Cause::Damaged(format!("the key counts near {near}")))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn entry(dn: &str) -> Entry {
        Entry {
            dn: dn.into(),
            proxy_addresses: vec![format!("SMTP:{dn}@example.com")],
            ..Entry::default()
        }
    }

    /// A store being built in a temporary directory (kept while the store is used).
    fn scratch() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::build(&dir.path().join("map.store")).unwrap();
        (dir, store)
    }

    /// The next number of a fixed pseudo-random sequence (a 64-bit LCG): the model tests'
    /// changes, the same on every run.
    fn next(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed
    }

    fn meta() -> Meta {
        Meta {
            config: "c".into(),
            map: "m".into(),
            ..Meta::default()
        }
    }

    #[test]
    fn a_built_store_is_used_only_once_installed_and_committed_changes_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.store");
        let store = Store::build(&path).unwrap();
        let txn = store.begin().unwrap();
        {
            let mut t = txn.tables().unwrap();
            t.replace("s", "1", Some(&entry("a"))).unwrap();
            t.add_keys(&["a@x".into(), "b@x".into()]).unwrap();
            t.replace("s", "2", Some(&entry("b"))).unwrap();
            t.add_keys(&["b@x".into()]).unwrap();
            t.replace("t", "1", Some(&entry("c"))).unwrap();
        }
        txn.commit(&meta()).unwrap();
        assert!(Store::open(&path).unwrap().is_none(), "not installed yet");
        store.install().unwrap();

        let (store, got) = Store::open(&path).unwrap().unwrap();
        assert_eq!(got.config, "c");
        assert_eq!(got.format, FORMAT);
        let txn = store.begin().unwrap();
        {
            let mut t = txn.tables().unwrap();
            assert_eq!(t.get("s", "1").unwrap(), Some(entry("a")));
            assert_eq!(t.ids("s").unwrap(), ["1", "2"]);
            t.remove_keys(&["b@x".into()]).unwrap();
            let mut set = KeySet::new();
            t.keys_into(&mut set).unwrap();
            set.finish();
            assert_eq!(set.iter().collect::<Vec<_>>(), ["a@x", "b@x"]);
            t.remove_keys(&["b@x".into()]).unwrap();
            assert!(t.remove_keys(&["b@x".into()]).is_err(), "counted for none");
            t.replace("s", "1", None).unwrap();
            assert_eq!(t.ids("s").unwrap(), ["2"]);
        }
        // Not committed: nothing of it stays.
        drop(txn);
        let txn = store.begin().unwrap();
        assert_eq!(txn.tables().unwrap().ids("s").unwrap(), ["1", "2"]);
        assert_eq!(txn.tables().unwrap().ids("t").unwrap(), ["1"]);
    }

    #[test]
    fn objects_follow_a_model_across_parts_and_buckets() {
        let (_dir, store) = scratch();
        let txn = store.begin().unwrap();
        let mut t = txn.tables().unwrap();
        // Built in two parts of two sources: the first part decides the buckets.
        let mut model = BTreeMap::new();
        let mut batches = [Batch::default(), Batch::default()];
        for i in 0..3000 {
            let (source, id) = (i % 2, format!("id{i}"));
            let e = entry(&format!("user{i}"));
            batches[usize::from(i >= 1000)].push(source, &id, &e);
            model.insert((["s", "t"][source], id), e);
        }
        t.pack(&["s", "t"], &batches[..1], false).unwrap();
        t.pack(&["s", "t"], &batches[1..], true).unwrap();
        assert_eq!(t.listed_twice(), 0);
        assert_eq!(
            t.layout.map(|l| (l.bits, l.parts)),
            Some((packs::bits_for(4000), 2))
        );
        // Random changes, checked against the model.
        let mut seed = 11u64;
        for round in 0..2000 {
            let seed = next(&mut seed);
            let source = ["s", "t"][(seed >> 40) as usize % 2];
            let id = format!("id{}", (seed >> 33) % 3500);
            let key = (source, id.clone());
            if seed.is_multiple_of(3) {
                t.replace(source, &id, None).unwrap();
                model.remove(&key);
            } else {
                let e = entry(&format!("changed{round}"));
                t.replace(source, &id, Some(&e)).unwrap();
                model.insert(key.clone(), e);
            }
            assert_eq!(t.get(source, &id).unwrap().as_ref(), model.get(&key));
        }
        for source in ["s", "t"] {
            let mut expected: Vec<(&str, &Entry)> = model
                .iter()
                .filter(|((s, _), _)| *s == source)
                .map(|((_, id), e)| (id.as_str(), e))
                .collect();
            expected.sort_by(|a, b| order(a.0).cmp(&order(b.0)));
            let stored: Vec<(String, Entry)> =
                t.objects(source).unwrap().map(Result::unwrap).collect();
            assert!(
                stored
                    .iter()
                    .map(|(id, e)| (id.as_str(), e))
                    .eq(expected.iter().copied()),
                "{source}"
            );
            assert_eq!(t.ids(source).unwrap().len(), expected.len());
        }
        // The same identity packed twice for one source is noticed; in two sources it is not.
        let mut again = Batch::default();
        again.push(0, "id0", &entry("x"));
        again.push(0, "id1", &entry("x"));
        t.pack(&["s", "t"], &[again], true).unwrap();
        assert_eq!(t.listed_twice(), 1);
    }

    #[test]
    fn a_store_built_small_that_grew_asks_for_a_full_read() {
        let (_dir, store) = scratch();
        let txn = store.begin().unwrap();
        let mut t = txn.tables().unwrap();
        // An empty directory: the fewest buckets.
        t.pack(&["s"], &[], true).unwrap();
        let first_bucket = (0..)
            .map(|i| format!("id{i}"))
            .filter(|id| packs::hash(id.as_bytes()) >> (64 - 4) == 0);
        let mut stored = 0;
        for id in first_bucket {
            match t.put_record("s", &id, b"r") {
                Ok(()) => stored += 1,
                Err(Error {
                    cause: Cause::Outgrown,
                    ..
                }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(stored, 64 * 64, "a pack takes 4096 objects, not one more");
    }

    #[test]
    fn key_counts_follow_a_model_across_chunks() {
        let (_dir, store) = scratch();
        let txn = store.begin().unwrap();
        let mut t = txn.tables().unwrap();
        // Built in order: several chunks and a part one.
        let mut model = BTreeMap::new();
        for i in (0..1000).step_by(2) {
            let key = format!("k{i:04}@x");
            t.set_count(&key, 1 + i % 3).unwrap();
            model.insert(key, 1 + i % 3);
        }
        t.counted().unwrap();
        // Random additions and removals (before the first key, between, after the last,
        // enough in one place to split chunks), checked against the model every time.
        let mut seed = 7u64;
        for round in 0..3000 {
            let seed = next(&mut seed);
            let key = format!("k{:04}@x", (seed >> 33) % 1200);
            if seed % 5 < 3 || !model.contains_key(&key) {
                t.add_keys(std::slice::from_ref(&key)).unwrap();
                *model.entry(key).or_default() += 1;
            } else {
                t.remove_keys(std::slice::from_ref(&key)).unwrap();
                let count = model.get_mut(&key).unwrap();
                *count -= 1;
                if *count == 0 {
                    model.remove(&key);
                }
            }
            if round % 100 == 0 {
                let mut set = KeySet::new();
                t.keys_into(&mut set).unwrap();
                set.finish();
                assert!(
                    set.iter().eq(model.keys().map(String::as_str)),
                    "round {round}"
                );
            }
        }
        for (key, count) in &model {
            let (_, chunk) = t.chunk_of(key).unwrap();
            assert!(chunk.len() <= counts::MAX);
            assert!(chunk.contains(&(key.clone(), *count as u32)), "{key}");
        }
        assert!(
            t.remove_keys(&["k9999@x".into()]).is_err(),
            "counted for none"
        );
    }

    #[test]
    fn damaged_foreign_and_linked_stores_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.store");
        assert!(Store::open(&path).unwrap().is_none());
        fs_err::write(&path, b"not a database at all, just text\n".repeat(200)).unwrap();
        assert!(Store::open(&path).is_err());
        // A real store cut short.
        let store = Store::build(&path).unwrap();
        let txn = store.begin().unwrap();
        for i in 0..2000 {
            txn.tables()
                .unwrap()
                .replace("s", &i.to_string(), Some(&entry(&format!("user{i}"))))
                .unwrap();
        }
        txn.commit(&meta()).unwrap();
        store.install().unwrap();
        let len = fs_err::metadata(&path).unwrap().len();
        for cut in [len / 2, 4096, 100] {
            let file = fs_err::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(cut).unwrap();
            drop(file);
            if let Ok(Some((store, _))) = Store::open(&path) {
                // Whatever redb makes of it, reading it must not panic.
                let txn = store.begin().unwrap();
                let _ = txn.tables().map(|t| t.ids("s"));
            }
        }
        let link = dir.path().join("link.store");
        fs_err::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(Store::open(&link).is_err(), "a link is not followed");
    }
}
