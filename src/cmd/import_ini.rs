//! `rcptsync import-ini`: the legacy Perl script's configuration converted to TOML.
//!
//! The conversion itself is pure ([`crate::config::legacy`]); this module does the I/O in an
//! order that never leaves a half-done result: read and convert the ini, load the TOML as
//! `rcptsync` would (a conversion that does not load is a bug, reported instead of printed),
//! check that `-o FILE` may be written, write the bind password to its own file (mode 0600
//! from the start, never overwriting one, and say where it went), and only then write the
//! TOML to `-o FILE` (atomically) or stdout. If the TOML cannot be delivered (a full disk, a
//! closed stdout) the run fails (exit 1, never 0 with nothing written) and the password file
//! it just made is removed, so that running it again works. The password never reaches
//! stdout or stderr.
//!
//! Security: runs as the admin; reads the ini, writes only the password file and the output
//! file it names.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{ExitStatus, Failure as _, Printer, Result};
use crate::config::legacy;

/// What to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// The legacy .ini file.
    pub file: PathBuf,
    /// Where to write the bind password.
    pub password_file: PathBuf,
    /// Where to write the TOML (None: stdout).
    pub output: Option<PathBuf>,
    /// Replace an existing output file.
    pub overwrite: bool,
}

/// Converts the ini, writes its bind password (if any) to the password file, and prints the
/// TOML. Ini problems are runtime failures (exit 1) naming `file:line`: exit 2 is kept for
/// rcptsync's own config.
pub fn run(options: &Options, printer: Printer) -> Result {
    let file = &options.file;
    let text = crate::fs::read_to_string(file)?;
    let stanzas = legacy::parse(&text, file).failure()?;
    let password_path = std::path::absolute(&options.password_file)
        .with_context(|| {
            format!(
                "{}: cannot make the path absolute",
                options.password_file.display()
            )
        })
        .failure()?;
    let conversion = legacy::convert(&stanzas, file, &password_path).failure()?;
    for warning in &conversion.warnings {
        tracing::warn!("{warning}");
    }
    // A conversion that does not load is a fault of the conversion (exit 1), not of a config
    // the user wrote.
    conversion
        .check(&file.with_extension("toml"))
        .context("internal error: the converted configuration does not load")
        .failure()?;
    if conversion.toml.trim().is_empty() {
        return Err(super::Error::Failure(anyhow::anyhow!(
            "internal error: {} converted to nothing",
            file.display()
        )));
    }
    if let Some(output) = &options.output
        && !options.overwrite
        && output.exists()
    {
        return Err(super::Error::Usage(anyhow::anyhow!(
            "{} exists: refusing to overwrite it; choose another -o FILE or add --overwrite",
            output.display()
        )));
    }
    if let Some(password) = &conversion.password {
        write_password(&password_path, password).failure()?;
        printer.tell(format_args!(
            "wrote the bind password to {} (mode 0600; the TOML names it in bind_password_file): make it owned by the account that runs rcptsync (chown rcptsync {})",
            password_path.display(),
            password_path.display()
        ));
    }
    let delivered = deliver(&conversion.toml, options.output.as_deref(), printer);
    if let Err(e) = delivered {
        if conversion.password.is_some() {
            let _ = crate::fs::remove_file(&password_path);
        }
        let what = match options.output.as_deref() {
            Some(path) => format!("write {}", path.display()),
            None => "write the TOML to stdout".to_owned(),
        };
        let cleanup = if conversion.password.is_some() {
            format!(
                "; {} was removed again, run import-ini once more",
                password_path.display()
            )
        } else {
            String::new()
        };
        return Err(crate::cmd::Error::Failure(anyhow::anyhow!(
            "{what}: {e}{cleanup}"
        )));
    }
    if let Some(output) = &options.output {
        printer.tell(format_args!(
            "wrote the configuration to {}; review it, then try rcptsync extract --dry-run -c {}",
            output.display(),
            output.display()
        ));
    }
    Ok(ExitStatus::Success)
}

/// Writes the TOML to `output` (replaced atomically, mode 0640: it names the password file)
/// or to stdout. A closed stdout is an error here, not a quiet end: the TOML is what the
/// run is for.
fn deliver(toml: &str, output: Option<&Path>, printer: Printer) -> anyhow::Result<()> {
    match output {
        Some(path) => Ok(crate::map::atomic::write(path, toml.as_bytes(), 0o640)?),
        None => {
            let mut out = printer.out();
            out.writer().write_all(toml.as_bytes())?;
            out.finish().map_err(|e| e.0)?;
            Ok(())
        }
    }
}

/// Creates `path` with mode 0600 (never readable by others, not even briefly) and writes the
/// password and a line end; an existing file is never overwritten: it may be another
/// service's password.
fn write_password(path: &Path, password: &str) -> anyhow::Result<()> {
    let mut file = match crate::fs::OpenOptions::new()
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
        let _ = crate::fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}
