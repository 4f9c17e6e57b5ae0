//! The confirmation `sync` and `watch` send a gateway that has the current map, instead of
//! the map again ([`Confirmation`]); `receive` takes it through the same forced command and
//! keeps it in the spool, and `apply` counts the map's freshness from it
//! (`install::stale`). And the request of `check --connect` ([`CHECK`]), which `receive`
//! answers without writing anything.

use std::io::{BufRead, Read};

use super::payload::{Error, MAX_HEADER_LINE};

/// The first line of a confirmation: not a map, but the pushing side's word that the map
/// with the digest it names is still what the directory makes ([`Confirmation`]).
pub const CONFIRM_MAGIC: &str = "rcptsync-confirm 1";

/// The whole input of `check --connect`: a request that proves the ssh session reaches the
/// gateway's `receive` and its spool, carrying nothing to keep.
pub const CHECK: &str = "rcptsync-check 1";

/// Whether `first` (the input's first line) is the request of `check --connect`.
pub fn is_check(first: &[u8]) -> bool {
    first.strip_suffix(b"\n").unwrap_or(first) == CHECK.as_bytes()
}

/// Whether `start` (the first bytes of the input) is a confirmation rather than a map.
pub fn is_confirmation(start: &[u8]) -> bool {
    start.starts_with(b"rcptsync-confirm ")
}

/// A confirmation: `sync` or `watch` read the directory, and the map with digest `sha256` is
/// still what it makes, as of `time`. It is sent to a gateway that has acknowledged no map
/// for a while (`[[gateway]].confirm_every`), so that the gateway can tell a quiet directory
/// from an internal host that stopped (`[install].stale_after`).
///
/// ```text
/// rcptsync-confirm 1
/// sha256: 5f2b...e9
/// time: 2026-11-25T06:00:00Z
///
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The text as sent, up to and including the blank line.
    pub text: String,
    /// The digest of the map body it vouches for.
    pub sha256: String,
    /// When the directory was read (seconds since the epoch).
    pub time: u64,
}

impl Confirmation {
    /// The confirmation of the map body with digest `sha256`, as of `time`.
    pub fn new(sha256: &str, time: std::time::SystemTime) -> Self {
        let seconds = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let text = format!(
            "{CONFIRM_MAGIC}\nsha256: {sha256}\ntime: {}\n\n",
            humantime::format_rfc3339_seconds(time)
        );
        Self {
            text,
            sha256: sha256.to_owned(),
            time: seconds,
        }
    }

    /// Reads a confirmation from `input` and checks that nothing follows it: at most four
    /// lines of [`MAX_HEADER_LINE`] bytes are read.
    pub fn read(input: &mut impl BufRead) -> Result<Self, Error> {
        let mut text = Vec::new();
        for _ in 0..4 {
            let before = text.len();
            input
                .by_ref()
                .take(MAX_HEADER_LINE as u64 + 1)
                .read_until(b'\n', &mut text)?;
            if text.last() != Some(&b'\n') || text.len() - before > MAX_HEADER_LINE {
                return Err(Error::Header(
                    "the confirmation ended early or has a line too long".into(),
                ));
            }
            if text.len() - before == 1 {
                break;
            }
        }
        if input.read(&mut [0u8; 1])? != 0 {
            return Err(Error::Trailing(text.len() as u64));
        }
        let text = String::from_utf8(text).map_err(|_| Error::Header("not UTF-8".into()))?;
        Self::parse(&text)
    }

    /// A confirmation's text checked: the version, a digest, a time, the blank line.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |what: &str| Error::Header(format!("confirmation: {what}"));
        let mut lines = text.split_inclusive('\n');
        let mut line = |what: &str| lines.next().ok_or_else(|| bad(what));
        let magic = line("empty")?.trim_end_matches('\n');
        if magic != CONFIRM_MAGIC {
            return Err(Error::Magic(magic.chars().take(60).collect()));
        }
        let sha256 = line("no sha256")?
            .strip_prefix("sha256: ")
            .and_then(|v| v.strip_suffix('\n'))
            .filter(|v| v.len() == 64 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or_else(|| bad("sha256 is not 64 lower-case hex digits"))?
            .to_owned();
        let time = line("no time")?
            .strip_prefix("time: ")
            .and_then(|v| v.strip_suffix('\n'))
            .and_then(|v| humantime::parse_rfc3339(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .ok_or_else(|| bad("time is not an RFC 3339 time"))?
            .as_secs();
        if line("no blank line after the time")? != "\n" || lines.next().is_some() {
            return Err(bad("something after the blank line"));
        }
        Ok(Self {
            text: text.to_owned(),
            sha256,
            time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::payload::{Header, is_payload};

    const BODY: &[u8] = b"a@example.com OK\nb@example.com OK\n";

    #[test]
    fn a_confirmation_is_small_exact_and_read_back() {
        let sha256 = crate::map::digest::sha256_hex(BODY);
        let sent = Confirmation::new(
            &sha256,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(86400),
        );
        assert_eq!(
            sent.text,
            format!("rcptsync-confirm 1\nsha256: {sha256}\ntime: 1970-01-02T00:00:00Z\n\n")
        );
        assert!(is_confirmation(sent.text.as_bytes()) && !is_payload(sent.text.as_bytes()));
        let got = Confirmation::read(&mut sent.text.as_bytes()).unwrap();
        let header = Header::new(
            1,
            1,
            &sha256,
            "s",
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(86400),
        );
        assert_eq!(header.time(), Some(86400));
        assert_eq!((got.sha256.as_str(), got.time), (sha256.as_str(), 86400));
        assert_eq!(got, sent);
        // Anything after it, before the blank line, or instead of a field: refused.
        let after = format!("{}x", sent.text);
        assert!(matches!(
            Confirmation::read(&mut after.as_bytes()),
            Err(Error::Trailing(_))
        ));
        for bad in [
            sent.text.replace("\n\n", "\n"),
            sent.text.replace(&sha256, "XYZ"),
            sent.text.replace("1970-01-02T00:00:00Z", "yesterday"),
            sent.text.replace("time: ", "when: "),
            format!("{}\n", "x".repeat(MAX_HEADER_LINE + 10)),
            "rcptsync-confirm 2\n".to_owned(),
        ] {
            assert!(Confirmation::read(&mut bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
