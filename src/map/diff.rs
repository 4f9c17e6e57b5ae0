//! What changes between the installed map and the new one: the report cron mails.
//!
//! Both sides are sorted, so the difference is one merge pass and neither side has to be held
//! in memory: the old map is streamed from its file, the new one comes key by key (from a
//! [`KeySet`] in extract, straight from the spooled text in apply). The pass can run twice:
//! once to count (for the guards), once to print (only when the change goes ahead).

use std::io::{Seek as _, SeekFrom};
use std::iter::Peekable;
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
}

impl Error {
    /// The map's lines are fine but out of order ([`Previous::streamed`]).
    pub fn unsorted(&self) -> bool {
        matches!(self, Self::Text(e) if e.unsorted)
    }
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

/// A merge in progress: the new keys are pushed one at a time, in ascending order, against
/// the sorted old keys; `each` hears of every key that is on one side only, in key order.
pub struct Merger<I: Iterator> {
    old: Peekable<I>,
    summary: Summary,
}

impl<I, S, E> Merger<I>
where
    I: Iterator<Item = Result<S, E>>,
    S: AsRef<str>,
{
    /// A merge against `old`.
    pub fn new(old: impl IntoIterator<IntoIter = I>) -> Self {
        Self {
            old: old.into_iter().peekable(),
            summary: Summary::default(),
        }
    }

    /// The next new key (greater than the one before).
    pub fn push(&mut self, new: &str, mut each: impl FnMut(Side, &str)) -> Result<(), E> {
        loop {
            match self.old.peek() {
                Some(Ok(old)) if old.as_ref() < new => {
                    each(Side::Removed, old.as_ref());
                    self.summary.removed += 1;
                    self.summary.previous += 1;
                    self.old.next();
                }
                Some(Ok(old)) if old.as_ref() == new => {
                    self.summary.previous += 1;
                    self.old.next();
                    return Ok(());
                }
                Some(Ok(_)) | None => break,
                Some(Err(_)) => {
                    if let Some(Err(e)) = self.old.next() {
                        return Err(e);
                    }
                }
            }
        }
        each(Side::Added, new);
        self.summary.added += 1;
        Ok(())
    }

    /// The old keys left are removed; returns the summary.
    pub fn finish(mut self, mut each: impl FnMut(Side, &str)) -> Result<Summary, E> {
        for old in self.old {
            let old = old?;
            each(Side::Removed, old.as_ref());
            self.summary.removed += 1;
            self.summary.previous += 1;
        }
        Ok(self.summary)
    }
}

/// Walks the sorted `old` keys against `new` and calls `each` for every key on one side only,
/// in key order. Stops at the first error from `old`.
pub fn merge<S, E>(
    old: impl IntoIterator<Item = Result<S, E>>,
    new: &KeySet,
    each: impl FnMut(Side, &str),
) -> Result<Summary, E>
where
    S: AsRef<str>,
{
    merge_sorted(old, new.iter().map(Ok), each)
}

/// [`merge`] with both sides streamed (the new map read back from its file).
pub fn merge_sorted<S, T, E>(
    old: impl IntoIterator<Item = Result<S, E>>,
    new: impl IntoIterator<Item = Result<T, E>>,
    mut each: impl FnMut(Side, &str),
) -> Result<Summary, E>
where
    S: AsRef<str>,
    T: AsRef<str>,
{
    let mut merger = Merger::new(old);
    for key in new {
        merger.push(key?.as_ref(), &mut each)?;
    }
    merger.finish(each)
}

/// The map being replaced. rcptsync writes maps sorted, so it is streamed from the file it
/// had when it was opened (the handle stays valid after the live name is replaced); a map
/// edited by hand into another order is read whole instead.
#[derive(Debug)]
pub enum Previous {
    /// There is none (a first run).
    Missing,
    /// Sorted: streamed from this handle on every pass.
    Sorted(crate::fs::File, PathBuf),
    /// Out of order: its keys.
    Loaded(KeySet),
}

/// The old keys of one pass.
pub type OldKeys = Box<dyn Iterator<Item = Result<String, text::Error>>>;

impl Previous {
    /// The map at `path`, streamed from the file when it is sorted.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let previous = Self::streamed(path)?;
        for key in previous.keys()? {
            match key {
                Ok(_) => {}
                Err(e) if e.unsorted => return Self::load(path),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(previous)
    }

    /// The map at `path`, streamed from the file without reading it first: a merge against
    /// it fails with an `unsorted` [`text::Error`] where the file is out of order, and the
    /// caller then takes [`Previous::load`] instead. This spares a pass over a map of
    /// millions of keys where [`Previous::open`] would read it once more.
    pub fn streamed(path: &Path) -> Result<Self, Error> {
        match crate::fs::File::open(path) {
            Ok(file) => Ok(Self::Sorted(file, path.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::Missing),
            Err(e) => Err(e.into()),
        }
    }

    /// The map at `path`, read whole (a map edited by hand into another order).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = crate::fs::read(path)?;
        let keys = text::keys(&text, path)?;
        Ok(Self::Loaded(keys.iter().map(String::as_str).collect()))
    }

    /// The old keys in order, from the start.
    pub fn keys(&self) -> Result<OldKeys, Error> {
        Ok(match self {
            Self::Missing => Box::new(std::iter::empty()),
            Self::Sorted(file, path) => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(0))?;
                Box::new(text::SortedKeys::new(
                    std::io::BufReader::with_capacity(1 << 16, file),
                    path,
                ))
            }
            Self::Loaded(keys) => Box::new(
                keys.iter()
                    .map(|k| Ok(k.to_owned()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
        })
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
        let summary = merge(self.keys()?, new, &mut each)?;
        Ok(self.exists().then_some(summary))
    }
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

    #[test]
    fn the_previous_map_is_read_from_its_handle_after_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        fs_err::write(&path, "a@x OK\nb@x OK\n").unwrap();
        let previous = Previous::open(&path).unwrap();
        assert!(matches!(previous, Previous::Sorted(..)));
        crate::map::atomic::write(&path, b"b@x OK\nc@x OK\n", 0o644).unwrap();
        let new: KeySet = ["b@x", "c@x"].into_iter().collect();
        let mut lines = Vec::new();
        let summary = previous
            .merge(&new, |side, key| write_line(&mut lines, side, key).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8(lines).unwrap(), "-a@x\n+c@x\n");
        assert_eq!(
            (summary.added, summary.removed, summary.previous),
            (1, 1, 2)
        );
        fs_err::write(&path, "b@x OK\na@x OK\n").unwrap();
        assert!(matches!(
            Previous::open(&path).unwrap(),
            Previous::Loaded(_)
        ));
        assert!(!Previous::open(&dir.path().join("none")).unwrap().exists());
    }

    #[test]
    fn a_merge_can_be_fed_key_by_key() {
        let mut merger = Merger::new(["a@x", "c@x"].map(Ok::<_, ()>));
        let mut seen = Vec::new();
        for key in ["b@x", "c@x", "d@x"] {
            merger
                .push(key, |side, k| seen.push((side, k.to_owned())))
                .unwrap();
        }
        let summary = merger
            .finish(|side, k| seen.push((side, k.to_owned())))
            .unwrap();
        assert_eq!(
            seen,
            [
                (Side::Removed, "a@x".to_owned()),
                (Side::Added, "b@x".to_owned()),
                (Side::Added, "d@x".to_owned()),
            ]
        );
        assert_eq!(
            (summary.added, summary.removed, summary.previous),
            (2, 1, 2)
        );
    }
}
