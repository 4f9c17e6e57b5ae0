//! The little BER that rcptsync reads itself: the value of the paged-results control
//! (RFC 2696, `SEQUENCE { INTEGER size, OCTET STRING cookie }`), from a live server or from
//! an ldapsearch export. ldap3's own parser panics on a malformed value; this one returns
//! None, so a hostile or broken server gets an error naming it, never a crash.

/// Reads one tag-length header: (tag, content length, header length).
fn header(bytes: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some((tag, usize::from(first), 2));
    }
    let count = usize::from(first & 0x7f);
    // Indefinite lengths (0x80) and lengths beyond 4 bytes have no place in a control.
    if count == 0 || count > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..count {
        len = len.checked_mul(256)? + usize::from(*bytes.get(2 + i)?);
    }
    Some((tag, len, 2 + count))
}

/// The cookie of a paged-results control value; None when the value is not of that shape
/// (or claims more bytes than it has).
pub fn paged_cookie(ber: &[u8]) -> Option<&[u8]> {
    let (tag, len, skip) = header(ber)?;
    let sequence = ber
        .get(skip..skip.checked_add(len)?)
        .filter(|_| tag == 0x30)?;
    let (tag, len, skip) = header(sequence)?;
    let rest = sequence
        .get(skip.checked_add(len)?..)
        .filter(|_| tag == 0x02 && len > 0)?;
    let (tag, len, skip) = header(rest)?;
    rest.get(skip..skip.checked_add(len)?)
        .filter(|_| tag == 0x04)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_and_malformed_values_refused() {
        // size 0, empty cookie (the last page).
        assert_eq!(
            paged_cookie(&[0x30, 0x05, 0x02, 0x01, 0x00, 0x04, 0x00]),
            Some(&[][..])
        );
        // size 1000, cookie "ab".
        assert_eq!(
            paged_cookie(&[0x30, 0x08, 0x02, 0x02, 0x03, 0xe8, 0x04, 0x02, b'a', b'b']),
            Some(&b"ab"[..])
        );
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x02, 0x01, 0x00, 0x04],
            &[0x31, 0x05, 0x02, 0x01, 0x00, 0x04, 0x00],
            &[0x30, 0x05, 0x04, 0x01, 0x00, 0x04, 0x00],
            &[0x30, 0x05, 0x02, 0x01, 0x00, 0x04, 0x09],
            &[0x30, 0x80, 0x02, 0x01, 0x00, 0x04, 0x00],
            &[0x30, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            &[0x30, 0x03, 0x02, 0x01, 0x00, 0x04, 0x00],
        ] {
            assert_eq!(paged_cookie(bad), None, "{bad:?}");
        }
    }
}
