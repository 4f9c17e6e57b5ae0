//! `[metrics] textfile`: what the last run did, as a file for node-exporter's textfile
//! collector (Prometheus text format 0.0.4, with `# HELP` and `# TYPE` lines).
//!
//! A cron job that fails silently, or that stops running at all, is what monitoring must
//! catch: so every run writes the file, whether it changed something, changed nothing,
//! failed or was refused, and the alert is on the age of the last success. Values that
//! describe an earlier run (the last success, the last change) are carried over from the
//! file itself, so no other state is needed.
//!
//! The file is replaced atomically ([`crate::map::atomic`]): node-exporter reads it at any
//! moment and must never see half of it.
//!
//! Security: the file holds counts, times and gateway names, no addresses and no secrets;
//! it is written with mode 0644 for node-exporter, which runs as another user, into a
//! directory the admin names (the packaged units must be allowed to write it).

use std::fmt::Write as _;
use std::path::Path;

use crate::map::atomic;

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

/// The unlabelled value of `name` in the file at `path` as the last run left it; None when
/// there is no file or no such sample (a first run).
pub fn previous(path: &Path, name: &str) -> Option<f64> {
    let text = fs_err::read_to_string(path).ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The metric a line of the text format belongs to: the sample's name, or the one a
/// `# HELP` / `# TYPE` line describes.
fn name_of(line: &str) -> &str {
    let rest = line
        .strip_prefix("# HELP ")
        .or_else(|| line.strip_prefix("# TYPE "))
        .unwrap_or(line);
    rest.split(['{', ' ']).next().unwrap_or(rest)
}

/// Replaces `metrics` in the file at `path`, atomically (mode 0644: node-exporter runs as
/// another user). Metrics of other names already in the file are kept: when one host is
/// both the internal host and a gateway with one config, `sync` and `apply` share the file
/// and each replaces only its own.
pub fn write(path: &Path, metrics: &[Metric]) -> Result<(), atomic::Error> {
    let ours: Vec<&str> = metrics.iter().map(|m| m.name).collect();
    let mut text: String = fs_err::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !ours.contains(&name_of(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&render(metrics));
    atomic::write(path, text.as_bytes(), 0o644)
}

/// The number of lines of the file at `path`: the recipients of a map rcptsync wrote (one
/// per line). Read in blocks, so a large map costs time, not memory.
pub fn count_lines(path: &Path) -> std::io::Result<u64> {
    use std::io::Read as _;
    let mut file = fs_err::File::open(path)?;
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
        assert_eq!(previous(&path, "rcptsync_recipients"), None);
        write(&path, &metrics).unwrap();
        assert_eq!(previous(&path, "rcptsync_recipients"), Some(21.0));
        assert_eq!(previous(&path, "rcptsync_recipient"), None);
        // Another writer's metrics stay; this writer's are replaced.
        write(
            &path,
            &[Metric::gauge("rcptsync_apply_last_exit_status", "x", 0.0)],
        )
        .unwrap();
        write(&path, &[Metric::gauge("rcptsync_recipients", "y", 22.0)]).unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(
            text.contains("rcptsync_apply_last_exit_status 0\n"),
            "{text}"
        );
        assert!(text.contains("\nrcptsync_recipients 22\n"), "{text}");
        assert!(!text.contains("rcptsync_recipients 21"), "{text}");
        assert!(text.contains("push_success{gateway="), "{text}");
        assert_eq!(count_lines(&path).unwrap(), 9);
    }
}
