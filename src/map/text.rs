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

/// Renders the map text for `recipients`, each followed by `value`.
pub fn render(recipients: &BTreeSet<String>, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(recipients.len() * (24 + value.len()));
    for address in recipients {
        out.extend_from_slice(address.as_bytes());
        out.push(b' ');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Reads the keys of a text map as Postfix would: `#` comment lines and blank lines are
/// skipped, the key ends at the first whitespace and must be followed by a value.
pub fn keys(text: &[u8], path: &Path) -> Result<BTreeSet<String>, Error> {
    let mut keys = BTreeSet::new();
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
        keys.insert(key.to_ascii_lowercase());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_read_round_trips() {
        let set: BTreeSet<String> = ["b@x.com", "a@x.com"].map(String::from).into();
        let text = render(&set, "OK");
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
