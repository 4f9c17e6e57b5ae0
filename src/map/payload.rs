//! The wire format between `push` and `receive`: a short header, then the map text.
//!
//! ```text
//! rcptsync-map 1
//! count: 1234
//! length: 41234
//! sha256: 5f2b...e9
//! source: corp-ad,extra
//! time: 2026-11-25T06:00:00Z
//!
//! alice@example.com OK
//! ...
//! ```
//!
//! The receiver believes nothing until it has checked it: the version, a size limit before
//! reading the body, exactly `length` bytes followed by the end of input (so a truncated or
//! padded transfer is refused), the digest, and the number of entries. Only then may the map
//! reach the spool.
//!
//! Security: parsing is bounded (header lines and body size) and never interprets the body
//! beyond counting its lines; `apply` validates every address again.

use std::io::{BufRead, Read};

use super::digest::sha256_hex;

/// What the pushing side's ssh asks the gateway's forced command for. It is only a label:
/// the command that runs is the one in authorized_keys, and `receive` refuses any other
/// request, so that the key cannot run commands or copy files.
pub const REMOTE_COMMAND: &str = "receive";

/// The first line of every payload; the number is the format version.
pub const MAGIC: &str = "rcptsync-map 1";

/// Longest header line accepted, and most header lines.
const MAX_HEADER_LINE: usize = 1024;
const MAX_HEADER_LINES: usize = 32;

/// A payload that cannot be accepted; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the input failed.
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
    /// Not a payload of a version this receiver knows.
    #[error(
        "not an rcptsync map (expected {MAGIC:?} on the first line, got {0:?}); is the sender a compatible rcptsync?"
    )]
    Magic(String),
    /// A header line is malformed, missing or too long.
    #[error("bad header: {0}")]
    Header(String),
    /// The announced body exceeds the limit.
    #[error("the map is {length} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Announced length.
        length: u64,
        /// The receiver's limit.
        limit: u64,
    },
    /// Fewer bytes arrived than announced.
    #[error("truncated: {got} of {length} bytes arrived")]
    Truncated {
        /// Bytes received.
        got: u64,
        /// Announced length.
        length: u64,
    },
    /// More bytes arrived than announced.
    #[error("more data than the announced {0} bytes")]
    Trailing(u64),
    /// The body does not hash to the announced digest.
    #[error("digest mismatch: announced {announced}, received {actual}")]
    Digest {
        /// From the header.
        announced: String,
        /// Of the received body.
        actual: String,
    },
    /// The body does not have the announced number of entries.
    #[error("count mismatch: announced {announced} entries, received {actual}")]
    Count {
        /// From the header.
        announced: usize,
        /// In the received body.
        actual: usize,
    },
}

/// A checked payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The header lines as sent (for the spool's sidecar file).
    pub header: String,
    /// Entries in the map.
    pub count: usize,
    /// SHA-256 of the body, lower-case hex.
    pub sha256: String,
    /// The map text.
    pub body: Vec<u8>,
}

/// Entries of a text map: lines that are neither blank nor comments.
pub fn count_entries(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n')
        .filter(|line| {
            let trimmed = line.trim_ascii();
            !trimmed.is_empty() && !trimmed.starts_with(b"#")
        })
        .count()
}

impl Payload {
    /// Wraps a map text for sending.
    pub fn new(body: Vec<u8>, source: &str, time: std::time::SystemTime) -> Self {
        let count = count_entries(&body);
        let sha256 = sha256_hex(&body);
        let source: String = source.chars().filter(|c| !c.is_control()).collect();
        let header = format!(
            "{MAGIC}\ncount: {count}\nlength: {}\nsha256: {sha256}\nsource: {source}\ntime: {}\n",
            body.len(),
            humantime::format_rfc3339_seconds(time)
        );
        Self {
            header,
            count,
            sha256,
            body,
        }
    }

    /// The bytes to send.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header.len() + 1 + self.body.len());
        out.extend_from_slice(self.header.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads and checks one payload from `input`, reading at most `limit` body bytes.
    pub fn read(input: &mut impl BufRead, limit: u64) -> Result<Self, Error> {
        let mut header = String::new();
        let mut fields = std::collections::HashMap::new();
        for index in 0..=MAX_HEADER_LINES {
            let mut line = Vec::new();
            input
                .by_ref()
                .take(MAX_HEADER_LINE as u64 + 1)
                .read_until(b'\n', &mut line)?;
            if index == 0
                && !line.is_empty()
                && !MAGIC
                    .as_bytes()
                    .starts_with(&line[..line.len().min(MAGIC.len())])
            {
                let shown = String::from_utf8_lossy(&line);
                return Err(Error::Magic(shown.trim_end().chars().take(60).collect()));
            }
            if line.last() != Some(&b'\n') {
                return Err(Error::Header(if line.len() > MAX_HEADER_LINE {
                    "line too long".into()
                } else {
                    "input ended in the header".into()
                }));
            }
            let text = String::from_utf8(line).map_err(|_| Error::Header("not UTF-8".into()))?;
            let text = text.trim_end_matches('\n');
            if index == 0 {
                if text != MAGIC {
                    return Err(Error::Magic(text.chars().take(60).collect()));
                }
            } else if text.is_empty() {
                break;
            } else if index == MAX_HEADER_LINES {
                return Err(Error::Header("too many lines".into()));
            } else {
                let (key, value) = text
                    .split_once(": ")
                    .ok_or_else(|| Error::Header(format!("{text:?} is not `key: value`")))?;
                fields.insert(key.to_owned(), value.to_owned());
            }
            header.push_str(text);
            header.push('\n');
        }
        let field = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| Error::Header(format!("no {name}")))
        };
        let length: u64 = field("length")?
            .parse()
            .map_err(|_| Error::Header("length is not a number".into()))?;
        let count: usize = field("count")?
            .parse()
            .map_err(|_| Error::Header("count is not a number".into()))?;
        let announced = field("sha256")?.to_ascii_lowercase();
        if length > limit {
            return Err(Error::TooLarge { length, limit });
        }
        let mut body = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        input.by_ref().take(length).read_to_end(&mut body)?;
        if (body.len() as u64) < length {
            return Err(Error::Truncated {
                got: body.len() as u64,
                length,
            });
        }
        let mut extra = [0u8; 1];
        if input.read(&mut extra)? != 0 {
            return Err(Error::Trailing(length));
        }
        let actual = sha256_hex(&body);
        if actual != announced {
            return Err(Error::Digest { announced, actual });
        }
        let actual_count = count_entries(&body);
        if actual_count != count {
            return Err(Error::Count {
                announced: count,
                actual: actual_count,
            });
        }
        Ok(Self {
            header,
            count,
            sha256: actual,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"a@example.com OK\nb@example.com OK\n";

    fn payload() -> Vec<u8> {
        Payload::new(BODY.to_vec(), "corp-ad", std::time::SystemTime::UNIX_EPOCH).to_bytes()
    }

    fn read(bytes: &[u8]) -> Result<Payload, Error> {
        Payload::read(&mut &bytes[..], 1 << 20)
    }

    #[test]
    fn round_trip() {
        let bytes = payload();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("rcptsync-map 1\ncount: 2\nlength: 34\nsha256: "),
            "{text}"
        );
        assert!(text.contains("source: corp-ad\ntime: 1970-01-01T00:00:00Z\n\na@example.com OK\n"));
        let p = read(&bytes).unwrap();
        assert_eq!((p.count, p.body.as_slice()), (2, BODY));
    }

    #[test]
    fn damaged_input_is_refused() {
        let good = payload();
        assert!(matches!(
            read(&good[..good.len() - 1]),
            Err(Error::Truncated {
                got: 33,
                length: 34
            })
        ));
        assert!(matches!(
            read(&[&good[..], b"x"].concat()),
            Err(Error::Trailing(34))
        ));
        let flipped: Vec<u8> = good
            .iter()
            .map(|&b| if b == b'b' { b'c' } else { b })
            .collect();
        assert!(matches!(read(&flipped), Err(Error::Digest { .. })));
        assert!(matches!(read(b"garbage\n"), Err(Error::Magic(_))));
        assert!(matches!(read(b""), Err(Error::Header(_))));
        assert!(matches!(read(&good[..20]), Err(Error::Header(_))));
        let text = String::from_utf8(good.clone()).unwrap();
        let miscounted = text.replace("count: 2", "count: 3");
        assert!(matches!(
            read(miscounted.as_bytes()),
            Err(Error::Count {
                announced: 3,
                actual: 2
            })
        ));
        let huge = text.replace("length: 34", "length: 99999999999");
        assert!(matches!(read(huge.as_bytes()), Err(Error::TooLarge { .. })));
        let long = format!("{MAGIC}\nsource: {}\n", "x".repeat(2000));
        assert!(matches!(read(long.as_bytes()), Err(Error::Header(m)) if m == "line too long"));
    }

    #[test]
    fn comments_and_blank_lines_are_not_entries() {
        assert_eq!(count_entries(b"# x\n\na OK\n  \nb OK"), 2);
    }
}
