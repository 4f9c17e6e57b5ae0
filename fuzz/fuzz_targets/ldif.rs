//! `rcptsync::source::ldif::Reader` over arbitrary bytes (an LDIF export is outside input).
//!
//! Invariants: no panic; the reader ends (at most one entry per line of input); every entry it
//! returns survives a round trip through `ldif::line` and the reader unchanged.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rcptsync::rules::Entry;
use rcptsync::source::ldif::{self, Reader};

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut entries = 0;
    // Callers stop at the first error (a partial read must never reach the map), so do we.
    for entry in Reader::new(data, Path::new("fuzz.ldif")) {
        let Ok(entry) = entry else { break };
        entries += 1;
        assert!(
            entries <= lines,
            "more entries than lines: the reader does not end"
        );
        round_trip(&entry);
    }
});

/// Writes `entry` as LDIF with the crate's own encoder and reads it back.
fn round_trip(entry: &Entry) {
    let mut text = ldif::line("dn", &entry.dn);
    for value in &entry.proxy_addresses {
        text.push_str(&ldif::line("proxyAddresses", value));
    }
    for value in &entry.mail {
        text.push_str(&ldif::line("mail", value));
    }
    if entry.require_auth {
        text.push_str(&ldif::line("msExchRequireAuthToSendTo", "TRUE"));
    }
    let again: Vec<Entry> = match Reader::new(text.as_bytes(), Path::new("again.ldif")).collect() {
        Ok(again) => again,
        Err(e) => panic!("re-reading {text:?} failed: {e}"),
    };
    assert_eq!(again, std::slice::from_ref(entry), "round trip of {text:?}");
}
