//! Held changes: when a removal guard trips, the removals wait for a person while additions
//! go on.
//!
//! Removals are what hurt (a truncated read makes the gateway refuse valid mail); additions
//! only accept more. So a tripped `max_removed` / `max_removed_percent` no longer stops the
//! run: the map takes every addition, keeps the addresses it would have removed, and the
//! removals are recorded beside the map as the *held change* ([`held`]): its ID is the digest
//! of that set of addresses, so a change that grows gets a new ID. `rcptsync approve ID`
//! writes an [`approval`] of exactly that set, signed with the approver's ed25519 key when
//! `[safety].approval_key` is set; the next run applies the approved removals the directory
//! still lacks, and `push` carries the approval to the gateways, whose `apply` lets a map
//! past its own removal guard only for removals inside a set that one of its
//! `[install].approval_keys` signed, unexpired, and only once per approval ([`honoured`]).
//!
//! Security: the held record and the approval are written into the rcptsync account's
//! directory; `approve` (root, the approver) reads the held record as hostile input (bounded,
//! without following links, every line checked) and signs only what it shows the admin. On
//! the gateway the approval arrives from the spool account: it is believed only through its
//! signature, and the set it names is checked against that signature before it counts.

pub mod approval;
pub mod held;
pub mod honoured;

use std::path::{Path, PathBuf};

use sha2::Digest as _;

/// The most a held record or an approval may be: two million addresses of 32 bytes. A mass
/// removal larger than that is not approved one by one (`--force` remains).
pub const MAX_BYTES: u64 = crate::map::payload::MAX_APPROVAL;

/// `[safety].approval_key` and `approval_valid`: how `approve` signs. Only `approve` opens
/// the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// The approver's private key; None: approvals are not signed (gateways with
    /// `[install].approval_keys` refuse them).
    pub key: Option<PathBuf>,
    /// How long an approval is valid.
    pub valid: std::time::Duration,
}

impl Approver {
    /// The approval key, when the account running this (not root) can read it: sync and
    /// watch never open it, but an account that could is one that could approve on its own.
    /// Asked with access(2), which opens nothing.
    pub fn readable_here(&self) -> Option<&Path> {
        let key = self.key.as_deref()?;
        let root = rustix::process::getuid().is_root();
        let readable = rustix::fs::access(key, rustix::fs::Access::READ_OK).is_ok();
        (!root && readable).then_some(key)
    }
}

/// Why a held record or an approval cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It could not be read.
    #[error("read {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// Its content is not what rcptsync writes.
    #[error("{}, line {line}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// It could not be written.
    #[error(transparent)]
    Write(#[from] crate::map::atomic::Error),
    /// An `[install].approval_keys` entry is not an ed25519 public key: why.
    #[error("{0}")]
    PublicKey(String),
    /// An approval's signature is missing or not valid for any listed key.
    #[error(transparent)]
    Unverified(#[from] approval::Refusal),
    /// The approval key could not be used.
    #[error("approval_key {}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong, and the fix.
        reason: String,
    },
}

/// A set of map keys, sorted and without duplicates, and its digest: what a held change and
/// an approval are made of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Removals {
    addresses: Vec<String>,
    sha256: String,
}

impl Removals {
    /// The set of `addresses` (in any order, duplicates dropped).
    pub fn new(mut addresses: Vec<String>) -> Self {
        addresses.sort_unstable();
        addresses.dedup();
        let sha256 = Self::digest(&addresses);
        Self { addresses, sha256 }
    }

    /// The digest of a sorted set: SHA-256 of its lines, each ending in a line end, which is
    /// also how the files list them (so `sha256sum` of that part of a file gives the same).
    fn digest(sorted: &[String]) -> String {
        let mut hasher = sha2::Sha256::new();
        for address in sorted {
            hasher.update(address.as_bytes());
            hasher.update(b"\n");
        }
        crate::map::digest::hex(&hasher.finalize())
    }

    /// The addresses, sorted.
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    /// Whether `address` is one of them.
    pub fn contains(&self, address: &str) -> bool {
        self.addresses
            .binary_search_by(|a| a.as_str().cmp(address))
            .is_ok()
    }

    /// Whether every one of them is also in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.addresses.iter().all(|a| other.contains(a))
    }

    /// SHA-256 of the set, lower-case hex: what a signature covers.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The change's ID, as `review` shows it and `approve` takes it: the whole digest, so
    /// that no other set can have it (the rcptsync account writes the held record, and must
    /// not be able to swap in another set with the ID the admin reviewed).
    pub fn id(&self) -> &str {
        &self.sha256
    }
}

/// The held record beside `map`.
pub fn held_path(map: &Path) -> PathBuf {
    crate::map::with_suffix(map, ".held")
}

/// The approval beside `map`.
pub fn approval_path(map: &Path) -> PathBuf {
    crate::map::with_suffix(map, ".approval")
}

/// Reads the address lines of a held record or an approval (after its header), checking that
/// each is one key (no blank, no space, at most 254 bytes, lower case as the map has them)
/// and that they are strictly sorted; `first` is the file line of the first one.
fn parse_addresses<'a>(
    lines: impl Iterator<Item = &'a str>,
    path: &Path,
    first: usize,
) -> Result<Removals, Error> {
    let mut addresses: Vec<String> = Vec::new();
    for (index, line) in lines.enumerate() {
        let bad = |reason: &str| Error::Format {
            path: path.to_owned(),
            line: first + index,
            reason: reason.to_owned(),
        };
        if line.is_empty() || line.len() > 254 || line.contains(char::is_whitespace) {
            return Err(bad("not one address"));
        }
        if line.chars().any(|c| invisible(c) || c.is_ascii_uppercase()) {
            return Err(bad("not an address as the map has it"));
        }
        if addresses.last().is_some_and(|last| last.as_str() >= line) {
            return Err(bad("out of order or listed twice"));
        }
        addresses.push(line.to_owned());
    }
    Ok(Removals::new(addresses))
}

/// Whether `c` would act on a terminal or hide text rather than show itself: a control
/// character, or a Unicode format character (bidirectional overrides and isolates,
/// zero-width characters, the byte-order mark), which a record shown to an admin must not
/// carry.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// `key: value` of a header line, checking the key.
fn field<'a>(
    line: Option<&'a str>,
    key: &str,
    path: &Path,
    number: usize,
) -> Result<&'a str, Error> {
    line.and_then(|l| l.strip_prefix(key))
        .and_then(|l| l.strip_prefix(": "))
        .ok_or_else(|| Error::Format {
            path: path.to_owned(),
            line: number,
            reason: format!("expected `{key}: ...`"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_names_the_set_whatever_its_order() {
        let a = Removals::new(vec!["b@x.example".into(), "a@x.example".into()]);
        let b = Removals::new(vec![
            "a@x.example".into(),
            "b@x.example".into(),
            "a@x.example".into(),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.id().len(), 64);
        // The digest is sha256sum of the lines.
        assert_eq!(
            a.sha256(),
            crate::map::digest::sha256_hex(b"a@x.example\nb@x.example\n")
        );
        let grown = Removals::new(vec![
            "a@x.example".into(),
            "b@x.example".into(),
            "c@x.example".into(),
        ]);
        assert_ne!(a.id(), grown.id());
        assert!(a.is_subset(&grown) && !grown.is_subset(&a));
    }

    #[test]
    fn address_lines_are_checked() {
        let path = Path::new("/x");
        let ok = parse_addresses(["a@x", "b@x"].into_iter(), path, 3).unwrap();
        assert_eq!(ok.len(), 2);
        for (lines, reason) in [
            (vec!["b@x", "a@x"], "line 4: out of order"),
            (vec!["a@x", "a@x"], "line 4: out of order"),
            (vec!["a @x"], "line 3: not one address"),
            (vec![""], "line 3: not one address"),
            (vec!["A@x"], "line 3: not an address"),
            (vec!["a\u{202e}b@x"], "line 3: not an address"),
        ] {
            let e = parse_addresses(lines.into_iter(), path, 3)
                .unwrap_err()
                .to_string();
            assert!(e.contains(reason), "{e}");
        }
    }
}
