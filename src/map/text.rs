//! The Postfix text map: one `address value` line per recipient, sorted.
//!
//! This is what `postmap` reads and what is pushed to the gateways. Rendering is
//! deterministic (sorted keys, one space, `\n`), so identical recipients give identical bytes
//! and an unchanged map can be recognised by comparing files.

use std::collections::BTreeSet;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use super::keys::KeySet;

/// A line of an existing map that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct Error {
    /// The map file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// The line is fine, but out of order (see [`SortedKeys`]).
    pub unsorted: bool,
}

/// Writes the map text, one `key value` line per entry, in the order given (callers pass
/// sorted keys, so equal maps give equal bytes). The only renderer: extract's file, the
/// compare with the live map and apply's installed text all come from here.
pub fn write_entries<'a>(
    out: &mut (impl Write + ?Sized),
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> std::io::Result<()> {
    for (key, value) in entries {
        out.write_all(key.as_bytes())?;
        out.write_all(b" ")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The map text of `entries` in memory (see [`write_entries`]).
pub fn render<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_entries(&mut out, entries);
    out
}

/// One `key value` line of a text map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number, for messages.
    pub number: usize,
    /// The key as written.
    pub key: &'a str,
    /// The value, surrounding whitespace removed.
    pub value: &'a str,
}

/// Writes the map text for `keys`, each followed by `value`, to `out`.
pub fn write_map(
    keys: &KeySet,
    value: &str,
    out: &mut (impl Write + ?Sized),
) -> std::io::Result<()> {
    write_entries(out, keys.iter().map(|key| (key, value)))
}

/// Whether the file at `path` holds exactly the map [`write_map`] would write, compared while
/// rendering so that neither side is held in memory. False when there is no file.
pub fn same_as_file(path: &Path, keys: &KeySet, value: &str) -> std::io::Result<bool> {
    /// A writer that compares what is written with the file instead of storing it.
    struct Compare<R> {
        file: R,
        equal: bool,
        buffer: Vec<u8>,
    }
    impl<R: Read> Write for Compare<R> {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if self.equal {
                self.buffer.resize(data.len(), 0);
                match self.file.read_exact(&mut self.buffer) {
                    Ok(()) => self.equal = self.buffer == data,
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => self.equal = false,
                    Err(e) => return Err(e),
                }
            }
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let file = match crate::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut compare = Compare {
        file: std::io::BufReader::with_capacity(1 << 16, file),
        equal: true,
        buffer: Vec::new(),
    };
    write_map(keys, value, &mut compare)?;
    Ok(compare.equal && compare.file.fill_buf()?.is_empty())
}

/// Streams the keys of a map file (lower-cased), requiring ascending order as rcptsync writes
/// it: a map edited by hand into another order yields [`Error`] with `unsorted` set, and the
/// caller reads it whole instead.
pub struct SortedKeys<R> {
    input: R,
    path: PathBuf,
    line: usize,
    last: Option<String>,
    buffer: Vec<u8>,
}

impl<R: BufRead> SortedKeys<R> {
    /// The keys of the map text `input` (read from `path`, named in errors).
    pub fn new(input: R, path: &Path) -> Self {
        Self {
            input,
            path: path.to_owned(),
            line: 0,
            last: None,
            buffer: Vec::new(),
        }
    }
}

impl SortedKeys<std::io::BufReader<crate::fs::File>> {
    /// Opens the map at `path`; None when there is none.
    pub fn open(path: &Path) -> std::io::Result<Option<Self>> {
        match crate::fs::File::open(path) {
            Ok(file) => Ok(Some(Self::new(
                std::io::BufReader::with_capacity(1 << 16, file),
                path,
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl<R: BufRead> Iterator for SortedKeys<R> {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buffer.clear();
            let error = |line: usize, message: &str| Error {
                path: self.path.clone(),
                line,
                message: message.to_owned(),
                unsorted: false,
            };
            match self.input.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => self.line += 1,
                Err(e) => return Some(Err(error(self.line + 1, &e.to_string()))),
            }
            let raw = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
            let key = match parse_line(raw) {
                Ok(Some((key, _))) => key.to_ascii_lowercase(),
                Ok(None) => continue,
                Err(message) => return Some(Err(error(self.line, message))),
            };
            match &self.last {
                Some(last) if *last == key => continue,
                Some(last) if *last > key => {
                    let mut e = error(self.line, "keys are not in sorted order");
                    e.unsorted = true;
                    return Some(Err(e));
                }
                _ => {}
            }
            let last = self.last.get_or_insert_default();
            last.clear();
            last.push_str(&key);
            return Some(Ok(key));
        }
    }
}

/// Reads the keys of a text map (lower-cased, as Postfix folds them).
pub fn keys(text: &[u8], path: &Path) -> Result<BTreeSet<String>, Error> {
    Ok(lines(text, path)?
        .into_iter()
        .map(|line| line.key.to_ascii_lowercase())
        .collect())
}

/// Reads a text map as Postfix would: `#` comment lines and blank lines are skipped, the key
/// ends at the first whitespace and must be followed by a value.
pub fn lines<'a>(text: &'a [u8], path: &Path) -> Result<Vec<Line<'a>>, Error> {
    let mut lines = Vec::new();
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        match parse_line(raw) {
            Ok(Some((key, value))) => lines.push(Line {
                number: index + 1,
                key,
                value,
            }),
            Ok(None) => {}
            Err(message) => {
                return Err(Error {
                    path: path.to_owned(),
                    line: index + 1,
                    message: message.to_owned(),
                    unsorted: false,
                });
            }
        }
    }
    Ok(lines)
}

/// One line of a text map (without its `\n`): its key and value, None for a comment or a
/// blank line, or what is wrong with it. Maps of millions of lines are read several times a
/// run, so a line rcptsync wrote (a key, one space, a value) takes the short way.
fn parse_line(raw: &[u8]) -> Result<Option<(&str, &str)>, &'static str> {
    let line = std::str::from_utf8(raw).map_err(|_| "not valid UTF-8")?;
    let line = line.trim_end_matches('\r');
    let plain = line
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_graphic() && *b != b'#');
    if !plain {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            return Ok(None);
        }
        if line.starts_with([' ', '\t']) {
            return Err("line starts with whitespace (Postfix would join it to the previous line)");
        }
    }
    let Some((key, value)) = line.split_once([' ', '\t']) else {
        return Err("a key without a value");
    };
    let value = value.trim();
    if value.is_empty() {
        return Err("a key without a value");
    }
    Ok(Some((key, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_read_round_trips() {
        let set: BTreeSet<String> = ["b@x.com", "a@x.com"].map(String::from).into();
        let text = render(set.iter().map(|k| (k.as_str(), "OK")));
        assert_eq!(text, b"a@x.com OK\nb@x.com OK\n");
        assert_eq!(keys(&text, Path::new("m")).unwrap(), set);
    }

    #[test]
    fn reads_hand_edited_maps() {
        let text = b"# comment\n\nA@X.com\tOK\r\n  # indented comment\nb@x.com   RELAY extra\n";
        let k = keys(text, Path::new("m")).unwrap();
        assert_eq!(k.into_iter().collect::<Vec<_>>(), ["a@x.com", "b@x.com"]);
    }

    #[test]
    fn streams_sorted_keys_and_compares_without_loading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        let keys: KeySet = ["b@x.com", "a@x.com"].into_iter().collect();
        assert!(!same_as_file(&path, &keys, "OK").unwrap());
        let mut file = fs_err::File::create(&path).unwrap();
        write_map(&keys, "OK", &mut file).unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"a@x.com OK\nb@x.com OK\n");
        assert!(same_as_file(&path, &keys, "OK").unwrap());
        assert!(!same_as_file(&path, &keys, "RELAY").unwrap());
        let fewer: KeySet = ["a@x.com"].into_iter().collect();
        assert!(!same_as_file(&path, &fewer, "OK").unwrap());
        let read: Vec<String> = SortedKeys::open(&path)
            .unwrap()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read, ["a@x.com", "b@x.com"]);
        fs_err::write(&path, "# c\nB@x.com OK\na@x.com OK\n").unwrap();
        let e = SortedKeys::open(&path)
            .unwrap()
            .unwrap()
            .find_map(Result::err)
            .unwrap();
        assert!(e.unsorted && e.line == 3, "{e}");
        fs_err::write(&path, "a@x.com OK\nb@x.com\n").unwrap();
        let e = SortedKeys::open(&path)
            .unwrap()
            .unwrap()
            .find_map(Result::err)
            .unwrap();
        assert!(
            !e.unsorted && e.line == 2 && e.to_string().ends_with(":2: a key without a value"),
            "{e}"
        );
    }

    #[test]
    fn broken_lines_name_file_and_line() {
        let e = keys(b"a@x.com OK\nb@x.com\n", Path::new("/m")).unwrap_err();
        assert_eq!(e.to_string(), "/m:2: a key without a value");
        let e = keys(b"a@x.com OK\n continued\n", Path::new("/m")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/m:2: line starts with whitespace")
        );
    }
}
