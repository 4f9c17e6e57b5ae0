//! Builds a Postfix map next to the live one and swaps it in, so that smtpd never sees a
//! missing, partial or mixed map.
//!
//! The order of a change:
//! 1. leftovers of a killed run (`.NAME.*.tmp*`) are removed (the caller holds the lock);
//! 2. the text goes to a temporary file beside the map and the indexed file is built from it
//!    (`postmap TYPE:TEMP`, or the native cdb writer), then checked with `postmap -q`;
//! 3. the live text and indexed files are copied to `PATH.prev` (copies, so that the old
//!    inode's link count drops to zero on the swap: that is how Postfix daemons notice a new
//!    map);
//! 4. the indexed file is renamed over the live one, then the text file;
//! 5. `PATH.sha256` records the digests of the text and of the indexed file built from it. It is
//!    removed before the first rename and written after the last, and it names both files, so
//!    a half-swapped pair (a crash between the renames) is never taken for current: the next
//!    run rebuilds.
//!
//! Nothing under a live name is ever opened for writing; a failure at any step before 4 leaves
//! the live files exactly as they were.
//!
//! Security: runs as root on the gateway; every file it creates is in the map's directory and
//! made by rcptsync or by postmap from a file rcptsync wrote.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{CdbWriter, cdb};
use crate::map::digest::{sha256_file, sha256_hex};
use crate::map::{atomic, with_suffix};
use crate::postfix::{self, MapSpec, MapType, Postfix};

/// Why a map could not be installed or rolled back; the live map is unchanged unless the
/// message says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
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
}

/// The map at one `TYPE:PATH`, and how to build it.
#[derive(Debug)]
pub struct Installer<'a> {
    spec: &'a MapSpec,
    postfix: &'a Postfix,
    cdb_writer: CdbWriter,
}

/// Removes the listed files when dropped, unless disarmed: a failed build leaves nothing behind.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs_err::remove_file(path);
        }
    }
}

/// Removes `path`; a file that is not there is fine.
fn remove_if_present(path: &Path) -> Result<(), Error> {
    match fs_err::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Gives `file` the mode of `like` (0644 when `like` does not exist yet).
fn set_mode(file: &Path, like: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = atomic::mode_for(like, 0o644)?;
    fs_err::set_permissions(file, std::fs::Permissions::from_mode(mode))?;
    Ok(())
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

    fn indexed(&self, text: &Path) -> Option<PathBuf> {
        self.spec.indexed_of(text)
    }

    fn map_name(&self, text: &Path) -> String {
        self.spec.name_of(text)
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

    /// Records that the map with text `text` was rolled back, so that the next apply of the
    /// same map (still in the spool) does not undo the rollback.
    pub fn remember_rollback(&self, text: &[u8]) -> Result<(), Error> {
        atomic::write(
            &self.rollback_path(),
            format!("{}\n", sha256_hex(text)).as_bytes(),
            0o644,
        )?;
        Ok(())
    }

    /// The digest of the map that was last rolled back from, if a rollback is in force.
    pub fn rolled_back_from(&self) -> Option<String> {
        fs_err::read_to_string(self.rollback_path())
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// The installed text, if there is one.
    pub fn installed_text(&self) -> Result<Option<Vec<u8>>, Error> {
        match fs_err::read(self.path()) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// True when `text` is installed completely: the live text is identical and the record
    /// names both it and the live indexed file, so a mixed pair (one file from another
    /// version, however that came about) is never taken for current.
    pub fn is_current(&self, text: &[u8]) -> Result<bool, Error> {
        if self.installed_text()?.as_deref() != Some(text) {
            return Ok(false);
        }
        let Some(indexed) = self.indexed_digest(self.path())? else {
            return Ok(false);
        };
        let recorded = fs_err::read_to_string(self.state_path()).unwrap_or_default();
        Ok(recorded.trim() == format!("{} {indexed}", sha256_hex(text)))
    }

    /// The digest of the indexed file beside `text` ("-" for texthash); None when it is missing.
    fn indexed_digest(&self, text: &Path) -> Result<Option<String>, Error> {
        let Some(indexed) = self.indexed(text) else {
            return Ok(Some("-".to_owned()));
        };
        match sha256_file(&indexed) {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the record for the live pair.
    fn record(&self, text: &[u8]) -> Result<(), Error> {
        let indexed = self.indexed_digest(self.path())?.unwrap_or_default();
        atomic::write(
            &self.state_path(),
            format!("{} {indexed}\n", sha256_hex(text)).as_bytes(),
            0o644,
        )?;
        Ok(())
    }

    /// Removes temporary files of earlier runs that were killed (the caller holds the lock).
    pub fn remove_leftovers(&self) -> Result<(), Error> {
        let name = self
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = atomic::dir_of(self.path());
        for entry in fs_err::read_dir(dir)? {
            let entry = entry?;
            if atomic::is_temp_of(&entry.file_name().to_string_lossy(), &name) {
                tracing::info!("removing leftover {}", entry.path().display());
                fs_err::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// Builds `text` (whose first entry or `probe` must be found) and swaps it in.
    /// `entries` are the same (key, value) pairs, for the native cdb writer.
    pub fn install(
        &self,
        text: &[u8],
        entries: &[(&str, &str)],
        probe: (&str, &str),
    ) -> Result<(), Error> {
        let mut temp = atomic::temp_beside(self.path())?;
        temp.write_all(text)?;
        set_mode(temp.path(), self.path())?;
        if self.spec.kind == MapType::Texthash {
            // Postfix re-reads a texthash file until its mtime is two seconds old, in case
            // an editor is still writing it ("pausing to let file cool down"): every daemon
            // would stall after the reload. This file is complete before it goes live.
            let cooled = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
            temp.as_file().set_modified(cooled)?;
        }
        temp.as_file().sync_all()?;
        let temp = temp.into_temp_path();
        let indexed = self.indexed(&temp);
        let _cleanup = Cleanup(indexed.iter().cloned().collect());
        let started = std::time::Instant::now();
        self.build(&temp, indexed.as_deref(), entries)?;
        let writer = match (self.spec.kind, self.cdb_writer) {
            (MapType::Texthash, _) => "nothing to build",
            (MapType::Cdb, CdbWriter::Native) => "native writer",
            _ => "postmap",
        };
        tracing::info!(
            "built the {} map ({writer}) in {:.3} s",
            self.spec.kind.name(),
            started.elapsed().as_secs_f64()
        );
        if let (Some(built), Some(live)) = (&indexed, self.indexed(self.path())) {
            // postmap honours root's umask; smtpd reads the map as the postfix user.
            set_mode(built, &live)?;
        }
        let map = self.map_name(&temp);
        let found = self.postfix.query(&map, probe.0)?;
        if found.as_deref() != Some(probe.1) {
            return Err(Error::Verify {
                map,
                key: probe.0.to_owned(),
                found,
            });
        }
        self.keep_previous()?;
        self.forget_record()?;
        let live_indexed = self.indexed(self.path());
        if let (Some(built), Some(live)) = (&indexed, &live_indexed) {
            atomic::install(built, live)?;
        }
        atomic::install(&temp, self.path())?;
        self.record(text)?;
        // A new map ends a rollback.
        remove_if_present(&self.rollback_path())?;
        Ok(())
    }

    /// Makes the indexed file for the text at `temp`.
    fn build(
        &self,
        temp: &Path,
        indexed: Option<&Path>,
        entries: &[(&str, &str)],
    ) -> Result<(), Error> {
        match (self.spec.kind, self.cdb_writer, indexed) {
            (MapType::Texthash, _, _) => Ok(()),
            (MapType::Cdb, CdbWriter::Native, Some(indexed)) => {
                let mut file = std::io::BufWriter::new(fs_err::File::create(indexed)?);
                cdb::write(
                    &mut file,
                    entries.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
                )?;
                file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                Ok(())
            }
            _ => Ok(self.postfix.postmap(&self.map_name(temp))?),
        }
    }

    /// Copies the live files to `PATH.prev` (indexed first, so that a complete text always has
    /// its indexed file).
    /// The previous text is written last and removed first, so its presence means a complete
    /// pair; and only a live pair that its record vouches for is kept (a half-swapped one is
    /// no map to go back to).
    fn keep_previous(&self) -> Result<(), Error> {
        let Some(live_text) = self.installed_text()? else {
            return Ok(());
        };
        if !self.is_current(&live_text)? {
            tracing::info!(
                "the installed map has no matching record ({}); it is not kept as the previous map",
                self.state_path().display()
            );
            return Ok(());
        }
        let previous = self.previous_path();
        remove_if_present(&previous)?;
        if let (Some(live), Some(prev)) = (self.indexed(self.path()), self.indexed(&previous)) {
            atomic::copy(&live, &prev)?;
        }
        atomic::copy(self.path(), &previous)?;
        Ok(())
    }

    /// Removes the record before the first rename: from then until the new record is written
    /// the live pair may be mixed, and no record must vouch for it.
    fn forget_record(&self) -> Result<(), Error> {
        let state = self.state_path();
        remove_if_present(&state)?;
        fs_err::File::open(atomic::dir_of(&state))?.sync_all()?;
        Ok(())
    }

    /// Swaps the live map and `PATH.prev`; returns the text that is live afterwards.
    pub fn rollback(&self) -> Result<Vec<u8>, Error> {
        let previous = self.previous_path();
        let pairs: Vec<(PathBuf, PathBuf)> = self
            .indexed(self.path())
            .into_iter()
            .zip(self.indexed(&previous))
            .chain([(self.path().to_owned(), previous.clone())])
            .collect();
        for (_, prev) in &pairs {
            if !prev.exists() {
                return Err(Error::NoPrevious(prev.clone()));
            }
        }
        let restored = fs_err::read(&previous)?;
        self.forget_record()?;
        for (live, prev) in &pairs {
            // The live file is copied aside first, then the previous one renamed over it, then
            // the copy becomes the new previous: rolling back twice restores the original.
            let aside = atomic::copy_beside(live, prev)?.into_temp_path();
            atomic::install(prev, live)?;
            atomic::install(&aside, prev)?;
        }
        self.record(&restored)?;
        Ok(restored)
    }
}
