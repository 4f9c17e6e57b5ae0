//! One object as the store keeps it: the attributes the recipient rules read, in a compact
//! binary form (a million of them are written on every full read, so JSON's cost would
//! show), read back without trusting it: a damaged record is an error, never a panic.
//!
//! Layout: a format byte, a flags byte (bit 0: requires authenticated senders), then the DN,
//! the `proxyAddresses` and the `mail` values, each string as a 4-byte little-endian length
//! and its UTF-8 bytes, each list preceded by its 4-byte count. `proxyAddresses` of other
//! types (X500, SIP, ...: the rules only count them) are not kept: they are half a mailbox's
//! bytes.

use crate::rules::Entry;

/// The format byte of the records this version writes.
const FORMAT: u8 = 1;

/// Whether the rules read a `proxyAddresses` value: `smtp:` ones, and those without a type
/// (which they reject, and report).
fn kept(value: &str) -> bool {
    value
        .split_once(':')
        .is_none_or(|(kind, _)| kind.eq_ignore_ascii_case("smtp"))
}

/// `entry` as stored.
pub fn encode(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(&mut out, entry);
    out
}

/// `entry` as stored, appended to `out` (a full read packs many records into one buffer).
pub fn encode_into(out: &mut Vec<u8>, entry: &Entry) {
    out.push(FORMAT);
    out.push(u8::from(entry.require_auth));
    string(out, &entry.dn);
    let count = entry.proxy_addresses.iter().filter(|v| kept(v)).count();
    out.extend_from_slice(&(count as u32).to_le_bytes());
    for value in entry.proxy_addresses.iter().filter(|v| kept(v)) {
        string(out, value);
    }
    out.extend_from_slice(&(entry.mail.len() as u32).to_le_bytes());
    for value in &entry.mail {
        string(out, value);
    }
}

fn string(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// The entry a record holds; None when it is not a record of this format.
pub fn decode(bytes: &[u8]) -> Option<Entry> {
    let mut reader = Reader(bytes);
    if reader.take(1)? != [FORMAT] {
        return None;
    }
    let require_auth = match reader.take(1)? {
        [0] => false,
        [1] => true,
        _ => return None,
    };
    let dn = reader.string()?;
    let proxy_addresses = reader.list()?;
    let mail = reader.list()?;
    reader.0.is_empty().then_some(Entry {
        dn,
        proxy_addresses,
        mail,
        require_auth,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn len(&mut self) -> Option<usize> {
        let bytes = self.take(4)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
    }

    fn string(&mut self) -> Option<String> {
        let len = self.len()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn list(&mut self) -> Option<Vec<String>> {
        let count = self.len()?;
        // Each value takes at least its 4-byte length: a count beyond that is a lie, and
        // must not reserve memory.
        if count > self.0.len() / 4 {
            return None;
        }
        (0..count).map(|_| self.string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let entry = Entry {
            dn: "CN=Ann,OU=Staff,DC=example,DC=com".into(),
            proxy_addresses: vec!["SMTP:ann@example.com".into(), "X500:/o=x".into()],
            mail: vec!["ann@example.com".into()],
            require_auth: true,
        };
        let bytes = encode(&entry);
        // Values of other types are not kept.
        let kept_only = Entry {
            proxy_addresses: vec!["SMTP:ann@example.com".into()],
            ..entry.clone()
        };
        assert_eq!(decode(&bytes), Some(kept_only));
        assert_eq!(decode(&encode(&Entry::default())), Some(Entry::default()));
        // Every truncation, a trailing byte, another format, a huge count: refused.
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        let mut other = bytes.clone();
        other[0] = 2;
        assert_eq!(decode(&other), None);
        let mut huge = vec![FORMAT, 0, 0, 0, 0, 0];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge), None);
    }
}
