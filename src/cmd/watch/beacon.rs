//! `PATH.watch`: what a running `watch` tells `status` and the metrics, kept fresh every
//! [`HEARTBEAT`] while it runs and removed when it stops: since when it runs, how it learns
//! of each source's changes, when the map last changed, and how long each gateway took to
//! acknowledge the last change. A lock cannot say this (watch holds the map's lock only
//! while it writes), and a file that stopped being refreshed shows a watch that died
//! without a word.
//!
//! Security: written by the unprivileged account beside the map; `status` may read it as
//! root, so it is read like the other files there: no link followed, bounded in size, and
//! a file that does not parse is reported as unreadable, never trusted in part.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::map::{atomic, nofollow};

/// How often a running watch rewrites the file: `status` calls a watch whose file is older
/// than three of these stale.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// The most the file may be: a few lines per source and gateway.
const MAX_BYTES: u64 = 1 << 20;

/// Why the file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It is not a plain file, too large, or unreadable (the message names it).
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// It does not parse.
    #[error("{}: not a watch file: {cause}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        cause: toml::de::Error,
    },
}

/// What a running watch reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Beacon {
    /// Its process id.
    pub pid: u32,
    /// When it started (seconds since the epoch).
    pub started_at: u64,
    /// When it last wrote this file.
    pub heartbeat_at: u64,
    /// When a run last changed the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<u64>,
    /// How it learns of each source's changes, by source name.
    #[serde(default)]
    pub feeds: BTreeMap<String, String>,
    /// The last change each gateway acknowledged, by gateway name.
    #[serde(default)]
    pub gateways: BTreeMap<String, Delivery>,
}

/// A change that reached a gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// When the gateway acknowledged the map with the change (seconds since the epoch).
    pub acknowledged_at: u64,
    /// From the moment the directory announced the change (or watch found it, for a source
    /// it polls) to the acknowledgement, in seconds.
    pub seconds: f64,
}

impl Beacon {
    /// The file at `path`: None when there is none (no watch runs), an error naming it when
    /// it cannot be read or does not parse.
    pub fn read(path: &Path) -> Result<Option<Self>, Error> {
        let Some(text) = nofollow::read_small(path, MAX_BYTES)? else {
            return Ok(None);
        };
        let beacon = toml::from_str(&text).map_err(|cause| Error::Parse {
            path: path.to_owned(),
            cause,
        })?;
        Ok(Some(beacon))
    }

    /// Replaces the file atomically.
    pub fn write(&self, path: &Path) -> Result<(), atomic::Error> {
        // A map of strings and numbers always renders; were it not to, an empty file says
        // less than the last one, and is not written.
        match toml::to_string(self) {
            Ok(text) => atomic::write(path, text.as_bytes(), 0o644),
            Err(_) => Ok(()),
        }
    }

    /// Lines for `status` at `now`: whether watch runs, how it learns of each source's
    /// changes, and how long the last change took to reach each gateway.
    pub fn describe(&self, now: u64) -> Vec<String> {
        let at = crate::cmd::printer::rfc3339_seconds;
        // What the file says is printed to root's terminal: no control character goes through.
        let clean = |text: &str| -> String {
            text.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        };
        if !self.fresh(now) {
            return vec![format!(
                "watch: not running: pid {} stopped writing its file at {} (it died: see \
                 journalctl -u rcptsync-watch)",
                self.pid,
                at(self.heartbeat_at)
            )];
        }
        let changed = self
            .changed_at
            .map_or_else(|| "not since it started".to_owned(), at);
        let mut lines = vec![format!(
            "watch: running since {} (pid {}); map last changed {changed}",
            at(self.started_at),
            self.pid
        )];
        for (source, how) in &self.feeds {
            lines.push(format!("watch: source {}: {}", clean(source), clean(how)));
        }
        for (gateway, delivery) in &self.gateways {
            let gateway = clean(gateway);
            lines.push(format!(
                "watch: gateway {gateway}: the last change acknowledged {:.1}s after it was \
                 announced, at {}",
                delivery.seconds,
                at(delivery.acknowledged_at)
            ));
        }
        lines
    }

    /// Whether the watch that wrote it still runs, as far as its heartbeat shows at `now`: a
    /// heartbeat in the future (a file someone wrote, not watch) shows nothing.
    pub fn fresh(&self, now: u64) -> bool {
        let beat = 3 * HEARTBEAT.as_secs();
        self.heartbeat_at <= now.saturating_add(beat)
            && now.saturating_sub(self.heartbeat_at) <= beat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beacon_reads_back_as_written_and_goes_stale_after_three_heartbeats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.watch");
        assert_eq!(Beacon::read(&path).unwrap(), None);
        let mut beacon = Beacon {
            pid: 42,
            started_at: 1000,
            heartbeat_at: 1000,
            ..Beacon::default()
        };
        beacon
            .feeds
            .insert("ad".into(), "notified by the DC".into());
        beacon.gateways.insert(
            "mx1".into(),
            Delivery {
                acknowledged_at: 1010,
                seconds: 1.5,
            },
        );
        beacon.write(&path).unwrap();
        assert_eq!(Beacon::read(&path).unwrap(), Some(beacon.clone()));
        assert!(beacon.fresh(1090));
        assert!(!beacon.fresh(1091));
        let lines = beacon.describe(1010).join("\n");
        assert!(
            lines.contains("watch: running since 1970-01-01T00:16:40Z (pid 42)"),
            "{lines}"
        );
        assert!(
            lines.contains("watch: source ad: notified by the DC"),
            "{lines}"
        );
        assert!(
            lines.contains("gateway mx1: the last change acknowledged 1.5s"),
            "{lines}"
        );
        assert!(beacon.describe(2000)[0].starts_with("watch: not running: pid 42"));
        // What another account may have written: no panic, no escape sequence, not fresh.
        let forged = Beacon {
            started_at: u64::MAX,
            heartbeat_at: u64::MAX,
            feeds: [("\u{1b}]0;owned\u{7}".to_owned(), "x".to_owned())].into(),
            ..beacon.clone()
        };
        assert!(!forged.fresh(1010));
        let lines = forged.describe(1010).join("\n");
        assert!(lines.contains("seconds after 1970 (not a date)"), "{lines}");
        let running = Beacon {
            heartbeat_at: 1010,
            ..forged
        };
        let lines = running.describe(1010).join("\n");
        assert!(
            !lines.contains('\u{1b}') && lines.contains("source ?]0;owned?"),
            "{lines}"
        );
        atomic::write(&path, b"pid = \"not a number\"", 0o644).unwrap();
        let error = Beacon::read(&path).unwrap_err().to_string();
        assert!(error.contains("not a watch file"), "{error}");
    }
}
