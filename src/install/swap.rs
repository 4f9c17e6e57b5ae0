//! Builds a Postfix map next to the live one and swaps it in, so that smtpd never sees a
//! missing, partial or mixed map.
//!
//! The order of a change:
//! 1. leftovers of a killed run (`.NAME.*.tmp*`) are removed (the caller holds the lock);
//! 2. the text goes to a temporary file beside the map, with the native cdb built alongside
//!    ([`super::build`]), or the indexed file is built from it afterwards (`postmap TYPE:TEMP`),
//!    then checked with `postmap -q`;
//! 3. the live text and indexed files are copied to `PATH.prev` (copies, so that the old
//!    inode's link count drops to zero on the swap: that is how Postfix daemons notice a new
//!    map);
//! 4. the indexed file is renamed over the live one, then the text file;
//! 5. `PATH.sha256` records what the live pair was built from (the spooled body's digest), the
//!    text's digest, and each live file's size, mtime and inode. It is removed before the first
//!    rename and written after the last, so a half-swapped pair (a crash between the renames)
//!    is never taken for current, and a file changed by anyone else no longer matches its
//!    mark: the next run rebuilds. Because of the marks, knowing that a map is installed costs
//!    two `stat` calls, never a read of the indexed file.
//!
//! Every new file gets the owner, group and mode of the live file it replaces.
//!
//! Nothing under a live name is ever opened for writing; a failure at any step before 4 leaves
//! the live files exactly as they were.
//!
//! Security: runs as root on the gateway; every file it creates is in the map's directory and
//! made by rcptsync or by postmap from a file rcptsync wrote.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CdbWriter;
use super::build::Built;
use crate::map::digest::sha256_file;
use crate::map::state::file_mark;
use crate::map::{atomic, nofollow, with_suffix};
use crate::postfix::{self, MapSpec, MapType, Postfix};

/// The most an install or rollback record may be (a few digests and marks).
const RECORD_MAX: u64 = 64 << 10;

/// Why a map could not be installed or rolled back; the live map is unchanged unless the
/// message says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The record could not be rendered.
    #[error("render the install record: {0}")]
    Record(#[from] toml::ser::Error),
    /// Replacing a file failed.
    #[error(transparent)]
    Write(#[from] atomic::Error),
    /// postmap or postfix failed.
    #[error(transparent)]
    Postfix(#[from] postfix::Error),
    /// The freshly built map does not answer as it should.
    #[error(
        "the newly built {map} does not return {key} (postmap -q said {found:?}); it was not installed"
    )]
    Verify {
        /// The temporary map.
        map: String,
        /// The key that was looked up.
        key: String,
        /// What postmap returned.
        found: Option<String>,
    },
    /// `--rollback` without a previous map.
    #[error("there is no previous map to roll back to ({} is missing)", .0.display())]
    NoPrevious(PathBuf),
    /// `--rollback` to a previous pair whose record does not vouch for it.
    #[error(
        "the previous map is incomplete or was changed ({} does not match it; was a rollback or \
         an apply interrupted?); it is not rolled back to: apply a map with --from instead",
        .0.display()
    )]
    PreviousIncomplete(PathBuf),
}

/// What `PATH.sha256` says about the live pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// SHA-256 of the spooled body the live map was built from; empty after a rollback.
    source: String,
    /// SHA-256 of the live text.
    text: String,
    /// Size, mtime and inode of the live text file as installed.
    text_mark: String,
    /// The same for the indexed file ("-" for texthash).
    indexed_mark: String,
}

/// What a rollback undid: the map that is not to be installed again by itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// SHA-256 of the spooled body it was built from (empty when unknown).
    pub source: String,
    /// SHA-256 of its text.
    pub text: String,
}

/// What the live pair was built from (see [`Installer::installed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// SHA-256 of the spooled body it was built from; empty after a rollback.
    pub source: String,
    /// SHA-256 of the live text.
    pub text: String,
}

/// The map at one `TYPE:PATH`, and how to build it.
#[derive(Debug)]
pub struct Installer<'a> {
    spec: &'a MapSpec,
    postfix: &'a Postfix,
    cdb_writer: CdbWriter,
}

/// Removes `path`; a file that is not there is fine.
fn remove_if_present(path: &Path) -> Result<(), Error> {
    match crate::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl<'a> Installer<'a> {
    /// An installer for `spec`, using `postfix`'s commands.
    pub fn new(spec: &'a MapSpec, postfix: &'a Postfix, cdb_writer: CdbWriter) -> Self {
        Self {
            spec,
            postfix,
            cdb_writer,
        }
    }

    fn path(&self) -> &Path {
        &self.spec.path
    }

    /// Whether the native writer builds this map while it is read.
    pub fn native_cdb(&self) -> bool {
        self.spec.kind == MapType::Cdb && self.cdb_writer == CdbWriter::Native
    }

    /// The previous map's text file (its indexed file is beside it, as for the live one).
    pub fn previous_path(&self) -> PathBuf {
        with_suffix(self.path(), ".prev")
    }

    fn state_path(&self) -> PathBuf {
        with_suffix(self.path(), ".sha256")
    }

    fn rollback_path(&self) -> PathBuf {
        with_suffix(self.path(), ".rolled-back")
    }

    /// The record of the previous pair (`PATH.prev.sha256`).
    fn prev_state_path(&self) -> PathBuf {
        with_suffix(self.path(), ".prev.sha256")
    }

    /// The marks the pair with text file `text` has now; None when a file is missing.
    fn marks(&self, text: &Path) -> Result<Option<(String, String)>, Error> {
        let mark = |path: &Path| match file_mark(path) {
            Ok(mark) => Ok(Some(mark)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        let Some(text_mark) = mark(text)? else {
            return Ok(None);
        };
        let indexed = match self.spec.indexed_of(text) {
            Some(indexed) => match mark(&indexed)? {
                Some(mark) => mark,
                None => return Ok(None),
            },
            None => "-".to_owned(),
        };
        Ok(Some((text_mark, indexed)))
    }

    /// The record at `state`, when it still describes the pair with text file `text` (both
    /// files as they were when it was written).
    fn record_of(&self, text: &Path, state: &Path) -> Result<Option<Record>, Error> {
        let Ok(Some(saved)) = nofollow::read_small(state, RECORD_MAX) else {
            return Ok(None);
        };
        let Ok(record) = toml::from_str::<Record>(&saved) else {
            return Ok(None);
        };
        let now = self.marks(text)?;
        Ok(
            (now == Some((record.text_mark.clone(), record.indexed_mark.clone())))
                .then_some(record),
        )
    }

    /// The live pair's record, when it still describes it.
    fn record(&self) -> Result<Option<Record>, Error> {
        self.record_of(self.path(), &self.state_path())
    }

    /// True when the live pair was built from the spooled body with digest `source` and is
    /// unchanged since.
    pub fn is_current(&self, source: &str) -> Result<bool, Error> {
        Ok(self.record()?.is_some_and(|r| r.source == source))
    }

    /// True when the live pair has the text with digest `text` and is unchanged since.
    pub fn has_text(&self, text: &str) -> Result<bool, Error> {
        Ok(self.record()?.is_some_and(|r| r.text == text))
    }

    /// Notes in the record that the live pair (with text digest `text`) is also what the
    /// body with digest `source` builds, so that the next apply of that body stops after
    /// hashing it. The map files are not touched.
    pub fn note_source(&self, source: &str, text: &str) -> Result<(), Error> {
        if self
            .record()?
            .is_some_and(|r| r.text == text && r.source != source)
        {
            self.write_record(source, text)?;
        }
        Ok(())
    }

    /// Writes the record at `state` for the pair with text file `text`, built from `source`,
    /// with text digest `digest`.
    fn write_record_of(
        &self,
        text: &Path,
        state: &Path,
        source: &str,
        digest: &str,
    ) -> Result<(), Error> {
        let (text_mark, indexed_mark) = self.marks(text)?.unwrap_or_default();
        let record = Record {
            source: source.to_owned(),
            text: digest.to_owned(),
            text_mark,
            indexed_mark,
        };
        atomic::write(state, toml::to_string(&record)?.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Writes the live pair's record.
    fn write_record(&self, source: &str, text: &str) -> Result<(), Error> {
        self.write_record_of(self.path(), &self.state_path(), source, text)
    }

    /// Records that the live map is being rolled back from, so that the next apply of the
    /// same map (still in the spool) does not undo the rollback. Without a record that still
    /// describes the live pair, its text is hashed (the source is then unknown).
    fn remember_rollback(&self) -> Result<(), Error> {
        let undone = match self.record()? {
            Some(record) => RolledBack {
                source: record.source,
                text: record.text,
            },
            None => RolledBack {
                source: String::new(),
                text: sha256_file(self.path())?,
            },
        };
        atomic::write(
            &self.rollback_path(),
            toml::to_string(&undone)?.as_bytes(),
            0o644,
        )?;
        Ok(())
    }

    /// What the live pair was built from, when its files are still as installed (None: no
    /// record, or they were changed or replaced by hand since): what `status` reports.
    pub fn installed(&self) -> Result<Option<Installed>, Error> {
        Ok(self.record()?.map(|r| Installed {
            source: r.source,
            text: r.text,
        }))
    }

    /// The map that was last rolled back from, if a rollback is in force. A record that is
    /// there but cannot be read is an error, not "no rollback": taking it for none would
    /// install again the map the admin rolled back from.
    pub fn rolled_back_from(&self) -> Result<Option<RolledBack>, Error> {
        let path = self.rollback_path();
        let Some(text) = nofollow::read_small(&path, RECORD_MAX)? else {
            return Ok(None);
        };
        toml::from_str(&text).map(Some).map_err(|e| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is not the rollback record apply writes ({}); while it is there, the \
                     rollback cannot be kept: remove it to end the rollback",
                    path.display(),
                    e.message()
                ),
            ))
        })
    }

    /// Removes temporary files of earlier runs that were killed (the caller holds the lock).
    pub fn remove_leftovers(&self) -> Result<(), Error> {
        for leftover in atomic::remove_leftovers(self.path())? {
            tracing::info!("removed leftover {}", leftover.display());
        }
        Ok(())
    }

    /// Completes `built` (the indexed file, with postmap unless the native writer made it),
    /// checks that it answers, and swaps it in; `source` is the digest of the spooled body it
    /// was built from.
    pub fn install(&self, built: Built, source: &str) -> Result<(), Error> {
        let started = std::time::Instant::now();
        let indexed = match (built.indexed, self.spec.indexed_of(&built.text)) {
            (Some(native), _) => Some(native),
            (None, Some(path)) => {
                let guard = tempfile::TempPath::try_from_path(&path)?;
                self.postfix.postmap(&self.spec.name_of(&built.text))?;
                if let Some(live) = self.spec.indexed() {
                    // postmap honours root's umask; smtpd reads the map as the postfix user.
                    let attributes = atomic::Attributes::of(&live, 0o644)?;
                    attributes.apply(crate::fs::File::open(&path)?.file())?;
                }
                Some(guard)
            }
            (None, None) => None,
        };
        let writer = match (self.spec.kind, self.native_cdb()) {
            (MapType::Texthash, _) => "nothing to build",
            (_, true) => "native writer",
            _ => "postmap",
        };
        tracing::info!(
            "built the {} map ({writer}) in {:.3} s",
            self.spec.kind.name(),
            started.elapsed().as_secs_f64()
        );
        if let Some((key, value)) = &built.probe {
            let map = self.spec.name_of(&built.text);
            let found = self.postfix.query(&map, key)?;
            if found.as_deref() != Some(value.as_str()) {
                return Err(Error::Verify {
                    map,
                    key: key.clone(),
                    found,
                });
            }
        }
        self.keep_previous()?;
        self.forget_record()?;
        if let (Some(built), Some(live)) = (&indexed, self.spec.indexed()) {
            atomic::install(built, &live)?;
        }
        atomic::install(&built.text, self.path())?;
        self.write_record(source, &built.sha256)?;
        // A new map ends a rollback.
        remove_if_present(&self.rollback_path())?;
        Ok(())
    }

    /// Copies the live files to `PATH.prev` (indexed first, so that a complete text always has
    /// its indexed file).
    /// The previous text is written last and removed first, so its presence means a complete
    /// pair; and only a live pair that its record vouches for is kept (a half-swapped one is
    /// no map to go back to).
    ///
    /// Copies, not hard links: Postfix's daemons notice a replaced map when the file they have
    /// open loses its last link (`st_nlink` 0 after the rename); a second name would keep the
    /// old map served until they restart (the gateway tests caught exactly that).
    fn keep_previous(&self) -> Result<(), Error> {
        if self.marks(self.path())?.is_none() {
            return Ok(());
        }
        let Some(record) = self.record()? else {
            tracing::info!(
                "the installed map has no matching record ({}); it is not kept as the previous map",
                self.state_path().display()
            );
            return Ok(());
        };
        let previous = self.previous_path();
        // The previous pair's record goes first and comes back last: a pair without one
        // (a copy cut short) is never rolled back to.
        remove_if_present(&self.prev_state_path())?;
        remove_if_present(&previous)?;
        if let (Some(live), Some(prev)) = (self.spec.indexed(), self.spec.indexed_of(&previous)) {
            atomic::copy(&live, &prev)?;
        }
        atomic::copy(self.path(), &previous)?;
        self.write_record_of(
            &previous,
            &self.prev_state_path(),
            &record.source,
            &record.text,
        )
    }

    /// Removes the record before the first rename: from then until the new record is written
    /// the live pair may be mixed, and no record must vouch for it.
    fn forget_record(&self) -> Result<(), Error> {
        let state = self.state_path();
        remove_if_present(&state)?;
        crate::fs::File::open(atomic::dir_of(&state))?.sync_all()?;
        Ok(())
    }

    /// Swaps the live map and `PATH.prev`, and remembers the map rolled back from. The
    /// previous pair must still be as it was kept (its record and marks match): a pair that
    /// an interrupted copy or rollback left mixed is refused.
    pub fn rollback(&self) -> Result<(), Error> {
        let previous = self.previous_path();
        let pairs: Vec<(PathBuf, PathBuf)> = self
            .spec
            .indexed()
            .into_iter()
            .zip(self.spec.indexed_of(&previous))
            .chain([(self.path().to_owned(), previous.clone())])
            .collect();
        for (_, prev) in &pairs {
            if !prev.exists() {
                return Err(Error::NoPrevious(prev.clone()));
            }
        }
        let Some(prev_record) = self.record_of(&previous, &self.prev_state_path())? else {
            return Err(Error::PreviousIncomplete(self.prev_state_path()));
        };
        let live_record = self.record()?;
        self.remember_rollback()?;
        self.forget_record()?;
        remove_if_present(&self.prev_state_path())?;
        for (live, prev) in &pairs {
            // The live file is copied aside first, then the previous one renamed over it, then
            // the copy becomes the new previous: rolling back twice restores the original.
            let aside = atomic::copy_beside(live, prev)?.into_temp_path();
            atomic::install(prev, live)?;
            atomic::install(&aside, prev)?;
        }
        self.write_record(&prev_record.source, &prev_record.text)?;
        if let Some(record) = live_record {
            self.write_record_of(
                &previous,
                &self.prev_state_path(),
                &record.source,
                &record.text,
            )?;
        }
        Ok(())
    }
}
