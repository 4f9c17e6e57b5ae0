//! What changes between the installed map and the new one: the report cron mails.
//!
//! Both sides are sorted, so the difference is one merge pass and neither side has to be held
//! twice: the old map is streamed from its file, the new one is a [`KeySet`]. The pass can run
//! twice: once to count (for the guards), once to print (only when the change goes ahead).

use super::keys::KeySet;

/// A key that is only on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Only in the old map.
    Removed,
    /// Only in the new map.
    Added,
}

/// How big a change is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Keys only in the new map.
    pub added: usize,
    /// Keys only in the old map.
    pub removed: usize,
    /// Keys in the old map.
    pub previous: usize,
}

/// Walks the sorted `old` keys against `new` and calls `each` for every key on one side only,
/// in key order. Stops at the first error from `old`.
pub fn merge<S, E>(
    old: impl IntoIterator<Item = Result<S, E>>,
    new: &KeySet,
    mut each: impl FnMut(Side, &str),
) -> Result<Summary, E>
where
    S: AsRef<str>,
{
    let mut summary = Summary::default();
    let mut new_keys = new.iter().peekable();
    for old_key in old {
        let old_key = old_key?;
        let old_key = old_key.as_ref();
        summary.previous += 1;
        while let Some(&new_key) = new_keys.peek() {
            if new_key >= old_key {
                break;
            }
            each(Side::Added, new_key);
            summary.added += 1;
            new_keys.next();
        }
        if new_keys.peek() == Some(&old_key) {
            new_keys.next();
        } else {
            each(Side::Removed, old_key);
            summary.removed += 1;
        }
    }
    for new_key in new_keys {
        each(Side::Added, new_key);
        summary.added += 1;
    }
    Ok(summary)
}

/// Writes the diff line for a key, `+address` or `-address` like a unified diff body. The
/// report of a first run has a line per recipient, so nothing is allocated per line (give it
/// a buffered writer).
pub fn write_line(out: &mut impl std::io::Write, side: Side, key: &str) -> std::io::Result<()> {
    out.write_all(match side {
        Side::Removed => b"-",
        Side::Added => b"+",
    })?;
    out.write_all(key.as_bytes())?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(old: &[&str], new: &[&str]) -> (Summary, Vec<String>) {
        let new: KeySet = new.iter().copied().collect();
        let mut out = Vec::new();
        let summary = merge(old.iter().map(Ok::<_, ()>), &new, |side, key| {
            write_line(&mut out, side, key).unwrap()
        })
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        (summary, text.lines().map(String::from).collect())
    }

    #[test]
    fn added_and_removed_in_key_order() {
        let (summary, lines) = run(&["a@x", "b@x", "c@x"], &["0@x", "b@x", "c@x", "d@x"]);
        assert_eq!(lines, ["+0@x", "-a@x", "+d@x"]);
        assert_eq!(
            summary,
            Summary {
                added: 2,
                removed: 1,
                previous: 3
            }
        );
        assert_eq!(
            run(&["a@x"], &["a@x"]).0,
            Summary {
                added: 0,
                removed: 0,
                previous: 1
            }
        );
        assert_eq!(run(&[], &["a@x"]).1, ["+a@x"]);
        assert_eq!(run(&["a@x", "b@x"], &[]).1, ["-a@x", "-b@x"]);
    }
}
