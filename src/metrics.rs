//! `[metrics] textfile`: what the last run did, as a file for node-exporter's textfile
//! collector (Prometheus text format 0.0.4, with `# HELP` and `# TYPE` lines).
//!
//! A cron job that fails silently, or that stops running at all, is what monitoring must
//! catch: so every run writes the file, whether it changed something, changed nothing,
//! failed or was refused, and the alert is on the age of the last success. Values that
//! describe an earlier run (the last success, the last change) are carried over from the
//! file itself, so no other state is needed.
//!
//! The file is replaced atomically: node-exporter reads it at any moment and must never see
//! half of it.
//!
//! Security: the file holds counts, times and gateway names, no addresses and no secrets;
//! it is written with mode 0644 for node-exporter, which runs as another user, into a
//! directory the admin names, which that account (or a group the admin adds) may be able to
//! write. So the file is opened and written only through [`crate::map::nofollow`]'s handles
//! (no link followed anywhere on its path, nothing but a small regular file read, the new
//! file created under a random name), only numbers are taken from the old file, and each role
//! has its own file: on a host in both roles, root's `apply` never reads back a file that
//! the rcptsync account writes, and the other way round.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::map::{atomic, nofollow};

/// One metric: name, help text, type, and its samples (label set, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric's name, `rcptsync_...`.
    pub name: &'static str,
    /// The `# HELP` text: what it measures, for whoever writes the alert.
    pub help: &'static str,
    /// `gauge` or `counter`.
    pub kind: &'static str,
    /// Samples: a rendered label set (`gateway="mx1"`, or empty) and the value.
    pub samples: Vec<(String, f64)>,
}

impl Metric {
    /// A gauge with one unlabelled sample.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            kind: "gauge",
            samples: vec![(String::new(), value)],
        }
    }
}

/// `gateway="NAME"`, escaped as the text format wants (backslash, quote, newline).
pub fn label(key: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{key}=\"{escaped}\"")
}

/// The file's text for `metrics`.
pub fn render(metrics: &[Metric]) -> String {
    let mut text = String::new();
    for metric in metrics {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "# HELP {} {}", metric.name, metric.help);
        let _ = writeln!(text, "# TYPE {} {}", metric.name, metric.kind);
        for (labels, value) in &metric.samples {
            if labels.is_empty() {
                let _ = writeln!(text, "{} {value}", metric.name);
            } else {
                let _ = writeln!(text, "{}{{{labels}}} {value}", metric.name);
            }
        }
    }
    text
}

/// The most a textfile of rcptsync's can be: a few hundred bytes a gateway. Anything larger
/// was not written by rcptsync and is not read.
const MAX_BYTES: u64 = 1 << 20;

/// One role's textfile: its directory opened without following a link
/// ([`nofollow::Dir`]) and what the last run of that role left in it.
///
/// Each role has a file of its own (`sync` as rcptsync, `apply` as root), and each run
/// replaces the whole file: nothing another account wrote there is ever copied, and the old
/// file is read only for the few numbers an earlier run reported, through a handle that is
/// a regular file of bounded size.
pub struct Textfile {
    dir: nofollow::Dir,
    name: OsString,
    path: PathBuf,
    previous: String,
}

impl Textfile {
    /// Opens the textfile at `path` for this run. A directory on its way that another account
    /// can change is explained (at `-v`: it is the admin's choice, and the write follows no
    /// link); an old file that is not a regular one of a sane size is not read (a warning).
    pub fn open(path: &Path) -> Result<Self, atomic::Error> {
        let error = |cause| atomic::Error {
            path: path.to_owned(),
            cause,
        };
        let name = path
            .file_name()
            .ok_or_else(|| {
                error(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the path names no file",
                ))
            })?
            .to_owned();
        let dir = nofollow::Dir::open(atomic::dir_of(path)).map_err(error)?;
        for (directory, who) in dir.swappable() {
            tracing::info!(
                "metrics: {} can be changed by {who}, who can therefore replace {} with metrics \
                 of their own (rcptsync follows no link there, so its writes cannot be steered \
                 elsewhere); to rule that out, keep the textfile in a directory whose parents \
                 only root can change",
                directory.display(),
                path.display()
            );
        }
        let previous = match dir.read(&name, MAX_BYTES) {
            Ok(Some(bytes)) => String::from_utf8(bytes).unwrap_or_default(),
            Ok(None) => String::new(),
            Err(e) => {
                tracing::warn!("metrics: {e}; the values of earlier runs start afresh");
                String::new()
            }
        };
        Ok(Self {
            dir,
            name,
            path: path.to_owned(),
            previous,
        })
    }

    /// The unlabelled value of `name` as the last run left it; None when there is no file or
    /// no such sample (a first run).
    pub fn previous(&self, name: &str) -> Option<f64> {
        self.previous
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .filter(|v: &f64| v.is_finite())
    }

    /// Replaces the file with `metrics`, atomically, mode 0644 (node-exporter runs as another
    /// user), owned by the running user whatever was there before.
    pub fn write(&self, metrics: &[Metric]) -> Result<(), atomic::Error> {
        self.dir
            .replace(&self.name, render(metrics).as_bytes(), 0o644)
            .map_err(|cause| atomic::Error {
                path: self.path.clone(),
                cause,
            })
    }
}

/// The number of lines of the file at `path`: the recipients of a map rcptsync wrote (one
/// per line). Read in blocks, so a large map costs time, not memory; opened as a regular file
/// through no link ([`nofollow::open_regular`]), since a map's directory may be another
/// account's.
pub fn count_lines(path: &Path) -> std::io::Result<u64> {
    use std::io::Read as _;
    let mut file = nofollow::open_regular(path)?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} does not exist", path.display()),
        )
    })?;
    let mut buffer = vec![0; 1 << 16];
    let mut lines = 0;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buffer[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Seconds since the epoch, with the fraction, as Prometheus timestamps are.
pub fn unix_seconds(time: std::time::SystemTime) -> f64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_labelled_samples_and_reads_values_back() {
        let metrics = [
            Metric::gauge("rcptsync_recipients", "Recipients in the map.", 21.0),
            Metric {
                name: "rcptsync_gateway_push_success",
                help: "1 when the last push worked.",
                kind: "gauge",
                samples: vec![(label("gateway", "mx\"1"), 1.0)],
            },
        ];
        let text = render(&metrics);
        assert_eq!(
            text,
            "# HELP rcptsync_recipients Recipients in the map.\n\
             # TYPE rcptsync_recipients gauge\n\
             rcptsync_recipients 21\n\
             # HELP rcptsync_gateway_push_success 1 when the last push worked.\n\
             # TYPE rcptsync_gateway_push_success gauge\n\
             rcptsync_gateway_push_success{gateway=\"mx\\\"1\"} 1\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rcptsync.prom");
        let textfile = Textfile::open(&path).unwrap();
        assert_eq!(textfile.previous("rcptsync_recipients"), None);
        textfile.write(&metrics).unwrap();
        let textfile = Textfile::open(&path).unwrap();
        assert_eq!(textfile.previous("rcptsync_recipients"), Some(21.0));
        assert_eq!(textfile.previous("rcptsync_recipient"), None);
        // The whole file is this run's: lines someone else put there are not carried over.
        fs_err::write(
            &path,
            "secret line\nrcptsync_added 1e999\nrcptsync_removed NaN\n",
        )
        .unwrap();
        let textfile = Textfile::open(&path).unwrap();
        assert_eq!(textfile.previous("rcptsync_added"), None);
        assert_eq!(textfile.previous("rcptsync_removed"), None);
        textfile
            .write(&[Metric::gauge("rcptsync_recipients", "y", 22.0)])
            .unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# HELP rcptsync_recipients y\n# TYPE rcptsync_recipients gauge\nrcptsync_recipients 22\n"
        );
        textfile.write(&metrics).unwrap();
        assert_eq!(count_lines(&path).unwrap(), 6);
    }
}
