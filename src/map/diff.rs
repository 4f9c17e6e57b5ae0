//! What changes between the installed map and the new one: the report cron mails.
//!
//! Both sides are sorted, so the difference is one merge pass and neither side has to be held
//! twice: the old map is streamed from its file, the new one is a [`KeySet`]. The pass can run
//! twice: once to count (for the guards), once to print (only when the change goes ahead).

use std::path::{Path, PathBuf};

use super::keys::KeySet;
use super::text;

/// The map being replaced could not be read to compare against.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening or reading it failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line is not a map line.
    #[error(transparent)]
    Text(#[from] text::Error),
    /// It was removed between two passes.
    #[error("{} disappeared while it was compared with the new map", .0.display())]
    Disappeared(PathBuf),
}

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

impl Summary {
    /// The line extract and apply print after a change (or a dry run of one):
    /// `MAP: N recipients, A added, R removed` and `dry_run`'s note, if any.
    pub fn line(
        &self,
        map: &dyn std::fmt::Display,
        recipients: usize,
        dry_run: Option<&str>,
    ) -> String {
        format!(
            "{map}: {recipients} recipients, {} added, {} removed{}",
            self.added,
            self.removed,
            dry_run.map(|note| format!(" ({note})")).unwrap_or_default()
        )
    }
}

/// The map being replaced, compared with the new one key by key. rcptsync writes maps sorted,
/// so they are streamed; a map edited by hand into another order is read whole instead.
#[derive(Debug)]
pub enum Previous {
    /// There is none (a first run).
    Missing,
    /// Sorted: streamed from the file on every pass.
    Sorted(PathBuf),
    /// Out of order, or loaded because the file is about to be replaced: its keys.
    Loaded(KeySet),
}

impl Previous {
    /// The map at `path`, streamed from the file when it is sorted.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let Some(keys) = text::SortedKeys::open(path)? else {
            return Ok(Self::Missing);
        };
        for key in keys {
            match key {
                Ok(_) => {}
                Err(e) if e.unsorted => return Self::load(path),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Self::Sorted(path.to_owned()))
    }

    /// The map at `path`, held in memory (for a file that is replaced before the last pass).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = match fs_err::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::Missing),
            Err(e) => return Err(e.into()),
        };
        let keys = text::keys(&text, path)?;
        Ok(Self::Loaded(keys.iter().map(String::as_str).collect()))
    }

    /// Whether there is a previous map at all.
    pub fn exists(&self) -> bool {
        !matches!(self, Self::Missing)
    }

    /// One merge pass against `new` ([`merge`]); None when there is no previous map (every
    /// key of `new` is reported as added all the same).
    pub fn merge(
        &self,
        new: &KeySet,
        mut each: impl FnMut(Side, &str),
    ) -> Result<Option<Summary>, Error> {
        Ok(match self {
            Self::Missing => {
                for key in new.iter() {
                    each(Side::Added, key);
                }
                None
            }
            Self::Sorted(path) => {
                let keys = text::SortedKeys::open(path)?
                    .ok_or_else(|| Error::Disappeared(path.clone()))?;
                Some(merge(keys, new, each)?)
            }
            Self::Loaded(old) => {
                Some(merge(old.iter().map(Ok::<_, text::Error>), new, each).map_err(Error::from)?)
            }
        })
    }
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
