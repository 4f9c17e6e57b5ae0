//! Exports: the map's recipients written for a filtering service in front of the gateway or
//! for another MTA (`[[export]]`). An export is made from the map as `extract` left it, after
//! the guards (a held removal is still in it), so that every consumer agrees with the
//! gateways. Each is replaced atomically and only when its content changes; its `command`
//! runs after it changed, and again on every run until it succeeds ([`state`]).
//!
//! Security: `extract` writes the exports as the account that runs it, in the directories the
//! admin names; the command runs as that account too, with no shell.

pub mod command;
pub mod config;
pub mod format;
pub mod state;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::map::atomic;
pub use format::Row;

/// One `[[export]]`, checked ([`config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The file.
    pub path: PathBuf,
    /// What goes in it.
    pub format: Format,
    /// What runs after it changed (the path appended); None: nothing.
    pub command: Option<Vec<String>>,
    /// The longest the command may run.
    pub timeout: Duration,
}

/// What an export's file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One address per line: what filtering services import.
    List,
    /// `address,source,id`, with a header line.
    Csv,
    /// `{"recipients": [{"address", "source", "id"}...], "open_domains": [...]}`.
    Json,
    /// An OpenSMTPD `table` file: an address per line, `@domain` for an open domain.
    OpenSmtpd,
    /// An Exim `lsearch` file: an address per line, `*@domain` for an open domain.
    Exim,
}

impl Format {
    /// The format named as in the config.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "list" => Self::List,
            "csv" => Self::Csv,
            "json" => Self::Json,
            "opensmtpd" => Self::OpenSmtpd,
            "exim" => Self::Exim,
            _ => return None,
        })
    }

    /// Its name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::OpenSmtpd => "opensmtpd",
            Self::Exim => "exim",
        }
    }

    /// Whether it says where each address came from (which costs the run a record of every
    /// object's addresses).
    pub fn has_origins(self) -> bool {
        matches!(self, Self::Csv | Self::Json)
    }
}

/// Why an export was not made; the map itself is in place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be written.
    #[error("export {}: {cause}", path.display())]
    Write {
        /// The export's file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// Its command failed; it runs again on the next run.
    #[error("export {}: {cause}; it runs again on the next run", path.display())]
    Command {
        /// The export's file.
        path: PathBuf,
        /// Why.
        cause: command::Error,
    },
}

/// What [`write()`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Whether the file changed (it was the same, or it was replaced).
    pub changed: bool,
    /// How many addresses the format cannot carry and left out.
    pub left_out: usize,
}

/// Writes `rows` and the `open` domains to `export`'s file, unless the file already holds
/// exactly that: the new content goes to a temporary file beside it, which replaces the file
/// only when their digests differ.
pub fn write<'a>(
    export: &Export,
    rows: impl Iterator<Item = std::io::Result<Row<'a>>>,
    open: &[String],
) -> Result<Written, Error> {
    let error = |cause| Error::Write {
        path: export.path.clone(),
        cause,
    };
    let atomic = |e: atomic::Error| error(e.cause);
    let mut replacement = atomic::Replacement::new(&export.path, 0o644).map_err(atomic)?;
    let (left_out, new) = {
        let mut hashing = Hashing {
            out: std::io::BufWriter::with_capacity(1 << 16, replacement.file()),
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
        };
        let left_out = format::write(export.format, rows, open, &mut hashing).map_err(error)?;
        hashing.out.flush().map_err(error)?;
        let digest = sha2::Digest::finalize(hashing.hasher);
        (left_out, crate::map::digest::hex(&digest))
    };
    // What is there now is read without following a link or waiting on a FIFO (the
    // export's directory may be shared with the account that picks it up): anything but a
    // regular file is simply replaced.
    let old = match crate::map::nofollow::open_regular(&export.path) {
        Ok(Some(mut file)) => Some(crate::map::digest::sha256_reader(&mut file).map_err(error)?),
        Ok(None) | Err(_) => None,
    };
    let changed = old.as_deref() != Some(new.as_str());
    if changed {
        replacement.commit().map_err(atomic)?;
    }
    Ok(Written { changed, left_out })
}

/// Runs `export`'s command, if it has one.
pub fn run_command(export: &Export) -> Result<(), Error> {
    match &export.command {
        None => Ok(()),
        Some(argv) => {
            // An absolute path, so that the program need not know where extract ran.
            let path = std::path::absolute(&export.path).unwrap_or_else(|_| export.path.clone());
            command::run(argv, &path, export.timeout).map_err(|cause| Error::Command {
                path: export.path.clone(),
                cause,
            })
        }
    }
}

/// A writer that hashes what it writes.
struct Hashing<W> {
    out: W,
    hasher: sha2::Sha256,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(bytes)?;
        sha2::Digest::update(&mut self.hasher, &bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn export(dir: &Path) -> Export {
        Export {
            path: dir.join("recipients.txt"),
            format: Format::List,
            command: None,
            timeout: Duration::from_secs(5),
        }
    }

    fn rows(addresses: &[&'static str]) -> impl Iterator<Item = std::io::Result<Row<'static>>> {
        addresses.iter().map(|&address| {
            Ok(Row {
                address: address.to_owned(),
                source: "",
                id: "",
            })
        })
    }

    #[test]
    fn a_file_is_replaced_only_when_its_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let export = export(dir.path());
        let written = write(&export, rows(&["a@example.com"]), &[]).unwrap();
        assert!(written.changed);
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs_err::metadata(p).unwrap());
        let before = inode(&export.path);
        assert!(
            !write(&export, rows(&["a@example.com"]), &[])
                .unwrap()
                .changed
        );
        assert_eq!(
            inode(&export.path),
            before,
            "the same content was rewritten"
        );
        assert!(
            write(&export, rows(&["b@example.com"]), &[])
                .unwrap()
                .changed
        );
        assert_eq!(
            fs_err::read_to_string(&export.path).unwrap(),
            "b@example.com\n"
        );
        // Nothing is left beside it.
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_fifo_at_the_path_is_replaced_not_waited_on_and_a_link_is_refused() {
        use rustix::fs::{CWD, FileType, Mode};
        let dir = tempfile::tempdir().unwrap();
        let export = export(dir.path());
        rustix::fs::mknodat(
            CWD,
            &export.path,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(
            write(&export, rows(&["a@example.com"]), &[])
                .unwrap()
                .changed
        );
        assert_eq!(
            fs_err::read_to_string(&export.path).unwrap(),
            "a@example.com\n"
        );
        let target = dir.path().join("elsewhere");
        fs_err::write(&target, "a@example.com\n").unwrap();
        fs_err::remove_file(&export.path).unwrap();
        fs_err::os::unix::fs::symlink(&target, &export.path).unwrap();
        // A link named in the config is refused, as for the map: the target is not touched.
        let e = write(&export, rows(&["b@example.com"]), &[]).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs_err::read_to_string(&target).unwrap(), "a@example.com\n");
    }

    #[test]
    fn a_failed_write_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let export = export(dir.path());
        write(&export, rows(&["a@example.com"]), &[]).unwrap();
        let failing = std::iter::once(Err(std::io::Error::other("the read broke")));
        let e = write(&export, failing, &[]).unwrap_err();
        assert!(e.to_string().contains("recipients.txt"), "{e}");
        assert_eq!(
            fs_err::read_to_string(&export.path).unwrap(),
            "a@example.com\n"
        );
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }
}
