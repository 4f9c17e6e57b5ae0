//! The Postfix text map: one `address value` line per recipient, sorted.
//!
//! This is what `postmap` reads and what is pushed to the gateways. Rendering is
//! deterministic (sorted keys, one space, `\n`), so identical recipients give identical bytes
//! and an unchanged map can be recognised by comparing files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
}

/// Renders the map text, one `key value` line per entry, in the order given (callers pass
/// sorted keys, so equal maps give equal bytes).
pub fn render<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in entries {
        out.extend_from_slice(key.as_bytes());
        out.push(b' ');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
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
        let error = |message: &str| Error {
            path: path.to_owned(),
            line: index + 1,
            message: message.to_owned(),
        };
        let line = std::str::from_utf8(raw).map_err(|_| error("not valid UTF-8"))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            return Err(error(
                "line starts with whitespace (Postfix would join it to the previous line)",
            ));
        }
        let Some((key, value)) = line.split_once([' ', '\t']) else {
            return Err(error("a key without a value"));
        };
        if value.trim().is_empty() {
            return Err(error("a key without a value"));
        }
        lines.push(Line {
            number: index + 1,
            key,
            value: value.trim(),
        });
    }
    Ok(lines)
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
