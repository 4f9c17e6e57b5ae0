//! `PATH.pushed`: which map each gateway last acknowledged, one line per gateway
//! (`name user@host:port sha256`). It is updated only for gateways that answered OK with the
//! digest that was sent, so a gateway that was down (or moved to another host) gets the map
//! on the next run while the others are left alone.

use std::collections::BTreeMap;
use std::path::Path;

use super::Gateway;
use crate::map::atomic;

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

/// The acknowledged digest per destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record(BTreeMap<String, String>);

/// The record's key for `gateway`: its name and where it is.
fn key(gateway: &Gateway) -> String {
    format!("{} {}", gateway.name, gateway.destination())
}

impl Record {
    /// The record at `path`; empty when there is none yet.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e.into()),
        };
        Ok(Self(
            text.lines()
                .filter_map(|l| l.rsplit_once(' '))
                .map(|(destination, digest)| (destination.to_owned(), digest.trim().to_owned()))
                .collect(),
        ))
    }

    /// Whether `gateway` acknowledged the map with digest `sha256`.
    pub fn has(&self, gateway: &Gateway, sha256: &str) -> bool {
        self.0.get(&key(gateway)).is_some_and(|d| d == sha256)
    }

    /// Notes that `gateway` acknowledged `sha256`.
    pub fn acknowledge(&mut self, gateway: &Gateway, sha256: &str) {
        self.0.insert(key(gateway), sha256.to_owned());
    }

    /// Saves the record atomically, and only when it changed (an unchanged run touches
    /// nothing).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text: String = self.0.iter().map(|(n, d)| format!("{n} {d}\n")).collect();
        if fs_err::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
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
        }
    }

    #[test]
    fn a_moved_gateway_is_another_destination() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.pushed");
        let mut record = Record::read(&path).unwrap();
        record.acknowledge(&gateway("a.example"), "d1");
        record.write(&path).unwrap();
        assert_eq!(
            fs_err::read_to_string(&path).unwrap(),
            "mx1 postrelay@a.example:22 d1\n"
        );
        let record = Record::read(&path).unwrap();
        assert!(record.has(&gateway("a.example"), "d1"));
        assert!(!record.has(&gateway("a.example"), "d2"));
        assert!(!record.has(&gateway("b.example"), "d1"));
    }
}
