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
use std::io::BufRead;
use std::path::{Path, PathBuf};

mod read;
mod sink;

use super::validate::{Line, Problem, Validator};
use crate::map::atomic::{self, Replacement};
use crate::map::diff::{self, Previous, Summary};
use crate::postfix::MapSpec;
use read::{Block, read_blocks};
use sink::{Sink, finish, native_cdb};

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
    /// The domains the map may open with an `@domain` line (`[install].internal_relay_domains`).
    pub open_domains: &'a std::collections::BTreeSet<String>,
    /// The live map, to count what the new one adds and removes.
    pub previous: &'a Previous,
    /// The removals each checked approval names: those no approval names are counted apart
    /// ([`Built::uncovered`]).
    pub approved: &'a [&'a crate::hold::Removals],
    /// The relay domains now and after this change, when they change: keys in a domain the
    /// first covers and the second does not lose their relay ([`Built::lost`]).
    pub relay: Option<(
        &'a crate::install::relay::Domains,
        &'a crate::install::relay::Domains,
    )>,
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
    /// How many of the removals no approval given to the pass names (all of them without
    /// one).
    pub uncovered: usize,
    /// Whether each approval given to the pass names at least one of the removals.
    pub approvals_hit: Vec<bool>,
    /// Canaries the new map lacks.
    pub missing_canaries: Vec<String>,
    /// Keys per domain, for the relay_domains report (at most [`MAX_DOMAINS`] domains).
    pub domains: BTreeMap<String, usize>,
    /// Keys in the domains beyond [`MAX_DOMAINS`].
    pub more_domains: usize,
    /// Keys whose domain the relay domains change stops relaying (all of them are counted,
    /// whatever the number of domains).
    pub lost: usize,
    /// A key and its value to look up in the built map before it goes live: a canary if
    /// there is one (it is what must work), else the first entry.
    pub probe: Option<(String, String)>,
}

/// A map that failed validation: every problem counted, the first 100 listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    /// The problems, each naming `file:line`.
    pub listed: Vec<Problem>,
    /// How many there were in all.
    pub total: usize,
}

/// One block validated, for the writing thread: its valid entries rendered (`key value\n`
/// each, with the lengths of key and value) and its problems.
#[derive(Debug, Default)]
struct Batch {
    /// The entries up to the block's first problem.
    text: String,
    entries: Vec<(usize, usize)>,
    /// The block's first valid key and its line number, and its last valid key (also when
    /// the block has problems), for the check where blocks meet.
    first: Option<(usize, String)>,
    last: String,
    /// The problems, each with its line number; the first [`MAX_LISTED`] of the block.
    problems: Vec<(usize, Problem)>,
    /// Problems in the block, listed or not.
    total: usize,
}

impl Batch {
    /// The key and value of the entry whose line starts at byte `at` of `text`.
    fn entry(&self, at: usize, (key_len, value_len): (usize, usize)) -> (&str, &str) {
        // Slices at the boundaries the validator pushed (so at char boundaries: no panic).
        let key = self.text.get(at..at + key_len).unwrap_or_default();
        let value = self
            .text
            .get(at + key_len + 1..at + key_len + 1 + value_len)
            .unwrap_or_default();
        (key, value)
    }
}

/// Validates the lines of one block (in order within it; where blocks meet is checked by
/// the writer). Entries are rendered only while the block has no problem, since a map with
/// one is refused anyway.
fn validate(pass: &Pass<'_>, block: &Block) -> Batch {
    let source = pass.source;
    let mut validator = Validator::new(source, pass.open_domains);
    let mut batch = Batch {
        text: String::with_capacity(block.text.len()),
        entries: Vec::with_capacity(block.lines.len()),
        ..Batch::default()
    };
    let mut start = 0;
    for (i, &(end, too_long)) in block.lines.iter().enumerate() {
        let number = block.first_line + i;
        let line = block.text.get(start..end).unwrap_or_default();
        start = end;
        let checked = if too_long {
            Err(Problem::too_long(source, number, MAX_LINE))
        } else {
            validator.line(number, line)
        };
        match checked {
            Ok(Line::Entry(entry)) => {
                if batch.first.is_none() {
                    batch.first = Some((number, entry.key.to_owned()));
                }
                if batch.total > 0 {
                    continue;
                }
                batch.text.push_str(entry.key);
                batch.text.push(' ');
                batch.text.push_str(entry.value);
                batch.text.push('\n');
                batch.entries.push((entry.key.len(), entry.value.len()));
            }
            Ok(Line::Skip) => {}
            Err(problem) => {
                batch.total += 1;
                if batch.problems.len() < MAX_LISTED {
                    batch.problems.push((number, problem));
                }
            }
        }
    }
    batch.last = validator.last_key().to_owned();
    batch
}

/// Runs the pass over `input`: one thread reads lines, two validate alternate blocks of
/// them, and this one writes, hashes and counts, so that validation (most of the work) is
/// shared by two cores. Where two blocks meet, the writer checks order and duplicates as a
/// validator does within one (a block that starts out of order is refused the same, but the
/// lines after its first are checked against that first one, so the count of lines out of
/// order can differ from one validator's).
pub fn run(
    pass: &Pass<'_>,
    input: &mut (impl BufRead + Send),
) -> Result<Result<Built, Problems>, Error> {
    let mut text = Replacement::new(&pass.spec.path, 0o644)?;
    let text_path = text.temp_path().to_owned();
    let text_path = text_path.as_path();
    // A second handle on the same file: the writer owns it, the replacement keeps its own.
    let out = std::io::BufWriter::with_capacity(
        1 << 16,
        crate::fs::File::from_parts(
            text.file()
                .try_clone()
                .map_err(|e| write_error(text_path, e))?,
            text_path,
        ),
    );
    let mut sink = Sink::new(pass, out, native_cdb(pass, text_path)?)?;
    pump(pass, input, &mut sink, text_path)?;
    finish(pass, text, sink)
}

pub(super) fn write_error(path: &Path, cause: std::io::Error) -> Error {
    Error::Write {
        path: path.to_owned(),
        cause,
    }
}

/// Moves `input` through the threads into `sink`: one thread reads, two validate
/// alternate blocks, and this one writes.
fn pump<W: std::io::Write>(
    pass: &Pass<'_>,
    input: &mut (impl BufRead + Send),
    sink: &mut Sink<'_, W>,
    text_path: &Path,
) -> Result<(), Error> {
    // One thread reads, two validate alternate blocks, and this one writes: validation is
    // most of the work. Each channel holds two blocks, so memory stays bounded.
    let (to_first, first_inbox) = std::sync::mpsc::sync_channel::<Block>(2);
    let (to_second, second_inbox) = std::sync::mpsc::sync_channel::<Block>(2);
    let (read, written) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_blocks(pass, input, &[to_first, to_second]));
        let (validated, validators): (Vec<_>, Vec<_>) = [first_inbox, second_inbox]
            .into_iter()
            .map(|inbox| {
                let (sender, batches) = std::sync::mpsc::sync_channel::<Batch>(2);
                let validator = scope.spawn(move || {
                    for block in inbox {
                        if sender.send(validate(pass, &block)).is_err() {
                            break;
                        }
                    }
                });
                (batches, validator)
            })
            .unzip();
        let mut written: Result<(), Error> = Ok(());
        // Blocks alternate between the validators, so the batches come back in order by
        // taking them alternately; the first channel to close ends the map.
        for next in (0..2).cycle() {
            let Ok(batch) = validated[next].recv() else {
                break;
            };
            written = sink.batch(&batch, text_path);
            if written.is_err() {
                break;
            }
        }
        // Dropping the receivers stops the validators, and then the reader, at their next
        // block.
        drop(validated);
        let failed = |what: &str| Error::Read {
            path: pass.source.to_owned(),
            cause: std::io::Error::other(format!("the {what} thread failed")),
        };
        // A validator that failed ended its channel early: the map seen is incomplete.
        let mut read = reader.join().unwrap_or_else(|_| Err(failed("reading")));
        for validator in validators {
            if validator.join().is_err() {
                read = Err(failed("validating"));
            }
        }
        (read, written)
    });
    written?;
    read
}

#[cfg(test)]
mod tests {
    use super::read::{BLOCK, BLOCK_LINES};
    use super::*;
    use crate::map::digest;
    use sha2::Digest as _;

    /// Runs the pass over `text` into a fresh directory (native cdb), as apply would, read
    /// through a buffer of `capacity` bytes.
    fn pass_buffered(text: &str, capacity: usize) -> (tempfile::TempDir, Result<Built, Problems>) {
        let (dir, spec, previous) = map_dir();
        let pass = pass_into(&spec, &previous);
        let mut input = std::io::BufReader::with_capacity(capacity, text.as_bytes());
        let built = run(&pass, &mut input).unwrap();
        (dir, built)
    }

    /// A fresh directory for a native cdb map, with nothing installed.
    fn map_dir() -> (tempfile::TempDir, MapSpec, Previous) {
        let dir = tempfile::tempdir().unwrap();
        let spec = MapSpec::parse(&format!("cdb:{}/map", dir.path().display())).unwrap();
        let previous = Previous::open(&spec.path).unwrap();
        (dir, spec, previous)
    }

    static NONE_OPEN: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();

    /// The pass apply makes into `spec`, its input having two header lines.
    fn pass_into<'a>(spec: &'a MapSpec, previous: &'a Previous) -> Pass<'a> {
        Pass {
            source: Path::new("/spool/map"),
            line_offset: 2,
            spec,
            native_cdb: true,
            canaries: &[],
            open_domains: &NONE_OPEN,
            previous,
            approved: &[],
            relay: None,
        }
    }

    fn pass(text: &str) -> (tempfile::TempDir, Result<Built, Problems>) {
        pass_buffered(text, 1 << 16)
    }

    /// Sorted lines `uNNNNNNN@example.com OK`, 24 bytes each: `n` of them span
    /// ⌈n · 24 / BLOCK⌉ blocks.
    fn lines(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("u{i:07}@example.com OK\n"))
            .collect()
    }

    /// The index of each line that begins a block after the first, as [`read_blocks`] cuts
    /// them.
    fn block_starts(lines: &[String]) -> Vec<usize> {
        let (mut starts, mut bytes, mut count) = (Vec::new(), 0, 0);
        for (i, line) in lines.iter().enumerate() {
            bytes += line.len();
            count += 1;
            if bytes >= BLOCK || count == BLOCK_LINES {
                starts.push(i + 1);
                (bytes, count) = (0, 0);
            }
        }
        starts
    }

    fn second_block_starts(lines: &[String]) -> usize {
        block_starts(lines)[0]
    }

    #[test]
    fn every_key_losing_its_relay_is_counted_past_the_domains_the_report_keeps() {
        // More domains than the report counts, sorting before the one that goes.
        let mut text: String = (0..MAX_DOMAINS + 50)
            .map(|i| format!("a@d{i:05}.test OK\n"))
            .collect();
        text.extend((0..20).map(|i| format!("u{i:02}@example.com OK\n")));
        let (_dir, spec, previous) = map_dir();
        let allowed = crate::install::relay::Domains::from_config(&["example.com".into()]).unwrap();
        let live =
            crate::install::relay::Domains::from_payload(b"example.com\n", &allowed).unwrap();
        let new = crate::install::relay::Domains::from_payload(b"", &allowed).unwrap();
        let pass = Pass {
            relay: Some((&live, &new)),
            ..pass_into(&spec, &previous)
        };
        let built = run(&pass, &mut text.as_bytes()).unwrap().unwrap();
        assert_eq!(built.more_domains, 20 + 50);
        assert_eq!(built.lost, 20);
    }

    #[test]
    fn a_map_of_many_blocks_comes_out_whole_and_in_order() {
        let lines = lines(60_000);
        let text = lines.concat();
        assert!(text.len() > 8 * BLOCK, "the test needs many blocks");
        let (_dir, built) = pass(&text);
        let built = built.unwrap();
        assert_eq!(built.count, 60_000);
        assert_eq!(fs_err::read_to_string(&built.text).unwrap(), text);
        assert_eq!(
            built.sha256,
            digest::hex(&sha2::Sha256::digest(text.as_bytes()))
        );
    }

    #[test]
    fn a_duplicate_where_two_blocks_meet_is_dropped() {
        let mut lines = lines(10_000);
        let at = second_block_starts(&lines);
        // The first line of the second block repeats the last of the first, with another
        // value and in upper case: the first one wins, as within a block.
        lines[at] = lines[at - 1].to_uppercase().replace(" OK", " OTHER");
        let (_dir, built) = pass(&lines.concat());
        let built = built.unwrap();
        assert_eq!(built.count, 9_999);
        let mut expected = lines.clone();
        expected.remove(at);
        assert_eq!(
            fs_err::read_to_string(&built.text).unwrap(),
            expected.concat()
        );
    }

    #[test]
    fn a_key_out_of_order_where_two_blocks_meet_is_refused_with_its_line() {
        let mut lines = lines(10_000);
        let at = second_block_starts(&lines);
        lines.swap(at - 1, at);
        let (_dir, built) = pass(&lines.concat());
        let problems = built.unwrap_err();
        assert_eq!(problems.total, 1, "{problems:?}");
        // Line numbers count the two header lines before the map.
        let number = at + 1 + 2;
        assert!(
            problems.listed[0].to_string().starts_with(&format!(
                "/spool/map:{number}: \"u{:07}@example.com\" comes after \"u{:07}@example.com\"",
                at - 1,
                at
            )),
            "{problems:?}"
        );
    }

    #[test]
    fn problems_in_every_block_are_counted_and_listed_in_file_order() {
        let mut lines = lines(20_000);
        for i in (50..20_000).step_by(100) {
            lines[i] = format!("bad{i} line\n");
        }
        // And one key out of order where two blocks meet, after the first problem.
        let at = block_starts(&lines)
            .into_iter()
            .find(|&at| at > 1000 && at % 100 != 50 && (at - 1) % 100 != 50)
            .unwrap();
        lines.swap(at - 1, at);
        let (_dir, built) = pass(&lines.concat());
        let problems = built.unwrap_err();
        assert_eq!(problems.total, 201);
        assert_eq!(problems.listed.len(), MAX_LISTED);
        let mut expected: Vec<String> = (50..20_000)
            .step_by(100)
            .map(|i| format!("/spool/map:{}: \"bad{i}\"", i + 1 + 2))
            .collect();
        let meeting = format!(
            "/spool/map:{}: \"u{:07}@example.com\" comes after",
            at + 3,
            at - 1
        );
        let place = expected.partition_point(|p| {
            let line: usize = p["/spool/map:".len()..]
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            line < at + 3
        });
        expected.insert(place, meeting);
        for (problem, expected) in problems.listed.iter().zip(&expected) {
            assert!(
                problem.to_string().starts_with(expected),
                "{problem} is not {expected}"
            );
        }
    }

    #[test]
    fn a_key_repeated_over_several_blocks_is_kept_once() {
        let mut lines = lines(10_000);
        let repeated = lines[100].clone();
        let tail = lines.split_off(101);
        lines.extend(std::iter::repeat_n(repeated, 4 * BLOCK / 24));
        lines.extend(tail);
        let (_dir, built) = pass(&lines.concat());
        let built = built.unwrap();
        assert_eq!(built.count, 10_000);
        assert_eq!(
            fs_err::read_to_string(&built.text).unwrap(),
            self::lines(10_000).concat()
        );
    }

    #[test]
    fn a_block_that_starts_with_comments_names_the_line_of_its_first_key() {
        let mut lines = lines(10_000);
        let at = second_block_starts(&lines);
        lines.swap(at - 1, at);
        lines.splice(at..at, ["# comment\n".to_owned(), "\n".to_owned()]);
        let (_dir, built) = pass(&lines.concat());
        let problems = built.unwrap_err();
        assert_eq!(problems.total, 1, "{problems:?}");
        // The two lines inserted at the start of the second block, then the key.
        let number = at + 2 + 1 + 2;
        assert!(
            problems.listed[0]
                .to_string()
                .starts_with(&format!("/spool/map:{number}: ")),
            "{problems:?}"
        );
    }

    #[test]
    fn lines_split_over_small_buffers_read_the_same() {
        // Every line, and the over-long ones, cut across reads of 7 bytes.
        let mut lines = lines(12_000);
        let text = lines.concat();
        for capacity in [1, 7, 4097] {
            let (_dir, built) = pass_buffered(&text, capacity);
            let built = built.unwrap();
            assert_eq!(built.count, 12_000, "{capacity}");
            assert_eq!(fs_err::read_to_string(&built.text).unwrap(), text);
        }
        lines[5_000] = format!("{} OK\n", "a".repeat(MAX_LINE - 3));
        lines[5_001] = format!("{}\n", "b".repeat(3 * MAX_LINE));
        lines.push("z@example.com".repeat(400));
        let (_dir, built) = pass_buffered(&lines.concat(), 7);
        let problems = built.unwrap_err();
        assert_eq!(problems.total, 3, "{problems:?}");
        for (problem, line) in problems.listed.iter().zip([5_001, 5_002, 12_001]) {
            let at = format!("/spool/map:{}: the line is longer than 4096", line + 2);
            assert!(problem.to_string().starts_with(&at), "{problem}");
        }
    }

    #[test]
    fn an_overlong_line_never_grows_a_block_past_its_size() {
        // A block filled nearly to BLOCK, then a 1 MB line read through 64 KiB buffers: a
        // reader that copied a buffer before checking the line's length would grow the block.
        let mut text = lines(BLOCK / 24 - 1).concat();
        text.push_str(&"x".repeat(1 << 20));
        text.push('\n');
        text.push_str(&lines(100).concat());
        let (_dir, spec, previous) = map_dir();
        let pass = pass_into(&spec, &previous);
        let (first, first_blocks) = std::sync::mpsc::sync_channel(100);
        let (second, second_blocks) = std::sync::mpsc::sync_channel(100);
        let mut input = std::io::BufReader::with_capacity(1 << 16, text.as_bytes());
        read_blocks(&pass, &mut input, &[first, second]).unwrap();
        let blocks: Vec<Block> = first_blocks.iter().chain(second_blocks.iter()).collect();
        assert!(blocks.len() >= 2, "{}", blocks.len());
        for block in &blocks {
            assert!(
                block.text.capacity() <= BLOCK + MAX_LINE + 1,
                "{}",
                block.text.capacity()
            );
        }
        let lines: usize = blocks.iter().map(|b| b.lines.len()).sum();
        assert_eq!(lines, BLOCK / 24 - 1 + 1 + 100);
        let long: Vec<_> = blocks
            .iter()
            .flat_map(|b| &b.lines)
            .filter(|l| l.1)
            .collect();
        assert_eq!(long.len(), 1);
    }

    #[test]
    fn an_empty_map_passes_empty() {
        let (_dir, built) = pass("");
        let built = built.unwrap();
        assert_eq!(built.count, 0);
        assert_eq!(fs_err::read_to_string(&built.text).unwrap(), "");
    }

    #[test]
    fn a_map_of_overlong_lines_is_counted_to_the_last() {
        let long = format!("{}\n", "x".repeat(2 * MAX_LINE));
        // 200 lines, each skipped whole (its bytes count toward a block): several blocks.
        let (_dir, built) = pass(&long.repeat(200));
        let problems = built.unwrap_err();
        assert_eq!(problems.total, 200);
        assert!(
            problems.listed[MAX_LISTED - 1]
                .to_string()
                .starts_with(&format!("/spool/map:{}: ", MAX_LISTED + 2))
        );
    }

    #[test]
    fn an_overlong_line_is_refused_and_the_lines_after_it_keep_their_numbers() {
        // Exactly one byte too long with its line end, then one far longer without any.
        let exact = format!("{} OK\n", "a".repeat(MAX_LINE - 3));
        let text = format!(
            "a@example.com OK\n{exact}b@example.com OK\nc@example\u{7}.com OK\n{}",
            "x".repeat(3 * BLOCK)
        );
        let (_dir, built) = pass(&text);
        let problems = built.unwrap_err();
        assert_eq!(problems.total, 3, "{problems:?}");
        assert!(
            problems.listed[0]
                .to_string()
                .starts_with("/spool/map:4: the line is longer than 4096")
        );
        assert!(
            problems.listed[1]
                .to_string()
                .starts_with("/spool/map:6: \"c@example\\u{7}.com\"")
        );
        assert!(
            problems.listed[2]
                .to_string()
                .starts_with("/spool/map:7: the line is longer than 4096")
        );
    }
}
