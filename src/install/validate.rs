//! The spooled map read as hostile input: every line parsed again and every address
//! validated with the same rules as extract, before anything of it can reach Postfix.
//!
//! A single bad line refuses the whole map, because a map that was damaged or tampered with on
//! the way cannot be trusted in part. The map that goes live is rendered by rcptsync from the
//! validated entries, never the received bytes.
//!
//! Security: runs as root on bytes the unprivileged spool account controls; it only reads
//! them from memory and reports problems with the offending value quoted (escaped).

use std::collections::BTreeMap;
use std::path::Path;

use crate::map::text;
use crate::rules::address;

/// The validated entries of a map: normalized key → value, in key order.
pub type Entries = BTreeMap<String, String>;

/// Parses and validates `received` (read from `source`, named in every problem); every
/// problem is reported, not just the first.
pub fn validate(received: &[u8], source: &Path) -> Result<Entries, Vec<String>> {
    let lines = text::lines(received, source).map_err(|e| vec![e.to_string()])?;
    let mut entries = BTreeMap::new();
    let mut problems = Vec::new();
    for line in lines {
        let at = format!("{}:{}", source.display(), line.number);
        match address::normalize(line.key) {
            Err(reason) => problems.push(format!("{at}: {:?}: {reason}", line.key)),
            Ok(_)
                if line
                    .value
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace()) =>
            {
                problems.push(format!("{at}: value {:?} must be one word", line.value));
            }
            Ok(key) => {
                entries.entry(key).or_insert_with(|| line.value.to_owned());
            }
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_lines_are_normalized_and_deduplicated() {
        let entries = validate(
            b"# pushed\nBob@Example.com OK\nalice@example.com OK\nbob@example.com OTHER\n",
            Path::new("/spool/map"),
        )
        .unwrap();
        let pairs: Vec<(&str, &str)> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("alice@example.com", "OK"), ("bob@example.com", "OK")]
        );
    }

    #[test]
    fn every_bad_line_is_reported_with_file_and_line() {
        let problems = validate(
            b"ok@example.com OK\n@example.com OK\nx@example.com O\x1bK\nbad\n",
            Path::new("/spool/map"),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("/spool/map:4: "), "{problems:?}");
        let problems = validate(
            b"ok@example.com OK\n@example.com OK\nx@example.com O\x1bK\n",
            Path::new("/spool/map"),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("/spool/map:2: \"@example.com\""));
        assert!(problems[1].starts_with("/spool/map:3: value \"O\\u{1b}K\""));
    }
}
