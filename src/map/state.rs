//! Knowing cheaply that nothing changed since the last full run, so that frequent runs (every
//! minute, for new mailboxes to reach the gateway quickly) cost one small LDAP request each.
//!
//! A snapshot records what the last successful full run was made from: the config file's
//! digest, a change mark per source (the directory's own change counter, which the LDAP
//! source reads; the content digest for files, because mtimes are too coarse to notice a
//! quick rewrite), and the written map's size, mtime and inode (rcptsync replaces it by
//! rename, so every write gives it a new inode). When all of them are the same now, and the
//! last full run is recent enough, the map is still right and the search is skipped. Any
//! doubt (no snapshot, a source without a mark, another DC after a failover, a map someone
//! edited, `--full`) means a full run.
//!
//! A source that learns about changes by replaying a cursor (Graph's delta queries) keeps its
//! cursors in [`Snapshot::delta`]: carried from one full run to the next, never compared.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{atomic, digest, nofollow};

/// The most a state file may be: its largest part, the rejected values' short digests, stays
/// far below this even for a directory of millions.
const MAX_BYTES: u64 = 64 << 20;

/// Why the snapshot could not be saved (reading one never fails: a snapshot that cannot be
/// read only means a full run).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It could not be rendered.
    #[error("render the state file: {0}")]
    Render(#[from] toml::ser::Error),
    /// It could not be written.
    #[error(transparent)]
    Write(#[from] atomic::Error),
}

/// What a full run was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// SHA-256 of the config file: other rules make another map.
    pub config: String,
    /// Each source's change mark, by source name.
    pub sources: BTreeMap<String, String>,
    /// The map file as written: size, mtime, inode.
    pub map: String,
    /// When the last full run finished (seconds since the epoch).
    pub full_at: u64,
    /// Each Graph source's deltaLinks (collection -> link), by source name, as the last full
    /// run left them; not part of the comparison (the source turns them into its mark).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delta: BTreeMap<String, BTreeMap<String, String>>,
    /// The directory values the last full run rejected, each as a short digest of where it
    /// was and what it said ([`crate::rules::Rejection::id`]): a value is warned about when
    /// it appears, not at every full run, so that cron mails only news. Not compared.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub rejected: std::collections::BTreeSet<String>,
    /// How the last run read each source, by source name: `full`, or the change feed it read
    /// only the changes with (`syncrepl`), for `status` and the metrics. Not compared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub methods: BTreeMap<String, String>,
    /// Where each source with a change feed goes on from (its cursor, as `key=value`), for
    /// `status`: the store that holds it is not for root to open. Not compared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cursors: BTreeMap<String, String>,
    /// How many objects the last full reconcile found the incremental reads had wrong (None:
    /// none was made yet), for `status`. Not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<usize>,
}

impl Snapshot {
    /// The snapshot saved at `path`, if there is a readable one. It is opened as a file
    /// another account may have replaced ([`nofollow::read_small`]): `status` reads it as
    /// root, and a link, a FIFO or a huge file there must neither steer nor stall a run. Such a
    /// file is named in a warning and, like a missing one, means a full run.
    pub fn read(path: &Path) -> Option<Self> {
        match nofollow::read_small(path, MAX_BYTES) {
            Ok(text) => toml::from_str(&text?).ok(),
            Err(e) => {
                tracing::warn!("{e}; the next run reads in full and replaces it");
                None
            }
        }
    }

    /// Saves the snapshot atomically, as rcptsync's own file ([`atomic::write_own`]: a link
    /// or a FIFO there, see [`Snapshot::read`], is replaced, not followed).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text = toml::to_string(self)?;
        atomic::write_own(path, text.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Whether `self` (taken now) shows the same inputs and map as `saved`, with the last full
    /// run less than `full_every` ago. A last full run in the future (the clock was once
    /// wrong, or the file was edited) is no reason to trust it: a full run is due.
    pub fn unchanged_since(&self, saved: &Self, full_every: std::time::Duration) -> bool {
        self.config == saved.config
            && self.sources == saved.sources
            && self.map == saved.map
            && saved.full_at <= self.full_at
            && self.full_at - saved.full_at < full_every.as_secs()
    }
}

/// Size, modification time and inode of a file: it changes whenever the file is rewritten.
pub fn file_mark(path: &Path) -> std::io::Result<String> {
    let meta = crate::fs::metadata(path)?;
    Ok(format!(
        "file {} {}.{:09} {}",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ino()
    ))
}

/// The digest of a source file's content.
pub fn content_mark(path: &Path) -> std::io::Result<String> {
    Ok(format!("sha256 {}", digest::sha256_file(path)?))
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn snapshot(full_at: u64) -> Snapshot {
        Snapshot {
            config: "c".into(),
            sources: [("ad".to_owned(), "ad CN=dc1 x usn=5".to_owned())].into(),
            map: "file 1 2.0 3".into(),
            full_at,
            delta: [(
                "m365".to_owned(),
                [(
                    "users".to_owned(),
                    "https://graph/v1.0/users/delta?$deltatoken=x".to_owned(),
                )]
                .into(),
            )]
            .into(),
            rejected: Default::default(),
            methods: Default::default(),
            cursors: Default::default(),
            drift: None,
        }
    }

    #[test]
    fn same_inputs_within_the_interval_only() {
        let hour = Duration::from_secs(3600);
        let saved = snapshot(1000);
        assert!(snapshot(1000 + 3599).unchanged_since(&saved, hour));
        assert!(!snapshot(1000 + 3600).unchanged_since(&saved, hour));
        // A last full run in the future: the clock was wrong then, so a full run is due now.
        assert!(!snapshot(999).unchanged_since(&saved, hour));
        assert!(!snapshot(0).unchanged_since(&snapshot(u64::MAX), hour));
        let mut moved = snapshot(1001);
        moved
            .sources
            .insert("ad".into(), "ad CN=dc1 x usn=6".into());
        assert!(!moved.unchanged_since(&saved, hour));
        let mut edited = snapshot(1001);
        edited.map = "file 1 9.0 3".into();
        assert!(!edited.unchanged_since(&saved, hour));
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.state");
        snapshot(7).write(&path).unwrap();
        assert_eq!(Snapshot::read(&path), Some(snapshot(7)));
        fs_err::write(&path, "garbage").unwrap();
        assert_eq!(Snapshot::read(&path), None);
        let mark = file_mark(&path).unwrap();
        assert!(mark.starts_with("file 7 "), "{mark}");
        let digest = content_mark(&path).unwrap();
        fs_err::write(&path, "garbagf").unwrap();
        assert_ne!(content_mark(&path).unwrap(), digest);
    }
}
