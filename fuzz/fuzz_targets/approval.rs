//! `rcptsync::hold`: what root reads from files and peers it does not trust about held
//! changes: an approval as `apply` takes it from the spool account (`Approval::parse_signed`,
//! each one `split` finds), the same unsigned as the internal host reads it
//! (`Approval::parse`), and a held record as `approve` reads it from the rcptsync account's
//! directory (`Held::parse`).
//!
//! Invariants: no panic; an approval accepted by a key the input cannot know (a fixed seed)
//! is never one the input made up, so nothing here is accepted as signed; an approval that is
//! accepted unsigned reads back the same once written; a held record that is accepted lists
//! addresses whose digest is its ID.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rcptsync::hold::approval::{self, Approval};
use rcptsync::hold::held::Held;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz");
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[9; 32]));
    for one in approval::split(text) {
        assert!(Approval::parse_signed(one, path, &[key.public_key().clone()]).is_err());
        if let Ok(approval) = Approval::parse(one, path) {
            let again = Approval::parse(&approval.to_text().unwrap(), path).unwrap();
            assert_eq!(again, approval);
        }
    }
    if let Ok(held) = Held::parse(text, path) {
        let digest = held.removals.sha256().to_owned();
        assert_eq!(held.removals.id(), digest);
    }
});
