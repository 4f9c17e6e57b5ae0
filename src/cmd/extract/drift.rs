//! The drift check of a full reconcile: when a full read replaces a store that incremental
//! reads kept, the two must agree. An object on which they differ means an incremental read
//! missed something, which must never happen: it is reported as an error naming the objects
//! (the map is right again after the full read).
//!
//! Changes made while this runs are not drift: before the full read, the old store is caught
//! up to now (the changes since its cursor, not committed); after it, the changes since that
//! point are read once more, and the objects they name are left out of the comparison. A
//! refused change is no drift either: the store never moved past it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use tracing::{error, info};

use super::Run;
use super::incremental::{Apply, catch_up};
use crate::cmd::Result;
use crate::rules::Entry;
use crate::source::{Change, Cursor, Reader};
use crate::store::{self, Meta, Store, Tables, Txn};

/// The old store, caught up to the moment before the full read.
pub(super) struct Before<'s> {
    txn: Txn<'s>,
    /// Each feed source's cursor after the catch-up, by source name.
    cursors: BTreeMap<String, Cursor>,
    /// Where the keys the catch-up took away came from.
    origins: super::Origins,
}

impl<'s> Before<'s> {
    /// The old store as the full read replaces it: caught up (for reading it; it is never
    /// committed), with where the keys the catch-up took away came from.
    pub(super) fn old(&self) -> super::origins::Old<'_> {
        super::origins::Old::Caught(&self.txn, &self.origins)
    }
}

/// Catches the old store up (not committed); None when a cursor is no longer valid (then
/// there is nothing to compare with).
pub(super) fn before<'s>(
    run: &Run<'_>,
    readers: &mut [Box<dyn Reader + '_>],
    store: &'s Store,
    meta: &Meta,
) -> Result<Option<Before<'s>>> {
    let txn = store.begin()?;
    let mut cursors = BTreeMap::new();
    let mut apply = Apply::new(run.rules);
    {
        let mut tables = txn.tables()?;
        let sources = run.settings.sources.iter().zip(readers).zip(run.feeds);
        for ((source, reader), _) in sources.filter(|(_, feed)| feed.is_some()) {
            let Some(kept) = meta.sources.get(&source.name) else {
                return Ok(None);
            };
            let caught = catch_up(
                reader.as_mut(),
                &source.name,
                &kept.cursor,
                &mut tables,
                &mut apply,
            )?;
            let Some(caught) = caught else {
                return Ok(None);
            };
            cursors.insert(source.name.clone(), caught.cursor);
        }
    }
    Ok(Some(Before {
        txn,
        cursors,
        origins: apply.origins,
    }))
}

/// Compares the store the full read installed at `path` with `before`, leaving out what
/// changed since; reports what differs. Returns how many objects differ.
pub(super) fn compare(
    run: &Run<'_>,
    readers: &mut [Box<dyn Reader + '_>],
    before: Before<'_>,
    path: &Path,
) -> Result<usize> {
    let Some((after, after_meta)) = Store::open(path)? else {
        return Ok(0);
    };
    let after_txn = after.begin()?;
    let (old, new) = (before.txn.tables()?, after_txn.tables()?);
    let mut drifted = 0;
    for (source, reader) in run.settings.sources.iter().zip(readers) {
        let Some(cursor) = before.cursors.get(&source.name) else {
            continue;
        };
        // The full read took the connection: the next one may reach another server, whose
        // cursor is not this one's.
        let identity = reader.feed()?.map(|feed| feed.identity);
        let kept = after_meta.sources.get(&source.name).map(|m| &m.identity);
        if identity.as_ref() != kept {
            info!(
                "source {}: another server answers now; no drift check",
                source.name
            );
            continue;
        }
        // What changed since the catch-up is no drift.
        let mut since = HashSet::new();
        let changes = reader.read_changes(cursor, &mut |change| {
            let id = match change {
                Change::Changed { id, .. } | Change::Gone { id } => id,
            };
            since.insert(id.to_owned());
        })?;
        if changes.as_ref().is_none_or(|c| c.present.is_some()) {
            info!(
                "source {}: the changes since the full read began cannot be told; no drift check",
                source.name
            );
            continue;
        }
        let differ = differences(&old, &new, &source.name, &since)?;
        if !differ.is_empty() {
            drifted += differ.len();
            let shown: Vec<&str> = differ.iter().take(10).map(String::as_str).collect();
            error!(
                "source {}: the full read found {} object(s) that the incremental reads had \
                 wrong (the map is right again now): {}{}; this is a bug, please report it",
                source.name,
                differ.len(),
                shown.join("; "),
                if differ.len() > shown.len() {
                    "; ..."
                } else {
                    ""
                }
            );
        }
    }
    Ok(drifted)
}

/// The objects of `source` that differ between the two stores, by DN, leaving out `since`.
fn differences(
    old: &Tables<'_>,
    new: &Tables<'_>,
    source: &str,
    since: &HashSet<String>,
) -> Result<Vec<String>> {
    let mut differ = Vec::new();
    let mut report = |id: &str, entry: &Entry| {
        if !since.contains(id) {
            differ.push(format!("{} ({id})", entry.dn));
        }
    };
    let (mut old, mut new) = (old.objects(source)?, new.objects(source)?);
    let (mut a, mut b) = (old.next().transpose()?, new.next().transpose()?);
    loop {
        match (&a, &b) {
            (None, None) => break,
            (Some((id, entry)), None) => {
                report(id, entry);
                a = old.next().transpose()?;
            }
            (None, Some((id, entry))) => {
                report(id, entry);
                b = new.next().transpose()?;
            }
            (Some((ida, ea)), Some((idb, eb))) => match store::order(ida).cmp(&store::order(idb)) {
                std::cmp::Ordering::Less => {
                    report(ida, ea);
                    a = old.next().transpose()?;
                }
                std::cmp::Ordering::Greater => {
                    report(idb, eb);
                    b = new.next().transpose()?;
                }
                std::cmp::Ordering::Equal => {
                    if !same(ea, eb) {
                        report(idb, eb);
                    }
                    a = old.next().transpose()?;
                    b = new.next().transpose()?;
                }
            },
        }
    }
    Ok(differ)
}

/// Whether two reads of an object say the same (the order of values is the server's, not
/// the object's).
fn same(a: &Entry, b: &Entry) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    a.dn == b.dn
        && a.require_auth == b.require_auth
        && sorted(&a.proxy_addresses) == sorted(&b.proxy_addresses)
        && sorted(&a.mail) == sorted(&b.mail)
}
