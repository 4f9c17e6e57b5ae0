//! The little BER that rcptsync reads itself: the value of the paged-results control
//! (RFC 2696, `SEQUENCE { INTEGER size, OCTET STRING cookie }`), from a live server or from
//! an ldapsearch export. ldap3's own parser panics on a malformed value; this one returns
//! None, so a hostile or broken server gets an error naming it, never a crash. And the SASL
//! bind of a Kerberos bind ([`bind_request`], [`bind_response`]), which rcptsync makes on its
//! own wire before ldap3 takes over the connection.

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

/// One TLV at the start of `bytes`: (tag, content, rest).
pub(crate) fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (tag, len, skip) = header(bytes)?;
    let end = skip.checked_add(len)?;
    Some((tag, bytes.get(skip..end)?, bytes.get(end..)?))
}

/// `tag`, a definite length, `content`.
pub(crate) fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let digits: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | digits.len() as u8);
        out.extend(digits);
    }
    out.extend_from_slice(content);
    out
}

/// A SASL GSSAPI BindRequest (RFC 4511 4.2) with message ID `id`; `credentials` None is the
/// empty response of the exchange (credentials absent).
pub fn bind_request(id: u8, credentials: Option<&[u8]>) -> Vec<u8> {
    let mut sasl = encode(0x04, b"GSSAPI");
    if let Some(credentials) = credentials {
        sasl.extend(encode(0x04, credentials));
    }
    let mut bind = encode(0x02, &[3]);
    bind.extend(encode(0x04, b""));
    bind.extend(encode(0xa3, &sasl));
    let mut message = encode(0x02, &[id]);
    message.extend(encode(0x60, &bind));
    encode(0x30, &message)
}

/// What a BindResponse says: the result code, the diagnostic message, serverSaslCreds.
pub type BindResponse<'a> = (u32, &'a [u8], Option<&'a [u8]>);

/// The parts of the BindResponse to message `id`; None when `message` is not that.
pub fn bind_response(message: &[u8], id: u8) -> Option<BindResponse<'_>> {
    let (_, message, _) = tlv(message).filter(|(tag, ..)| *tag == 0x30)?;
    let (_, _, rest) = tlv(message).filter(|(tag, content, _)| *tag == 0x02 && *content == [id])?;
    let (_, response, _) = tlv(rest).filter(|(tag, ..)| *tag == 0x61)?;
    let (_, code, rest) = tlv(response).filter(|(tag, ..)| *tag == 0x0a)?;
    if code.is_empty() || code.len() > 4 {
        return None;
    }
    let code = code.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b));
    let (_, _matched, rest) = tlv(rest).filter(|(tag, ..)| *tag == 0x04)?;
    let (_, text, mut rest) = tlv(rest).filter(|(tag, ..)| *tag == 0x04)?;
    while !rest.is_empty() {
        let (tag, content, more) = tlv(rest)?;
        if tag == 0x87 {
            return Some((code, text, Some(content)));
        }
        rest = more;
    }
    Some((code, text, None))
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

    #[test]
    fn bind_requests_are_encoded_and_responses_read() {
        // The empty response (message 3): version 3, empty name, SASL GSSAPI, no credentials.
        assert_eq!(
            bind_request(3, None),
            b"\x30\x14\x02\x01\x03\x60\x0f\x02\x01\x03\x04\x00\xa3\x08\x04\x06GSSAPI"
        );
        let long = vec![7u8; 300];
        let request = bind_request(1, Some(&long));
        // Long-form lengths: 300 bytes of credentials in 0x148 bytes of message.
        assert_eq!(&request[..4], b"\x30\x82\x01\x48");
        assert_eq!(request.len(), 4 + 0x148);
        assert_eq!(&request[7..11], b"\x60\x82\x01\x41");
        assert!(request.ends_with(&long));

        // saslBindInProgress with serverSaslCreds "tok".
        let answer = b"\x30\x11\x02\x01\x01\x61\x0c\x0a\x01\x0e\x04\x00\x04\x00\x87\x03tok";
        assert_eq!(
            bind_response(answer, 1),
            Some((14, &b""[..], Some(&b"tok"[..])))
        );
        // An answer to another request is not this one's.
        assert_eq!(bind_response(answer, 2), None);
        // success without creds, with a diagnostic text.
        let answer = b"\x30\x0e\x02\x01\x02\x61\x09\x0a\x01\x00\x04\x00\x04\x02ok";
        assert_eq!(bind_response(answer, 2), Some((0, &b"ok"[..], None)));
        for bad in [
            &b""[..],
            b"\x30\x03\x02\x01\x01",
            b"\x30\x0a\x02\x01\x01\x65\x05\x0a\x01\x00\x04\x00",
            b"\x30\x0b\x02\x01\x01\x61\x06\x0a\x01\x0e\x04\x00\x04\x05",
        ] {
            assert_eq!(bind_response(bad, 1), None, "{bad:?}");
        }
    }
}
