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

/// The approval a map came with, as apply may use it.
#[derive(Debug)]
pub enum Carried {
    /// None came with it.
    None,
    /// A valid one: signed by a listed key (its fingerprint), unexpired, not honoured before.
    Usable {
        /// The approval.
        approval: Box<Approval>,
        /// The fingerprint of the key that signed it.
        signer: String,
    },
    /// One came, but it cannot be used: why.
    Unusable(String),
}

/// The record of honoured approvals beside the live map `map`.
pub fn honoured_path(map: &Path) -> PathBuf {
    crate::map::with_suffix(map, ".approvals")
}

/// Checks `bytes` (the approval after the map, if any) against `keys`, the record at
/// `honoured` and the time `now` (seconds since the epoch).
pub fn check(
    keys: &[ssh_key::PublicKey],
    bytes: Option<&[u8]>,
    honoured: &Path,
    now: u64,
) -> Carried {
    let Some(bytes) = bytes else {
        return Carried::None;
    };
    if keys.is_empty() {
        return Carried::Unusable(
            "this gateway lists no [install].approval_keys, so it honours no approval".into(),
        );
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Carried::Unusable("it is not text".into());
    };
    // The signature first: a forged approval costs its header, not its addresses.
    let (approval, signer) =
        match Approval::parse_signed(text, Path::new("the approval in the payload"), keys) {
            Ok(parsed) => parsed,
            Err(e) => return Carried::Unusable(e.to_string()),
        };
    if approval.expired(now) {
        return Carried::Unusable(format!(
            "it expired at {} (approve the change again)",
            approval.not_after_text()
        ));
    }
    match Honoured::read(honoured) {
        Ok(record) if record.contains(&approval.nonce) => Carried::Unusable(format!(
            "it was honoured here before (nonce {}); an approval lets a change through once",
            approval.nonce
        )),
        Ok(_) => Carried::Usable {
            approval: Box::new(approval),
            signer,
        },
        Err(e) => Carried::Unusable(format!("the record of honoured approvals: {e}")),
    }
}

/// Records that `approval` is honoured now, before the map that uses it goes live.
pub fn honour(approval: &Approval, honoured: &Path, now: u64) -> Result<(), crate::hold::Error> {
    Honoured::read(honoured)?.record(honoured, &approval.nonce, approval.not_after, now)
}
