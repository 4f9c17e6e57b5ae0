//! `rcptsync::source::ber::paged_cookie` on arbitrary bytes: the paged-results control value
//! a directory server (or an ldapsearch export) sends, read by rcptsync's own BER reader
//! because ldap3's panics on malformed input.
//!
//! Invariants: no panic; a cookie is a slice of the input; the value built from any cookie
//! (`SEQUENCE { INTEGER size, OCTET STRING cookie }`) reads back as that cookie.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rcptsync::source::ber::paged_cookie;

/// BER tag, definite length (short or long form), content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().position(|&b| b != 0).unwrap_or(3);
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fuzz_target!(|data: &[u8]| {
    if let Some(cookie) = paged_cookie(data) {
        assert!(cookie.len() <= data.len());
        let range = data.as_ptr_range();
        assert!(range.contains(&cookie.as_ptr()) || cookie.is_empty());
    }
    let mut value = tlv(0x02, &[0x03, 0xe8]);
    value.extend(tlv(0x04, data));
    let encoded = tlv(0x30, &value);
    assert_eq!(paged_cookie(&encoded), Some(data));
});
