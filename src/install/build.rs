//! The new map, made in one streaming pass over the spooled text: every line is validated
//! ([`super::validate`]), rendered into the new text file beside the live map, hashed,
//! counted against the live map for the guards, and (with the native writer) added to the
//! new cdb, all as it is read. Memory stays the same whatever the size of the map, except
//! for the cdb writer's 8 bytes per key (and at most [`MAX_DOMAINS`] domains counted).
//!
//! The spooled text is sorted by construction (rcptsync writes maps sorted by key); a map
//! that is not (a hand-made one given with `--from`) is refused with the command that sorts
//! it, so that order and duplicates are checked against the previous key alone.
//!
//! Security: runs as root on input the spool account controls. Lines are read with a bounded
//! length, problems are listed up to a bound (with the total), and nothing of the input
//! reaches the new files unless it passed validation; the new files are temporary until
//! [`super::swap`] renames them, and are removed if the map is refused.

use std::collections::BTreeMap;
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::cdb;
use super::validate::{Line, Validator};
use crate::map::atomic::{self, Replacement};
use crate::map::diff::{self, Merger, Previous, Summary};
use crate::map::digest;
use crate::postfix::{MapSpec, MapType};

/// Longest line read; a map line is an address of at most 254 bytes and a short value.
pub const MAX_LINE: usize = 4096;

/// Distinct domains counted for the relay_domains report; a map with more (a real one has a
/// handful) has the rest counted in [`Built::more_domains`], so that memory and the report's
/// Postfix lookups stay bounded.
pub const MAX_DOMAINS: usize = 1000;

/// Problems listed in full; the rest are counted.
const MAX_LISTED: usize = 100;

/// What the pass needs to know.
#[derive(Debug)]
pub struct Pass<'a> {
    /// Where the input comes from, for messages.
    pub source: &'a Path,
    /// Lines of the file before the map text (a payload's header), so that messages name
    /// the line of the file.
    pub line_offset: usize,
    /// The live map; the new files are made beside it, like it.
    pub spec: &'a MapSpec,
    /// Build the cdb file here (else postmap builds the indexed file afterwards).
    pub native_cdb: bool,
    /// Addresses that must be in the map (normalized).
    pub canaries: &'a [String],
    /// The live map, to count what the new one adds and removes.
    pub previous: &'a Previous,
}

/// Why the pass could not be completed (as opposed to a map that is refused).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the input failed.
    #[error("read {}: {cause}", path.display())]
    Read {
        /// The input.
        path: PathBuf,
        /// The failure.
        cause: std::io::Error,
    },
    /// Writing a new file failed.
    #[error("write {}: {cause}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        cause: std::io::Error,
    },
    /// Starting a new file failed.
    #[error(transparent)]
    Replace(#[from] atomic::Error),
    /// The live map could not be read to compare against.
    #[error("read the installed map: {0}")]
    Previous(#[from] diff::Error),
}

/// A map that passed: its files, beside the live ones and removed unless installed.
#[derive(Debug)]
pub struct Built {
    /// The new text file.
    pub text: tempfile::TempPath,
    /// The new indexed file, when the native writer made it.
    pub indexed: Option<tempfile::TempPath>,
    /// SHA-256 of the new text.
    pub sha256: String,
    /// Entries in the new map.
    pub count: usize,
    /// The change against the live map (None when there is none).
    pub summary: Option<Summary>,
    /// Canaries the new map lacks.
    pub missing_canaries: Vec<String>,
    /// Keys per domain, for the relay_domains report (at most [`MAX_DOMAINS`] domains).
    pub domains: BTreeMap<String, usize>,
    /// Keys in the domains beyond [`MAX_DOMAINS`].
    pub more_domains: usize,
    /// A key and its value to look up in the built map before it goes live: a canary if
    /// there is one (it is what must work), else the first entry.
    pub probe: Option<(String, String)>,
}

/// A map that failed validation: every problem counted, the first 100 listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    /// The problems, each naming `file:line`.
    pub listed: Vec<String>,
    /// How many there were in all.
    pub total: usize,
}

/// Valid entries handed from the reading thread to the writing one, rendered: `key value\n`
/// each, with the lengths of key and value.
#[derive(Debug, Default)]
struct Batch {
    text: String,
    entries: Vec<(usize, usize)>,
}

/// Entries per batch: large enough that handing one over costs nothing, small enough to stay
/// in the caches.
const BATCH: usize = 4096;

/// Reads and validates every line of `input`, sending the valid entries in batches (none once
/// a line has failed, since the map is refused anyway); returns the problems.
fn read_lines(
    pass: &Pass<'_>,
    input: &mut impl BufRead,
    batches: &std::sync::mpsc::SyncSender<Batch>,
) -> Result<Problems, Error> {
    let read_error = |cause| Error::Read {
        path: pass.source.to_owned(),
        cause,
    };
    let mut validator = Validator::new(pass.source);
    let mut problems = Problems {
        listed: Vec::new(),
        total: 0,
    };
    let mut batch = Batch::default();
    let mut line = Vec::with_capacity(256);
    let mut number = pass.line_offset;
    loop {
        line.clear();
        let read = std::io::Read::take(&mut *input, MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(read_error)?;
        if read == 0 {
            break;
        }
        number += 1;
        let too_long = line.len() > MAX_LINE;
        if too_long {
            // Skip the rest of the line without holding it.
            loop {
                let buffer = input.fill_buf().map_err(read_error)?;
                if buffer.is_empty() {
                    break;
                }
                match buffer.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        input.consume(end + 1);
                        break;
                    }
                    None => {
                        let all = buffer.len();
                        input.consume(all);
                    }
                }
            }
        }
        let checked = if too_long {
            Err(format!(
                "{}:{number}: the line is longer than {MAX_LINE} bytes",
                pass.source.display()
            ))
        } else {
            validator.line(number, &line)
        };
        match checked {
            Ok(Line::Entry(entry)) if problems.total == 0 => {
                batch.text.push_str(&entry.key);
                batch.text.push(' ');
                batch.text.push_str(entry.value);
                batch.text.push('\n');
                batch.entries.push((entry.key.len(), entry.value.len()));
                if batch.entries.len() == BATCH && batches.send(std::mem::take(&mut batch)).is_err()
                {
                    // The writer stopped on an error of its own, which it reports.
                    return Ok(problems);
                }
            }
            Ok(_) => {}
            Err(problem) => {
                problems.total += 1;
                if problems.listed.len() < MAX_LISTED {
                    problems.listed.push(problem);
                }
            }
        }
    }
    if problems.total == 0 && !batch.entries.is_empty() {
        let _ = batches.send(batch);
    }
    Ok(problems)
}

/// The writing side of the pass: the new text, its digest, the cdb, and what is counted.
struct Sink<'a, W: std::io::Write> {
    out: W,
    hasher: sha2::Sha256,
    cdb: Option<(
        tempfile::TempPath,
        cdb::Writer<std::io::BufWriter<fs_err::File>>,
    )>,
    merger: Merger<diff::OldKeys>,
    count: usize,
    /// Each canary and, once seen, its value.
    canaries: Vec<(&'a str, Option<String>)>,
    domains: BTreeMap<String, usize>,
    more_domains: usize,
    first: Option<(String, String)>,
}

impl<W: std::io::Write> Sink<'_, W> {
    /// Writes, hashes and counts one batch of valid entries.
    fn batch(&mut self, batch: &Batch, text_path: &Path) -> Result<(), Error> {
        let write_error = |path: &Path, cause| Error::Write {
            path: path.to_owned(),
            cause,
        };
        self.out
            .write_all(batch.text.as_bytes())
            .map_err(|e| write_error(text_path, e))?;
        self.hasher.update(batch.text.as_bytes());
        let mut at = 0;
        for &(key_len, value_len) in &batch.entries {
            // Slices at the boundaries the reader pushed (so at char boundaries: no panic).
            let key = batch.text.get(at..at + key_len).unwrap_or_default();
            let value = batch
                .text
                .get(at + key_len + 1..at + key_len + 1 + value_len)
                .unwrap_or_default();
            at += key_len + value_len + 2;
            if let Some((guard, writer)) = &mut self.cdb {
                writer
                    .add(key.as_bytes(), value.as_bytes())
                    .map_err(|e| write_error(guard, e))?;
            }
            self.merger
                .push(key, |_, _| {})
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
            if self.first.is_none() {
                self.first = Some((key.to_owned(), value.to_owned()));
            }
        }
        Ok(())
    }
}

/// Runs the pass over `input`: one thread reads and validates, the other writes, hashes and
/// counts, so that both cores work on a large map.
pub fn run(
    pass: &Pass<'_>,
    input: &mut (impl BufRead + Send),
) -> Result<Result<Built, Problems>, Error> {
    let mut text = Replacement::new(&pass.spec.path, 0o644)?;
    let text_path = text.temp_path().to_owned();
    let write_error = |path: &Path, cause| Error::Write {
        path: path.to_owned(),
        cause,
    };
    let mut cdb_file = None;
    let text_path = text_path.as_path();
    if pass.native_cdb && pass.spec.kind == MapType::Cdb {
        let path = pass
            .spec
            .indexed_of(text_path)
            .unwrap_or_else(|| text_path.with_extension("cdb"));
        let file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| write_error(&path, e))?;
        let guard = tempfile::TempPath::try_from_path(&path).map_err(|e| write_error(&path, e))?;
        let writer = cdb::Writer::new(std::io::BufWriter::with_capacity(1 << 16, file))
            .map_err(|e| write_error(&path, e))?;
        cdb_file = Some((guard, writer));
    }

    let mut sink = Sink {
        // A second handle on the same file: the writer owns it, the replacement keeps its own.
        out: std::io::BufWriter::with_capacity(
            1 << 16,
            fs_err::File::from_parts(
                text.file()
                    .try_clone()
                    .map_err(|e| write_error(text_path, e))?,
                text_path,
            ),
        ),
        hasher: sha2::Sha256::new(),
        cdb: cdb_file,
        merger: Merger::new(pass.previous.keys()?),
        count: 0,
        canaries: pass.canaries.iter().map(|c| (c.as_str(), None)).collect(),
        domains: BTreeMap::new(),
        more_domains: 0,
        first: None,
    };
    let (sender, batches) = std::sync::mpsc::sync_channel::<Batch>(4);
    let (problems, written) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_lines(pass, input, &sender));
        let mut written: Result<(), Error> = Ok(());
        for batch in &batches {
            written = sink.batch(&batch, text_path);
            if written.is_err() {
                // Dropping the receiver stops the reader at its next batch.
                break;
            }
        }
        drop(batches);
        let problems = reader.join().unwrap_or_else(|_| {
            Err(Error::Read {
                path: pass.source.to_owned(),
                cause: std::io::Error::other("the reading thread failed"),
            })
        });
        (problems, written)
    });
    written?;
    let problems = problems?;
    if problems.total > 0 {
        return Ok(Err(problems));
    }
    let Sink {
        mut out,
        hasher,
        cdb: cdb_file,
        merger,
        count,
        canaries,
        domains,
        more_domains,
        first,
    } = sink;
    out.flush().map_err(|e| write_error(text_path, e))?;
    drop(out);
    let summary = merger.finish(|_, _| {}).map_err(diff::Error::from)?;
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
        missing_canaries: canaries
            .iter()
            .filter(|(_, found)| found.is_none())
            .map(|(c, _)| c.to_string())
            .collect(),
        domains,
        more_domains,
        probe,
    }))
}
