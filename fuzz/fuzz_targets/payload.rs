//! `rcptsync::map::payload`: `Header::read` then `Header::copy_body` on arbitrary bytes (what
//! `receive` reads from the pushing side), and a round trip of a payload made from the input.
//!
//! Invariants: no panic; a payload that is accepted had exactly `length` body bytes, whose
//! SHA-256 and entry count are the announced ones, then exactly the announced parts (the
//! relay domains of version 3, the approval of versions 2 and 3), then nothing; a payload
//! written by `Header::new` for any body is accepted, with the same header and body.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use rcptsync::map::payload::{Header, Parts, count_entries};
use sha2::Digest as _;

/// The body limit `receive` is given here: larger than any input libFuzzer makes by default.
const LIMIT: u64 = 1 << 20;

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a whole payload as `apply` does; the header, body and the parts after it (relay
/// domains, then approval) when it is accepted.
fn receive(bytes: &[u8]) -> Option<(Header, Vec<u8>, Vec<u8>)> {
    let mut input = bytes;
    let header = Header::read(&mut input).ok()?;
    let version = header.text.lines().next().unwrap_or_default().to_owned();
    match version.as_str() {
        "rcptsync-map 1" => assert!(header.domains.is_none() && header.approval.is_none()),
        "rcptsync-map 2" => assert!(header.domains.is_none() && header.approval.is_some()),
        "rcptsync-map 3" => assert!(header.domains.is_some()),
        other => panic!("accepted an unknown version {other:?}"),
    }
    let (mut body, mut parts) = (Vec::new(), Parts::default());
    header
        .copy_body(&mut input, LIMIT, &mut body, Some(&mut parts))
        .ok()?;
    assert!(input.is_empty(), "input left after an accepted body");
    let domains = parts.domains.unwrap_or_default();
    let approval = parts.approval.unwrap_or_default();
    assert_eq!(domains.len() as u64, header.domains.unwrap_or(0));
    assert_eq!(approval.len() as u64, header.approval.unwrap_or(0));
    Some((header, body, [domains, approval].concat()))
}

fuzz_target!(|data: &[u8]| {
    // 1. Arbitrary bytes as a payload.
    if let Some((header, body, after)) = receive(data) {
        assert_eq!(body.len() as u64, header.length);
        assert_eq!(sha256_hex(&body), header.sha256);
        assert_eq!(count_entries(&body), header.count);
        let end = data.len() - after.len();
        assert_eq!(&data[end - body.len()..end], &body[..]);
        assert_eq!(&data[end..], &after[..]);
    }

    // 2. The input as a source name and a body, sent the way `push` sends it.
    let (source, body) = match data.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n % 64).min(rest.len())),
        None => (&[][..], &[][..]),
    };
    let source = String::from_utf8_lossy(source);
    let seconds = body
        .iter()
        .take(4)
        .fold(0u64, |t, &b| t << 8 | u64::from(b));
    let header = Header::new(
        body.len() as u64,
        count_entries(body),
        &sha256_hex(body),
        &source,
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
    );
    let sent = [header.text.as_bytes(), b"\n", body].concat();
    let Some((received, got, after)) = receive(&sent) else {
        panic!("a payload made by Header::new was refused: {sent:?}");
    };
    assert_eq!(received, header);
    assert_eq!(got, body);
    assert!(after.is_empty());
});
