//! The BER of the LDAP Content Synchronization operation (RFC 4533): the request control
//! rcptsync sends, and the controls and intermediate messages the provider answers with.
//! ldap3 has parsers for these, but they panic on malformed input; these return None, so a
//! broken or hostile server gets an error naming it.

use crate::source::ber::{encode, tlv};

/// The Sync Request control.
pub const REQUEST: &str = "1.3.6.1.4.1.4203.1.9.1.1";
/// The Sync State control, on each entry.
pub const STATE: &str = "1.3.6.1.4.1.4203.1.9.1.2";
/// The Sync Done control, on the search's result.
pub const DONE: &str = "1.3.6.1.4.1.4203.1.9.1.3";
/// The Sync Info intermediate message.
pub const INFO: &str = "1.3.6.1.4.1.4203.1.9.1.4";

/// The value of a Sync Request control, starting from `cookie` (None: from the beginning):
/// refreshOnly, or with `persist` refreshAndPersist (the search then stays open and sends each
/// change as it is made, which is how `watch` learns of them).
pub fn request(cookie: Option<&[u8]>, persist: bool) -> Vec<u8> {
    // mode ENUMERATED { refreshOnly (1), refreshAndPersist (3) }; reloadHint stays FALSE (its
    // default).
    let mut content = encode(0x0a, &[if persist { 3 } else { 1 }]);
    if let Some(cookie) = cookie {
        content.extend(encode(0x04, cookie));
    }
    encode(0x30, &content)
}

/// What an entry's Sync State control says happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Unchanged, and still there (present phase).
    Present,
    /// Added.
    Add,
    /// Changed.
    Modify,
    /// Deleted.
    Delete,
}

/// An entry's Sync State control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    /// What happened.
    pub state: State,
    /// The entry's entryUUID, as text.
    pub uuid: String,
}

/// A Sync Info message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Info {
    /// A new cookie.
    NewCookie(Vec<u8>),
    /// The end of a phase: `present` for the present phase, else the delete phase.
    PhaseEnd {
        /// Which phase ended.
        present: bool,
        /// The cookie, if sent.
        cookie: Option<Vec<u8>>,
    },
    /// A set of entries: deleted (`deletes`) or present.
    IdSet {
        /// The cookie, if sent.
        cookie: Option<Vec<u8>>,
        /// The entries were deleted (else they are present).
        deletes: bool,
        /// Their entryUUIDs.
        uuids: Vec<String>,
    },
}

/// The Sync Done control: the cookie to go on from, and whether the refresh said what was
/// deleted (else: what was present, and every entry not named is gone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Done {
    /// The cookie, if sent.
    pub cookie: Option<Vec<u8>>,
    /// `refreshDeletes`.
    pub deletes: bool,
}

/// An entryUUID (16 bytes) as OpenLDAP writes it: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn uuid_text(bytes: &[u8]) -> Option<String> {
    let bytes: &[u8; 16] = bytes.try_into().ok()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// The content of a SEQUENCE `bytes` must be exactly.
fn sequence(bytes: &[u8], tag: u8) -> Option<&[u8]> {
    let (got, content, rest) = tlv(bytes)?;
    (got == tag && rest.is_empty()).then_some(content)
}

/// A BOOLEAN's value.
fn boolean(content: &[u8]) -> Option<bool> {
    match content {
        [b] => Some(*b != 0),
        _ => None,
    }
}

/// Reads a Sync State control's value.
pub fn state(value: &[u8]) -> Option<SyncState> {
    let content = sequence(value, 0x30)?;
    let (tag, state, rest) = tlv(content)?;
    let state = match (tag, state) {
        (0x0a, [0]) => State::Present,
        (0x0a, [1]) => State::Add,
        (0x0a, [2]) => State::Modify,
        (0x0a, [3]) => State::Delete,
        _ => return None,
    };
    let (tag, uuid, rest) = tlv(rest)?;
    if tag != 0x04 {
        return None;
    }
    // An optional cookie follows; rcptsync takes the cookie of the end of the refresh.
    if !rest.is_empty() {
        let (tag, _, rest) = tlv(rest)?;
        if tag != 0x04 || !rest.is_empty() {
            return None;
        }
    }
    Some(SyncState {
        state,
        uuid: uuid_text(uuid)?,
    })
}

/// The optional cookie and optional BOOLEAN of a syncDone or a phase end.
fn cookie_and_flag(mut content: &[u8]) -> Option<(Option<Vec<u8>>, Option<bool>)> {
    let mut cookie = None;
    let mut flag = None;
    if let Some((0x04, value, rest)) = tlv(content) {
        cookie = Some(value.to_vec());
        content = rest;
    }
    if let Some((0x01, value, rest)) = tlv(content) {
        flag = Some(boolean(value)?);
        content = rest;
    }
    content.is_empty().then_some((cookie, flag))
}

/// Reads a Sync Done control's value.
pub fn done(value: &[u8]) -> Option<Done> {
    let (cookie, deletes) = cookie_and_flag(sequence(value, 0x30)?)?;
    Some(Done {
        cookie,
        deletes: deletes.unwrap_or(false),
    })
}

/// Reads a Sync Info message's value.
pub fn info(value: &[u8]) -> Option<Info> {
    let (tag, content, rest) = tlv(value)?;
    if !rest.is_empty() {
        return None;
    }
    match tag {
        0x80 => Some(Info::NewCookie(content.to_vec())),
        0xa1 | 0xa2 => {
            let (cookie, _done) = cookie_and_flag(content)?;
            Some(Info::PhaseEnd {
                present: tag == 0xa2,
                cookie,
            })
        }
        0xa3 => {
            let mut content = content;
            let mut cookie = None;
            let mut deletes = false;
            if let Some((0x04, value, rest)) = tlv(content) {
                cookie = Some(value.to_vec());
                content = rest;
            }
            if let Some((0x01, value, rest)) = tlv(content) {
                deletes = boolean(value)?;
                content = rest;
            }
            let mut set = sequence(content, 0x31)?;
            let mut uuids = Vec::new();
            while !set.is_empty() {
                let (tag, uuid, rest) = tlv(set)?;
                if tag != 0x04 {
                    return None;
                }
                uuids.push(uuid_text(uuid)?);
                set = rest;
            }
            Some(Info::IdSet {
                cookie,
                deletes,
                uuids,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
        0xef,
    ];
    const UUID_TEXT: &str = "12345678-9abc-def0-0123-456789abcdef";

    #[test]
    fn requests_are_encoded() {
        assert_eq!(request(None, false), [0x30, 3, 0x0a, 1, 1]);
        assert_eq!(request(None, true), [0x30, 3, 0x0a, 1, 3]);
        assert_eq!(
            request(Some(b"rid=000,csn=x"), false),
            [
                &[0x30, 18, 0x0a, 1, 1, 0x04, 13][..],
                b"rid=000,csn=x".as_slice()
            ]
            .concat()
        );
    }

    #[test]
    fn states_are_read_and_malformed_ones_refused() {
        let mut value = vec![0x30, 21, 0x0a, 1, 2, 0x04, 16];
        value.extend(UUID);
        let got = state(&value).unwrap();
        assert_eq!(got.state, State::Modify);
        assert_eq!(got.uuid, UUID_TEXT);
        let mut with_cookie = value.clone();
        with_cookie[1] += 4;
        with_cookie.extend([0x04, 2, b'c', b'k']);
        assert_eq!(state(&with_cookie).unwrap().uuid, UUID_TEXT);
        for cut in 0..value.len() {
            assert_eq!(state(&value[..cut]), None, "cut at {cut}");
        }
        let mut bad_state = value.clone();
        bad_state[4] = 9;
        assert_eq!(state(&bad_state), None);
        let mut short_uuid = vec![0x30, 20, 0x0a, 1, 2, 0x04, 15];
        short_uuid.extend(&UUID[..15]);
        assert_eq!(state(&short_uuid), None);
    }

    #[test]
    fn done_and_info_are_read_and_malformed_ones_refused() {
        assert_eq!(done(&[0x30, 0]), Some(Done::default()));
        assert_eq!(
            done(&[0x30, 6, 0x04, 1, b'c', 0x01, 1, 0xff]),
            Some(Done {
                cookie: Some(b"c".to_vec()),
                deletes: true
            })
        );
        assert_eq!(done(&[0x30, 3, 0x01, 2, 0xff]), None);
        assert_eq!(
            info(&[0x80, 2, b'c', b'k']),
            Some(Info::NewCookie(b"ck".to_vec()))
        );
        assert_eq!(
            info(&[0xa2, 3, 0x04, 1, b'c']),
            Some(Info::PhaseEnd {
                present: true,
                cookie: Some(b"c".to_vec())
            })
        );
        let mut set = vec![0xa3, 23, 0x01, 1, 0xff, 0x31, 18, 0x04, 16];
        set.extend(UUID);
        assert_eq!(
            info(&set),
            Some(Info::IdSet {
                cookie: None,
                deletes: true,
                uuids: vec![UUID_TEXT.into()]
            })
        );
        for cut in 1..set.len() {
            assert_eq!(info(&set[..cut]), None, "cut at {cut}");
        }
        assert_eq!(info(&[0x85, 0]), None);
        assert_eq!(info(&[]), None);
    }
}
