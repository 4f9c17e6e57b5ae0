//! `PATH.pushed`: what each gateway last acknowledged and how the last push to it went, one
//! line per gateway: `NAME USER@HOST:PORT SHA256 ACKNOWLEDGED_AT ATTEMPTED_AT RESULT`
//! (times in seconds since the epoch, `-` for none; RESULT is `ok` or the error, to the end
//! of the line). The acknowledged digest changes only when a gateway answered OK with the
//! digest that was sent, so a gateway that was down (or moved to another host) gets the map
//! on the next run while the others are left alone. Gateways no longer in the config are
//! forgotten when the record is written, so `status` and the metrics never report them.
//! Records of older versions (`NAME DEST SHA256`) are read as acknowledged at an unknown time.

use std::collections::BTreeMap;
use std::path::Path;

use super::Gateway;
use crate::map::{atomic, nofollow};

/// The most a record may be: a line of a few hundred bytes per gateway.
const MAX_BYTES: u64 = 4 << 20;

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading it failed (a missing record is not an error: nothing was pushed yet).
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// Replacing it failed.
    #[error(transparent)]
    Write(#[from] atomic::Error),
}

/// What is known about one gateway's pushes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The digest of the map it last acknowledged.
    pub acknowledged: Option<String>,
    /// When it acknowledged it (seconds since the epoch).
    pub acknowledged_at: Option<u64>,
    /// When the last push to it was attempted.
    pub attempted_at: Option<u64>,
    /// How that push ended: `ok`, or the error.
    pub result: Option<String>,
}

impl Entry {
    /// Whether the last push attempt worked (a gateway only known from an old record counts
    /// as working: it acknowledged the map).
    pub fn succeeded(&self) -> bool {
        match &self.result {
            Some(result) => result == "ok",
            None => self.acknowledged.is_some(),
        }
    }
}

/// The entries per destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record(BTreeMap<String, Entry>);

/// The record's key for `gateway`: its name and where it is.
fn key(gateway: &Gateway) -> String {
    format!("{} {}", gateway.name, gateway.destination())
}

fn field(value: Option<&str>) -> Option<String> {
    value.filter(|v| *v != "-").map(str::to_owned)
}

impl Record {
    /// The record at `path`; empty when there is none yet. Opened as a file another account
    /// may have replaced ([`nofollow::read_small`]; `status` reads it as root): a link, a FIFO
    /// or an oversized file is an error naming it, never followed, waited on or read whole.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let Some(text) = nofollow::read_small(path, MAX_BYTES)? else {
            return Ok(Self::default());
        };
        let mut entries = BTreeMap::new();
        for line in text.lines() {
            let mut fields = line.splitn(6, ' ');
            let (Some(name), Some(destination), Some(digest)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let time = |f: Option<&str>| f.and_then(|t| t.parse().ok());
            let entry = Entry {
                acknowledged: field(Some(digest)),
                acknowledged_at: time(fields.next()),
                attempted_at: time(fields.next()),
                result: field(fields.next().map(str::trim)),
            };
            entries.insert(format!("{name} {destination}"), entry);
        }
        Ok(Self(entries))
    }

    /// What is known about `gateway` (None: never pushed to it where it is now).
    pub fn get(&self, gateway: &Gateway) -> Option<&Entry> {
        self.0.get(&key(gateway))
    }

    /// Whether `gateway` acknowledged the map with digest `sha256`.
    pub fn has(&self, gateway: &Gateway, sha256: &str) -> bool {
        self.get(gateway)
            .is_some_and(|e| e.acknowledged.as_deref() == Some(sha256))
    }

    /// Notes that `gateway` acknowledged `sha256` at `at`.
    pub fn acknowledge(&mut self, gateway: &Gateway, sha256: &str, at: u64) {
        let entry = self.0.entry(key(gateway)).or_default();
        entry.acknowledged = Some(sha256.to_owned());
        entry.acknowledged_at = Some(at);
        entry.attempted_at = Some(at);
        entry.result = Some("ok".to_owned());
    }

    /// Notes that the push to `gateway` at `at` failed with `reason`; what it acknowledged
    /// before stays.
    pub fn fail(&mut self, gateway: &Gateway, at: u64, reason: &str) {
        let entry = self.0.entry(key(gateway)).or_default();
        entry.attempted_at = Some(at);
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        entry.result = Some(reason);
    }

    /// Forgets every gateway that is not in `gateways` (removed from the config, or moved).
    pub fn retain(&mut self, gateways: &[Gateway]) {
        let keep: Vec<String> = gateways.iter().map(key).collect();
        self.0.retain(|k, _| keep.contains(k));
    }

    /// Saves the record atomically, and only when it changed (an unchanged run touches
    /// nothing).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text: String = self
            .0
            .iter()
            .map(|(destination, e)| {
                let time = |t: Option<u64>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
                format!(
                    "{destination} {} {} {} {}\n",
                    e.acknowledged.as_deref().unwrap_or("-"),
                    time(e.acknowledged_at),
                    time(e.attempted_at),
                    e.result.as_deref().unwrap_or("-")
                )
            })
            .collect();
        let current = nofollow::read_small(path, MAX_BYTES).ok().flatten();
        if current.as_deref() != Some(text.as_str()) {
            atomic::write(path, text.as_bytes(), 0o644)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(host: &str) -> Gateway {
        Gateway {
            name: "mx1".into(),
            host: host.into(),
            port: 22,
            user: "postrelay".into(),
            identity_file: None,
            known_hosts: None,
            timeout: std::time::Duration::from_secs(600),
            confirm_every: std::time::Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_moved_gateway_is_another_destination() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.pushed");
        let mut record = Record::read(&path).unwrap();
        record.acknowledge(&gateway("a.example"), "d1", 100);
        record.write(&path).unwrap();
        assert_eq!(
            fs_err::read_to_string(&path).unwrap(),
            "mx1 postrelay@a.example:22 d1 100 100 ok\n"
        );
        let record = Record::read(&path).unwrap();
        assert!(record.has(&gateway("a.example"), "d1"));
        assert!(!record.has(&gateway("a.example"), "d2"));
        assert!(!record.has(&gateway("b.example"), "d1"));
    }

    #[test]
    fn failures_keep_the_acknowledged_map_and_removed_gateways_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.pushed");
        // A record as older versions wrote it.
        fs_err::write(
            &path,
            "mx1 postrelay@a.example:22 d1\nold postrelay@gone:22 d0\n",
        )
        .unwrap();
        let mut record = Record::read(&path).unwrap();
        let a = gateway("a.example");
        assert!(record.has(&a, "d1") && record.get(&a).unwrap().succeeded());
        record.fail(&a, 200, "no answer\nwithin 10m");
        record.retain(std::slice::from_ref(&a));
        record.write(&path).unwrap();
        assert_eq!(
            fs_err::read_to_string(&path).unwrap(),
            "mx1 postrelay@a.example:22 d1 - 200 no answer within 10m\n"
        );
        let record = Record::read(&path).unwrap();
        let entry = record.get(&a).unwrap();
        assert!(record.has(&a, "d1") && !entry.succeeded());
        assert_eq!(entry.result.as_deref(), Some("no answer within 10m"));
        assert_eq!(
            (entry.acknowledged_at, entry.attempted_at),
            (None, Some(200))
        );
    }
}
