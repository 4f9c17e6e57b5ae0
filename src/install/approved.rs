//! What `apply` makes of the approval a payload carried ([`crate::hold::approval`]): usable
//! only when this gateway lists `[install].approval_keys`, one of them signed it, it has not
//! expired, and this gateway has not honoured it before ([`crate::hold::honoured`]). Which
//! removals it then lets through is apply's guard's business: only those it names.
//!
//! Security: the bytes come from the spool account. They are parsed strictly and believed
//! only through the signature; the record of honoured approvals is root's, beside the live
//! map, and written before the map that uses an approval is installed, so that an approval
//! is never honoured twice even when the install fails half-way.

use std::path::{Path, PathBuf};

use crate::hold::approval::Approval;
use crate::hold::honoured::Honoured;

/// The approvals a map came with, as apply may use them.
#[derive(Debug, Default)]
pub struct Carried {
    /// The valid ones: signed by a listed key, unexpired, not honoured before.
    pub usable: Vec<Usable>,
    /// Why each of the others cannot be used.
    pub unusable: Vec<String>,
}

impl Carried {
    /// The usable approvals that name at least one removal (`hits`: one for each usable
    /// approval, in order, as the build pass counted them).
    pub fn naming<'a>(&'a self, hits: &'a [bool]) -> impl Iterator<Item = &'a Usable> {
        self.usable
            .iter()
            .zip(hits)
            .filter(|(_, hit)| **hit)
            .map(|(usable, _)| usable)
    }
}

/// An approval apply may use.
#[derive(Debug)]
pub struct Usable {
    /// The approval.
    pub approval: Approval,
    /// The fingerprint of the key that signed it.
    pub signer: String,
}

/// The record of honoured approvals beside the live map `map`.
pub fn honoured_path(map: &Path) -> PathBuf {
    crate::map::with_suffix(map, ".approvals")
}

/// Checks `bytes` (the approvals after the map, if any) against `keys`, the record at
/// `honoured` and the time `now` (seconds since the epoch).
pub fn check(
    keys: &[ssh_key::PublicKey],
    bytes: Option<&[u8]>,
    honoured: &Path,
    now: u64,
) -> Carried {
    let mut carried = Carried::default();
    let Some(bytes) = bytes else {
        return carried;
    };
    if keys.is_empty() {
        carried.unusable.push(
            "this gateway lists no [install].approval_keys, so it honours no approval".into(),
        );
        return carried;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        carried.unusable.push("the approvals are not text".into());
        return carried;
    };
    let record = match Honoured::read(honoured) {
        Ok(record) => record,
        Err(e) => {
            carried
                .unusable
                .push(format!("the record of honoured approvals: {e}"));
            return carried;
        }
    };
    let shown = Path::new("the approval in the payload");
    for text in crate::hold::approval::split(text).take(crate::hold::approval::MAX_KEPT) {
        // The signature first: a forged approval costs its header, not its addresses.
        let (approval, signer) = match Approval::parse_signed(text, shown, keys) {
            Ok(parsed) => parsed,
            Err(e) => {
                carried.unusable.push(e.to_string());
                continue;
            }
        };
        if approval.expired(now) {
            carried.unusable.push(format!(
                "change {} expired at {} (approve it again)",
                approval.id(),
                approval.not_after_text()
            ));
        } else if record.contains(&approval.nonce) {
            carried.unusable.push(format!(
                "change {} was honoured here before (nonce {}); an approval lets a change \
                 through once",
                approval.id(),
                approval.nonce
            ));
        } else {
            carried.usable.push(Usable { approval, signer });
        }
    }
    carried
}

/// Records that `approvals` are honoured now, before the map that uses them goes live.
pub fn honour(
    approvals: &[&Approval],
    honoured: &Path,
    now: u64,
) -> Result<(), crate::hold::Error> {
    let mut record = Honoured::read(honoured)?;
    for approval in approvals {
        record.add(&approval.nonce, approval.not_after);
    }
    record.write(honoured, now)
}
