//! The ini reader: Config::IniFiles' format as the legacy script's `relay_recipients.ini`
//! used it, into [`Stanza`]s that remember their lines so that every later message can name
//! `file:line`.

use std::path::Path;

use super::{Entry, Error, Stanza, at, may_hold_password};

/// Parses ini `text` read from `file` (the name is only used in messages).
///
/// As Config::IniFiles: `#` starts a comment only at the beginning of a line, a trailing
/// backslash continues a value on the next line (taken verbatim, leading whitespace trimmed,
/// even if it starts with `#` or `[`), a continuation at the end of the file just ends, and
/// keys outside a stanza are an error.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Stanza>, Error> {
    let mut stanzas: Vec<Stanza> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            if name.is_empty() {
                return Err(malformed(file, number, line));
            }
            stanzas.push(Stanza {
                name: name.to_owned(),
                line: number,
                entries: Vec::new(),
            });
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(malformed(file, number, line));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(malformed(file, number, line));
        }
        let mut value = value.trim().to_owned();
        while let Some(head) = value.strip_suffix('\\') {
            // The text before the backslash keeps its spaces: `a \` + `b` is `a b`.
            let mut joined = head.to_owned();
            let Some((_, next)) = lines.next() else {
                value = joined;
                break;
            };
            joined.push_str(next.trim_start());
            value = joined.trim_end().to_owned();
        }
        let Some(stanza) = stanzas.last_mut() else {
            return Err(Error {
                location: at(file, number),
                message: format!("`{key}` is outside any stanza; put it under [ AD ] or [ SCP ]"),
            });
        };
        stanza.entries.push(Entry {
            key: key.to_owned(),
            value: value.trim().to_owned(),
            line: number,
        });
    }
    Ok(stanzas)
}

fn malformed(file: &Path, number: usize, line: &str) -> Error {
    let found = if may_hold_password(line) {
        "a line that is not shown because it may hold a password".to_owned()
    } else {
        format!("{line:?}")
    };
    Error {
        location: at(file, number),
        message: format!("expected `key = value`, `[ stanza ]` or a `#` comment, found {found}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "relay_recipients.ini";

    fn ini(text: &str) -> Vec<Stanza> {
        parse(text, Path::new(FILE)).unwrap()
    }

    #[test]
    fn continuations_join_lines_and_keep_the_space_before_the_backslash() {
        let s = ini("[AD]\n  DCs = a.example.com \\\n    b.example.com:3268\nx = 1\\\n2\ny = \\\n");
        assert_eq!(s[0].entries[0].value, "a.example.com b.example.com:3268");
        assert_eq!(s[0].entries[0].line, 2);
        assert_eq!(s[0].entries[1].value, "12");
        assert_eq!(s[0].entries[1].line, 4);
        // A continuation at the end of the file just ends.
        assert_eq!(s[0].entries[2].value, "");
        // A continued line is taken verbatim, even when it looks like a comment or a stanza.
        let s = ini("[AD]\nk = a \\\n# b \\\n[c]\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].entries[0].value, "a # b [c]");
    }

    #[test]
    fn comments_blank_lines_and_stanza_names_with_spaces() {
        let s = ini(
            "# header\n\n[ AD ]\n    # indented comment\n\tkey\t\t= value # not a comment \n[SCP ]\nk=v\r\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "AD");
        assert_eq!(s[0].line, 3);
        assert_eq!(s[0].entries.len(), 1);
        assert_eq!(s[0].entries[0].key, "key");
        assert_eq!(s[0].entries[0].value, "value # not a comment");
        assert_eq!(s[1].name, "SCP");
        assert_eq!(s[1].entries[0].value, "v");
    }

    #[test]
    fn malformed_lines_are_errors_with_file_and_line() {
        let e = parse("[ AD ]\nDCs = a\njust words\n", Path::new(FILE))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "relay_recipients.ini:3: expected `key = value`, `[ stanza ]` or a `#` comment, found \"just words\""
        );
        let e = parse("[ AD ]\n  passwd secret\n", Path::new(FILE))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("relay_recipients.ini:2: "), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = parse("DCs = a\n", Path::new(FILE)).unwrap_err().to_string();
        assert!(
            e.starts_with("relay_recipients.ini:1: `DCs` is outside any stanza"),
            "{e}"
        );
        assert!(parse("[ ]\n", Path::new(FILE)).is_err());
        assert!(parse("[AD]\n = x\n", Path::new(FILE)).is_err());
    }
}
