//! The writing side of the pass: the validated batches, in order, into the new text map (and
//! the native cdb), hashed and counted, and the finished [`Built`] map.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::Digest as _;

use super::{Batch, Built, Error, MAX_DOMAINS, MAX_LISTED, Pass, Problems, write_error};
use crate::install::cdb;
use crate::install::relay::Domains;
use crate::install::validate::{self, Problem};
use crate::map::atomic::{self, Replacement};
use crate::map::diff::{self, Merger};
use crate::map::digest;
use crate::postfix::MapType;

/// The native cdb being written, and its temporary path (removed unless it goes live).
type CdbOut = (
    tempfile::TempPath,
    cdb::Writer<std::io::BufWriter<crate::fs::File>>,
);

/// The writing side of the pass: the new text, its digest, the cdb, and what is counted.
pub(super) struct Sink<'a, W: std::io::Write> {
    source: &'a Path,
    out: W,
    hasher: sha2::Sha256,
    cdb: Option<CdbOut>,
    merger: Merger<diff::OldKeys>,
    /// The removals each usable approval that came with the map names.
    approved: &'a [&'a crate::hold::Removals],
    /// Removals of live keys no approval names.
    uncovered: usize,
    /// Whether each approval names at least one of the removals.
    hits: Vec<bool>,
    count: usize,
    /// Each canary and, once seen, its value.
    canaries: Vec<(&'a str, Option<String>)>,
    domains: BTreeMap<String, usize>,
    more_domains: usize,
    relay: Option<(&'a Domains, &'a Domains)>,
    lost: usize,
    first: Option<(String, String)>,
    /// The last valid key of the blocks so far, to check where the next block meets them.
    last: String,
    problems: Problems,
}

impl<'a, W: std::io::Write> Sink<'a, W> {
    /// A sink writing the text map to `out` and the native cdb to `cdb`, if any.
    pub(super) fn new(pass: &Pass<'a>, out: W, cdb: Option<CdbOut>) -> Result<Self, Error> {
        Ok(Self {
            source: pass.source,
            out,
            hasher: sha2::Sha256::new(),
            cdb,
            merger: Merger::new(pass.previous.keys()?),
            approved: pass.approved,
            uncovered: 0,
            hits: vec![false; pass.approved.len()],
            count: 0,
            canaries: pass.canaries.iter().map(|c| (c.as_str(), None)).collect(),
            domains: BTreeMap::new(),
            more_domains: 0,
            relay: pass.relay,
            lost: 0,
            first: None,
            last: String::new(),
            problems: Problems {
                listed: Vec::new(),
                total: 0,
            },
        })
    }

    /// Takes the next block's batch: checks it against the block before, then writes,
    /// hashes and counts its entries, or (once the map has a problem) only counts problems.
    pub(super) fn batch(&mut self, batch: &Batch, text_path: &Path) -> Result<(), Error> {
        let mut entries = &batch.entries[..];
        let mut skipped = 0;
        let mut meeting = None;
        if let Some((line, key)) = &batch.first
            && !self.last.is_empty()
        {
            match validate::is_duplicate(self.source, *line, &self.last, key) {
                // The block's first valid key is its first entry, unless a problem came
                // before it (then nothing of it is written).
                Ok(true) => {
                    if let Some(&(key_len, value_len)) = entries.first() {
                        skipped = key_len + value_len + 2;
                        entries = &entries[1..];
                    }
                }
                Ok(false) => {}
                Err(problem) => meeting = Some((*line, problem)),
            }
        }
        if !batch.last.is_empty() {
            self.last.clone_from(&batch.last);
        }
        if batch.total > 0 || meeting.is_some() || self.problems.total > 0 {
            self.problems.total += batch.total + usize::from(meeting.is_some());
            let mut listed: Vec<&(usize, Problem)> = batch.problems.iter().collect();
            if let Some(meeting) = &meeting {
                let at = listed.partition_point(|(line, _)| *line < meeting.0);
                listed.insert(at, meeting);
            }
            let room = MAX_LISTED.saturating_sub(self.problems.listed.len());
            self.problems
                .listed
                .extend(listed.into_iter().take(room).map(|(_, p)| p.clone()));
            return Ok(());
        }
        let write_error = |path: &Path, cause| Error::Write {
            path: path.to_owned(),
            cause,
        };
        let text = batch.text.get(skipped..).unwrap_or_default();
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| write_error(text_path, e))?;
        self.hasher.update(text.as_bytes());
        let mut at = skipped;
        for &lengths in entries {
            let (key, value) = batch.entry(at, lengths);
            at += lengths.0 + lengths.1 + 2;
            if let Some((guard, writer)) = &mut self.cdb {
                writer
                    .add(key.as_bytes(), value.as_bytes())
                    .map_err(|e| write_error(guard, e))?;
            }
            let (approved, uncovered, hits) = (self.approved, &mut self.uncovered, &mut self.hits);
            self.merger
                .push(key, |side, old| {
                    count_removal(side, old, approved, uncovered, hits);
                })
                .map_err(diff::Error::from)?;
            self.count += 1;
            for (canary, found) in &mut self.canaries {
                if *canary == key {
                    *found = Some(value.to_owned());
                }
            }
            let domain = key.rsplit_once('@').map_or("", |(_, d)| d);
            let room = self.domains.len() < MAX_DOMAINS;
            match self.domains.get_mut(domain) {
                Some(n) => *n += 1,
                None if room => {
                    self.domains.insert(domain.to_owned(), 1);
                }
                None => self.more_domains += 1,
            }
            if let Some((live, new)) = self.relay
                && live.covers(domain)
                && !new.covers(domain)
            {
                self.lost += 1;
            }
            if self.first.is_none() {
                self.first = Some((key.to_owned(), value.to_owned()));
            }
        }
        Ok(())
    }
}

/// The native cdb file beside the new text map (when the map is cdb and rcptsync writes it),
/// removed again if the build fails.
pub(super) fn native_cdb(pass: &Pass<'_>, text_path: &Path) -> Result<Option<CdbOut>, Error> {
    if !(pass.native_cdb && pass.spec.kind == MapType::Cdb) {
        return Ok(None);
    }
    let path = pass
        .spec
        .indexed_of(text_path)
        .unwrap_or_else(|| text_path.with_extension("cdb"));
    let file = crate::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| write_error(&path, e))?;
    let guard = tempfile::TempPath::try_from_path(&path).map_err(|e| write_error(&path, e))?;
    let writer = cdb::Writer::new(std::io::BufWriter::with_capacity(1 << 16, file))
        .map_err(|e| write_error(&path, e))?;
    Ok(Some((guard, writer)))
}

/// The built map from a sink that took every block: its text flushed (and cooled for
/// texthash), its cdb finished, and what the guards and the report need.
pub(super) fn finish<W: std::io::Write>(
    pass: &Pass<'_>,
    mut text: Replacement,
    sink: Sink<'_, W>,
) -> Result<Result<Built, Problems>, Error> {
    let text_path = text.temp_path().to_owned();
    let text_path = text_path.as_path();
    let Sink {
        problems,
        mut out,
        hasher,
        cdb: cdb_file,
        merger,
        approved,
        mut uncovered,
        mut hits,
        count,
        canaries,
        domains,
        more_domains,
        lost,
        first,
        ..
    } = sink;
    if problems.total > 0 {
        return Ok(Err(problems));
    }
    out.flush().map_err(|e| write_error(text_path, e))?;
    drop(out);
    let summary = merger
        .finish(|side, old| count_removal(side, old, approved, &mut uncovered, &mut hits))
        .map_err(diff::Error::from)?;
    if pass.spec.kind == MapType::Texthash {
        // Postfix re-reads a texthash file until its mtime is two seconds old, in case an
        // editor is still writing it ("pausing to let file cool down"): every daemon would
        // stall after the reload. This file is complete before it goes live.
        let cooled = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
        text.file()
            .set_modified(cooled)
            .map_err(|e| write_error(text_path, e))?;
    }
    let indexed = match cdb_file {
        Some((guard, writer)) => {
            let file = writer
                .finish()
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .map_err(|e| write_error(&guard, e))?;
            if let Some(live) = pass.spec.indexed() {
                atomic::Attributes::of(&live, 0o644)
                    .and_then(|a| a.apply(file.file()))
                    .map_err(|e| write_error(&guard, e))?;
            }
            file.sync_all().map_err(|e| write_error(&guard, e))?;
            Some(guard)
        }
        None => None,
    };
    let probe = canaries
        .iter()
        .find_map(|(canary, value)| Some((canary.to_string(), value.clone()?)))
        .or(first);
    Ok(Ok(Built {
        text: text.into_temp_path()?,
        indexed,
        sha256: digest::hex(&hasher.finalize()),
        count,
        summary: pass.previous.exists().then_some(summary),
        uncovered,
        approvals_hit: hits,
        missing_canaries: canaries
            .iter()
            .filter(|(_, found)| found.is_none())
            .map(|(c, _)| c.to_string())
            .collect(),
        domains,
        more_domains,
        lost,
        probe,
    }))
}

/// Counts a key on one side of the merge if it is a removal: against each approval in
/// `approved` that names it (`hits`), or as `uncovered` when none does.
fn count_removal(
    side: diff::Side,
    key: &str,
    approved: &[&crate::hold::Removals],
    uncovered: &mut usize,
    hits: &mut [bool],
) {
    if side != diff::Side::Removed {
        return;
    }
    let mut named = false;
    for (set, hit) in approved.iter().zip(hits.iter_mut()) {
        if set.contains(key) {
            (named, *hit) = (true, true);
        }
    }
    *uncovered += usize::from(!named);
}
