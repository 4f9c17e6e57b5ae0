//! The map text parsers: `rcptsync::install::validate::Validator::line` (apply's check of the
//! spooled map, run as root on bytes the spool account controls) over each line of arbitrary
//! bytes, `rcptsync::map::text::lines` and `rcptsync::map::text::SortedKeys` over the whole.
//!
//! Invariants: no panic; an accepted entry's key is its own normal form
//! (`normalize(key) == key`), or `@domain` for a domain the gateway lists as open; its value is one non-empty word without whitespace or control
//! characters, and accepted keys strictly ascend; `lines` yields keys without blanks and
//! trimmed non-empty values; a map the validator accepts entirely is read by `lines` as the
//! same set of (normalized) keys; `SortedKeys` yields lower-case, strictly ascending keys;
//! with a tab for the first space of each line (which takes the validator's full parse
//! instead of its one-pass check) every line gets the same verdict.
#![no_main]

use std::collections::BTreeSet;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rcptsync::install::validate::{Line, Problem, Validator};
use rcptsync::map::text;
use rcptsync::rules::address::{normalize, normalize_domain};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/spool/map");
    let open = BTreeSet::from(["example.com".to_owned()]);

    let mut validator = Validator::new(path, &open);
    let (mut fast, mut full) = (Validator::new(path, &open), Validator::new(path, &open));
    let mut accepted: Vec<String> = Vec::new();
    let mut all_valid = true;
    for (index, raw) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let mut tabbed = raw.to_vec();
        if let Some(space) = tabbed.iter().position(|&b| b == b' ') {
            tabbed[space] = b'\t';
        }
        let verdict = |line: Result<Line<'_>, Problem>| match line {
            Ok(Line::Entry(e)) => Some(Some((e.key.to_owned(), e.value.to_owned()))),
            Ok(Line::Skip) => Some(None),
            Err(_) => None,
        };
        assert_eq!(
            verdict(fast.line(index + 1, raw)),
            verdict(full.line(index + 1, &tabbed)),
            "{raw:?}"
        );
        match validator.line(index + 1, raw) {
            Ok(Line::Entry(entry)) => {
                match entry.key.strip_prefix('@') {
                    Some(domain) => assert!(open.contains(domain), "{:?}", entry.key),
                    None => assert_eq!(normalize(entry.key).as_deref(), Ok(entry.key)),
                }
                assert!(!entry.value.is_empty());
                assert!(
                    !entry
                        .value
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control()),
                    "value {:?}",
                    entry.value
                );
                if let Some(last) = accepted.last() {
                    assert!(last.as_str() < entry.key, "{last:?} then {:?}", entry.key);
                }
                accepted.push(entry.key.to_owned());
            }
            Ok(Line::Skip) => {}
            Err(problem) => {
                all_valid = false;
                let message = problem.to_string();
                assert!(message.starts_with(&format!("/spool/map:{}: ", index + 1)));
            }
        }
    }

    let parsed = text::lines(data, path);
    if let Ok(lines) = &parsed {
        for line in lines {
            assert!(!line.key.is_empty() && !line.key.contains([' ', '\t', '\n']));
            assert!(!line.value.is_empty() && line.value == line.value.trim());
            assert!(!line.value.contains('\n'));
        }
    }
    if all_valid {
        let Ok(lines) = parsed else {
            panic!("the validator accepts every line, text::lines refuses the map");
        };
        let keys: BTreeSet<String> = lines
            .iter()
            .map(|line| match line.key.strip_prefix('@') {
                // An open domain's wild-card: its domain as the validator lower-cases it.
                Some(domain) => {
                    let normal = normalize_domain(domain)
                        .unwrap_or_else(|e| panic!("{:?}: {e}", line.key));
                    format!("@{normal}")
                }
                None => normalize(line.key).unwrap_or_else(|e| panic!("{:?}: {e}", line.key)),
            })
            .collect();
        assert_eq!(keys, accepted.iter().cloned().collect::<BTreeSet<_>>());
    }

    let mut last: Option<String> = None;
    for key in text::SortedKeys::new(data, path) {
        let Ok(key) = key else { break };
        assert_eq!(key, key.to_ascii_lowercase());
        if let Some(last) = &last {
            assert!(*last < key, "{last:?} then {key:?}");
        }
        last = Some(key);
    }
});
