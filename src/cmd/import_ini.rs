//! `rcptsync import-ini`: the legacy Perl script's configuration converted to TOML.
//!
//! The conversion itself is pure ([`crate::config::legacy`]); this module does the I/O in an
//! order that never leaves a half-done result: read and convert the ini, load the TOML as
//! `rcptsync` would (a conversion that does not load is a bug, reported instead of printed),
//! write the bind password to its own file (mode 0600 from the start, never overwriting one),
//! and only then print the TOML on stdout. The password never reaches stdout or stderr.
//!
//! Security: runs as the admin; reads the ini, writes only the password file it names.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use fs_err::os::unix::fs::OpenOptionsExt as _;

use super::{ExitStatus, Printer, Result};
use crate::config::legacy;

/// What to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// The legacy .ini file.
    pub file: PathBuf,
    /// Where to write the bind password.
    pub password_file: PathBuf,
}

/// Converts the ini, writes its bind password (if any) to the password file, and prints the
/// TOML. Ini problems are runtime failures (exit 1) naming `file:line`: exit 2 is kept for
/// rcptsync's own config.
pub fn run(options: &Options, printer: Printer) -> Result {
    let file = &options.file;
    let text = fs_err::read_to_string(file)?;
    let stanzas = legacy::parse(&text, file).map_err(anyhow::Error::from)?;
    let password_path = std::path::absolute(&options.password_file).with_context(|| {
        format!(
            "{}: cannot make the path absolute",
            options.password_file.display()
        )
    })?;
    let conversion =
        legacy::convert(&stanzas, file, &password_path).map_err(anyhow::Error::from)?;
    for warning in &conversion.warnings {
        tracing::warn!("{warning}");
    }
    // A conversion that does not load is a fault of the conversion (exit 1), not of a config
    // the user wrote.
    conversion
        .check(&file.with_extension("toml"))
        .context("internal error: the converted configuration does not load")?;
    if let Some(password) = &conversion.password {
        write_password(&password_path, password)?;
    }
    let mut out = printer.out();
    out.writer()
        .write_all(conversion.toml.as_bytes())
        .map_err(super::printer::Error)?;
    out.finish()?;
    Ok(ExitStatus::Success)
}

/// Creates `path` with mode 0600 (never readable by others, not even briefly) and writes the
/// password and a line end; an existing file is never overwritten: it may be another
/// service's password.
fn write_password(path: &Path, password: &str) -> anyhow::Result<()> {
    let mut file = match fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "{} exists: refusing to overwrite it with the bind password; remove it or choose another --password-file",
            path.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let written = file
        .write_all(format!("{password}\n").as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Do not leave a truncated password behind: the next run would refuse to overwrite it.
        drop(file);
        let _ = fs_err::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}
