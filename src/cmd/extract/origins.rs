//! Where held removals came from, when the read that holds them did not see them go: a full
//! read finds only what is still there, so the objects that gave the removed keys are looked
//! up in the store the read replaces (each object's source, and its container for an LDAP
//! object). Only when a change is newly held, for the addresses no earlier run placed: the
//! lookup reads every object of the old store once.

use std::collections::HashSet;
use std::path::Path;

use tracing::info;

use super::{Origins, Run};
use crate::rules::Collector;
use crate::store::{Store, Txn};

/// The store a full read replaces, as the run has it.
pub(super) enum Old<'a> {
    /// Caught up in a change of its own (a reconcile's drift check holds it), with where the
    /// keys the catch-up took away came from (those objects are no longer in it).
    Caught(&'a Txn<'a>, &'a Origins),
    /// Open, with no change in progress.
    Open(&'a Store),
    /// Not open: at this path, if anywhere.
    At(&'a Path),
}

/// The origins of `keys` that `old` knows (none when it cannot be read: they are only a
/// report).
pub(super) fn lookup(run: &Run<'_>, old: &Old<'_>, keys: &[String]) -> Origins {
    if keys.is_empty() {
        return Origins::new();
    }
    let scan = |run: &Run<'_>, txn: &Txn<'_>, keys: &[String]| match keys.is_empty() {
        true => Ok(Origins::new()),
        false => scan(run, txn, keys),
    };
    // redb asserts on some damaged pages: a store that cannot be read only costs the report.
    let found = crate::panic::catch(|| match old {
        Old::Caught(txn, gone) => {
            let (placed, rest): (Vec<&String>, Vec<&String>) =
                keys.iter().partition(|k| gone.contains_key(*k));
            let rest: Vec<String> = rest.into_iter().cloned().collect();
            let mut origins = scan(run, txn, &rest)?;
            origins.extend(placed.into_iter().map(|k| (k.clone(), gone[k].clone())));
            Ok(origins)
        }
        Old::Open(store) => store.begin().and_then(|txn| scan(run, &txn, keys)),
        Old::At(path) => match Store::open(path) {
            Ok(Some((store, _))) => store.begin().and_then(|txn| scan(run, &txn, keys)),
            Ok(None) => Ok(Origins::new()),
            Err(e) => Err(e),
        },
    });
    match found {
        Ok(Ok(origins)) => origins,
        Ok(Err(e)) => {
            info!("{e}; where the held removals came from is not known");
            Origins::new()
        }
        Err(panic) => {
            info!("the store: {panic}; where the held removals came from is not known");
            Origins::new()
        }
    }
}

/// Reads every object of `txn`'s store (not changing it) for those that give one of `keys`.
fn scan(run: &Run<'_>, txn: &Txn<'_>, keys: &[String]) -> Result<Origins, crate::store::Error> {
    let wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let tables = txn.tables()?;
    let mut collector = Collector::new(run.rules);
    let mut origins = Origins::new();
    for (source, feed) in run.settings.sources.iter().zip(run.feeds) {
        if feed.is_none() {
            continue;
        }
        for object in tables.objects(&source.name)? {
            let (_, entry) = object?;
            for key in collector.object(&entry).keys {
                if wanted.contains(key.as_str()) {
                    let origin = format!("{} {}", source.name, entry.container());
                    origins.insert(key, origin.trim_end().to_owned());
                }
            }
        }
    }
    Ok(origins)
}
