//! The spooled map read as hostile input: every line parsed again and every address
//! validated with the same rules as extract, before anything of it can reach Postfix.
//!
//! A single bad line refuses the whole map, because a map that was damaged or tampered with on
//! the way cannot be trusted in part. Lines must come in key order (as rcptsync writes them),
//! so that order and duplicates are checked against the previous key alone and the map is
//! never held in memory; a line that normalizes to the previous key is a duplicate and is
//! dropped (the first one wins, as in Postfix).
//!
//! Security: runs as root on bytes the unprivileged spool account controls; it quotes an
//! offending value only escaped and cut to a bounded length.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::rules::address::{self, quote};

/// One validated entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'l> {
    /// The normalized address.
    pub key: &'l str,
    /// The value, one word.
    pub value: &'l str,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'l> {
    /// An entry of the map.
    Entry(Entry<'l>),
    /// A blank line, a comment, or a duplicate of the previous key.
    Skip,
}

/// A line that refuses the map: where it is (the file and the line number), and what is
/// wrong with it, so that whoever made the map can find and fix the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {what}", file.display())]
pub struct Problem {
    file: PathBuf,
    line: usize,
    what: What,
}

impl Problem {
    fn new(file: &Path, line: usize, what: What) -> Self {
        Self {
            file: file.to_owned(),
            line,
            what,
        }
    }

    /// Line `line` of `file` is longer than `max` bytes: the reader skips it unread, so
    /// that a hostile map cannot make it hold more.
    pub(super) fn too_long(file: &Path, line: usize, max: usize) -> Self {
        Self::new(file, line, What::TooLong(max))
    }
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum What {
    /// Not UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// Leading whitespace: a continuation line to Postfix.
    #[error("line starts with whitespace (Postfix would join it to the previous line)")]
    Indented,
    /// A key (or the whole line) without a value.
    #[error("{}: a key without a value", quote(.0))]
    NoValue(String),
    /// A key the gateway does not install.
    #[error("{}: {reason}", quote(key))]
    Key {
        /// The key as written.
        key: String,
        /// Why not.
        reason: KeyError,
    },
    /// A value of more than one word, or with control characters.
    #[error("value {} must be one word", quote(.0))]
    Value(String),
    /// A key that sorts before the one before it.
    #[error(
        "{} comes after {}: the map is not sorted by key (rcptsync writes it \
         sorted; sort a hand-made map first: awk '{{print tolower($1), $2}}' FILE | \
         LC_ALL=C sort -k1,1 -u)",
        quote(key),
        quote(previous)
    )]
    Unsorted {
        /// The key.
        key: String,
        /// The key before it.
        previous: String,
    },
    /// Longer than the reader takes (the bound, in bytes).
    #[error("the line is longer than {0} bytes")]
    TooLong(usize),
}

/// Why a line's key is not one the gateway installs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum KeyError {
    /// Not a valid address (or, after an `@`, not a valid domain).
    #[error(transparent)]
    Address(address::AddressError),
    /// `@domain` for a domain the gateway does not list as open.
    #[error(
        "a wild-card that would accept every address in {0}, which \
         [install].internal_relay_domains does not list; the map is refused (list the domain \
         there if it is a shared address space whose recipients are not all in the directory)"
    )]
    NotOpen(String),
}

/// Validates the lines of one map in order.
#[derive(Debug)]
pub struct Validator<'a> {
    source: &'a Path,
    /// The domains an `@domain` line may open (`[install].internal_relay_domains`).
    open: &'a BTreeSet<String>,
    /// The previous key ("" before the first), kept in one buffer.
    previous: String,
    /// The key being checked; it becomes the previous one when it passes.
    current: String,
}

impl<'a> Validator<'a> {
    /// A validator for the map read from `source` (named in every problem), in which only
    /// the domains in `open` may have an `@domain` wild-card line.
    pub fn new(source: &'a Path, open: &'a BTreeSet<String>) -> Self {
        Self {
            source,
            open,
            previous: String::new(),
            current: String::new(),
        }
    }

    /// The last key accepted so far ("" before the first), also after a problem: where the
    /// lines this validator saw end, for the check where the next part of the map begins.
    pub fn last_key(&self) -> &str {
        &self.previous
    }

    /// Checks line `number` (`bytes`, with or without its line end), as Postfix reads a text
    /// map: `#` comment lines and blank lines are skipped, the key ends at the first
    /// whitespace and must be followed by a value.
    pub fn line<'l>(&'l mut self, number: usize, bytes: &'l [u8]) -> Result<Line<'l>, Problem> {
        // Only a problem needs the location (copying it for every line would cost more than
        // the checks).
        let source = self.source;
        let problem = |what| Problem::new(source, number, what);
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        // The line as rcptsync writes it (a normalized key, one space, a one-word value)
        // takes one pass; the full parse below gives every other line the same verdict.
        if let Some(space) = memchr::memchr(b' ', bytes)
            && let (key, [_, value @ ..]) = bytes.split_at(space)
            && !value.is_empty()
            && value.iter().all(|b| (0x21..0x7f).contains(b))
            && address::is_normalized(key)
            && let Ok(line) = std::str::from_utf8(bytes)
            && let (Some(key), Some(value)) = (line.get(..space), line.get(space + 1..))
        {
            self.current.clear();
            self.current.push_str(key);
            return self.accept(number, value);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| problem(What::NotUtf8))?;
        match text.as_bytes().first() {
            None | Some(b'#') => return Ok(Line::Skip),
            Some(b' ' | b'\t') => {
                if text.trim().is_empty() || text.trim_start().starts_with('#') {
                    return Ok(Line::Skip);
                }
                return Err(problem(What::Indented));
            }
            Some(_) if text.trim().is_empty() => return Ok(Line::Skip),
            Some(_) => {}
        }
        let Some(split) = text.bytes().position(|b| b == b' ' || b == b'\t') else {
            return Err(problem(What::NoValue(text.to_owned())));
        };
        let (key, value) = (&text[..split], text[split + 1..].trim());
        if value.is_empty() {
            return Err(problem(What::NoValue(key.to_owned())));
        }
        match key.strip_prefix('@') {
            Some(domain) => self.open_domain(domain),
            None => address::normalize_into(key, &mut self.current).map_err(KeyError::Address),
        }
        .map_err(|reason| {
            problem(What::Key {
                key: key.to_owned(),
                reason,
            })
        })?;
        // Printable ASCII is one test a byte; anything else is looked at character by character.
        if !value.bytes().all(|b| (0x21..0x7f).contains(&b))
            && value.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(problem(What::Value(value.to_owned())));
        }
        self.accept(number, value)
    }

    /// Puts the wild-card key `@domain` in `current`, if `domain` is one the gateway lists as
    /// open: a map from the spool must not switch recipient checking off for any other.
    fn open_domain(&mut self, domain: &str) -> Result<(), KeyError> {
        let normal = address::normalize_domain(domain).map_err(KeyError::Address)?;
        let domain = normal.as_str();
        if !self.open.contains(domain) {
            return Err(KeyError::NotOpen(domain.to_owned()));
        }
        self.current.clear();
        self.current.push('@');
        self.current.push_str(domain);
        Ok(())
    }

    /// The entry of the key in `current`, unless it repeats the previous key or sorts before
    /// it.
    fn accept<'l>(&'l mut self, number: usize, value: &'l str) -> Result<Line<'l>, Problem> {
        if !self.previous.is_empty()
            && is_duplicate(self.source, number, &self.previous, &self.current)?
        {
            return Ok(Line::Skip);
        }
        std::mem::swap(&mut self.previous, &mut self.current);
        Ok(Line::Entry(Entry {
            key: &self.previous,
            value,
        }))
    }
}

/// Checks that `key` (at line `number` of `source`) comes after `previous`, the key before it:
/// true when it is the same key (a duplicate, dropped: the first one wins), a problem when it
/// sorts before it. Also used where two validated parts of one map meet.
pub fn is_duplicate(
    source: &Path,
    number: usize,
    previous: &str,
    key: &str,
) -> Result<bool, Problem> {
    match previous.cmp(key) {
        std::cmp::Ordering::Equal => Ok(true),
        std::cmp::Ordering::Less => Ok(false),
        std::cmp::Ordering::Greater => Err(Problem::new(
            source,
            number,
            What::Unsorted {
                key: key.to_owned(),
                previous: previous.to_owned(),
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &[u8]) -> Result<Vec<(String, String)>, Vec<String>> {
        let open = BTreeSet::from(["corp.example".to_owned()]);
        let mut validator = Validator::new(Path::new("/spool/map"), &open);
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (i, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
            match validator.line(i + 1, line) {
                Ok(Line::Entry(e)) => entries.push((e.key.to_owned(), e.value.to_owned())),
                Ok(Line::Skip) => {}
                Err(p) => problems.push(p.to_string()),
            }
        }
        if problems.is_empty() {
            Ok(entries)
        } else {
            Err(problems)
        }
    }

    #[test]
    fn the_one_pass_line_gets_the_verdict_of_the_full_parse() {
        // A tab instead of the first space takes the full parse (the one-pass check needs
        // the space): the same lines, in the same order, must get the same verdicts, order
        // and duplicates included.
        let lines = [
            "a.b+c@sub.example.com smtp:[relay]:25",
            "alice@example.com OK",
            "alice@example.com OTHER",
            "alicex@example.com OK\r",
            "#b@example.com OK",
            "a@example.com OK",
            "b@example.com  OK",
            "b@example.com OK",
            "c@example.com OK extra",
            "d@example.com ",
            "e@example.com O\u{7f}K",
            "f..x@example.com OK",
            "f@example..com OK",
            "f@-example.com OK",
            "f@[192.0.2.1] OK",
            "\"g\"@example.com OK",
            "@example.com OK",
            "H@example.com OK",
            "h@example.com OK",
            "i@example.com O\u{e9}K",
            "j@example.com OK",
            "j@example.com OK",
        ];
        let verdicts = |separator: &str| {
            let open = BTreeSet::from(["corp.example".to_owned()]);
            let mut validator = Validator::new(Path::new("/spool/map"), &open);
            lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    let line = line.replacen(' ', separator, 1);
                    match validator.line(i + 1, line.as_bytes()) {
                        Ok(Line::Entry(e)) => Ok(Some((e.key.to_owned(), e.value.to_owned()))),
                        Ok(Line::Skip) => Ok(None),
                        Err(problem) => Err(problem),
                    }
                })
                .collect::<Vec<_>>()
        };
        let (fast, full) = (verdicts(" "), verdicts("\t"));
        for ((line, fast), full) in lines.iter().zip(&fast).zip(&full) {
            match (fast, full) {
                // A message quotes the value as written, tab and all.
                (Err(_), Err(_)) => {}
                _ => assert_eq!(fast, full, "{line:?}"),
            }
        }
        let entries = fast.iter().filter(|v| matches!(v, Ok(Some(_)))).count();
        assert_eq!(entries, 8, "{fast:?}");
    }

    #[test]
    fn valid_lines_are_normalized_and_deduplicated() {
        let entries = check(
            b"# pushed\n\nalice@example.com OK\r\nBob@Example.com OK\nbob@example.com OTHER\n",
        )
        .unwrap();
        assert_eq!(
            entries,
            [
                ("alice@example.com".into(), "OK".into()),
                ("bob@example.com".into(), "OK".into())
            ]
        );
    }

    #[test]
    fn every_bad_line_is_reported_with_file_and_line() {
        let problems = check(
            b"ok@example.com OK\n@example.com OK\nx@example.com O\x1bK\nbad\n y@example.com OK\n",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].starts_with("/spool/map:2: \"@example.com\""),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("/spool/map:3: value \"O\\u{1b}K\""),
            "{problems:?}"
        );
        assert!(problems[2].starts_with("/spool/map:4: \"bad\": a key without a value"));
        assert!(problems[3].contains("starts with whitespace"));
    }

    #[test]
    fn an_unsorted_map_is_refused_with_the_way_to_sort_it() {
        let problems = check(b"b@example.com OK\na@example.com OK\n").unwrap_err();
        assert!(
            problems[0]
                .starts_with("/spool/map:2: \"a@example.com\" comes after \"b@example.com\"")
        );
        assert!(problems[0].contains("LC_ALL=C sort"));
    }

    #[test]
    fn a_wild_card_passes_only_for_a_domain_the_gateway_lists() {
        assert_eq!(
            check(b"@Corp.Example OK\na@corp.example OK\nb@example.com OK\n").unwrap(),
            [
                ("@corp.example".to_owned(), "OK".to_owned()),
                ("a@corp.example".to_owned(), "OK".to_owned()),
                ("b@example.com".to_owned(), "OK".to_owned()),
            ]
        );
        for (line, why) in [
            (
                "@example.com OK",
                "[install].internal_relay_domains does not list",
            ),
            ("@sub.corp.example OK", "does not list"),
            ("@ OK", "nothing after the @"),
            ("@@corp.example OK", "more than one @"),
            ("@corp.example. OK", "invalid domain"),
        ] {
            let problems = check(format!("{line}\n").as_bytes()).unwrap_err();
            assert!(problems[0].contains(why), "{line}: {problems:?}");
            assert!(problems[0].starts_with("/spool/map:1: "), "{problems:?}");
        }
    }
}
