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
//! A payload that carries an approval of held removals ([`crate::hold`]) is version 2: its
//! header says `approval: N`, and exactly N bytes of the approval follow the map text. The
//! receiver stores them with the rest; only `apply` reads them, and believes them only
//! through their signature. A payload without one stays version 1, which every receiver
//! takes.
//!
//! The receiver believes nothing until it has checked it: the version, a size limit before
//! reading the body, exactly `length` bytes followed by the end of input (so a truncated or
//! padded transfer is refused), the digest, and the number of entries. Only then may the map
//! reach the spool. The spool keeps the payload as it arrived, header included, so that
//! `apply` reads one file whose header and body were checked together and cannot belong to
//! two different pushes.
//!
//! Security: parsing is bounded (header lines and body size), streams the body in fixed-size
//! pieces whatever length the header claims, and never interprets the body beyond counting
//! its lines; `apply` validates every address again.

use std::io::{BufRead, Read};

/// What the pushing side's ssh asks the gateway's forced command for. It is only a label:
/// the command that runs is the one in authorized_keys, and `receive` refuses any other
/// request, so that the key cannot run commands or copy files.
pub const REMOTE_COMMAND: &str = "receive";

/// The first line of every payload; the number is the format version.
pub const MAGIC: &str = "rcptsync-map 1";

/// The first line of a payload that carries an approval after the map.
pub const MAGIC_APPROVAL: &str = "rcptsync-map 2";

/// The largest approval a payload may carry (two million addresses).
pub const MAX_APPROVAL: u64 = 64 << 20;

/// Whether `start` (the first bytes of a file) is the start of a payload, of any version
/// (one this reader does not know is then refused for its version, not read as a map).
pub fn is_payload(start: &[u8]) -> bool {
    start.starts_with(b"rcptsync-map ")
}

/// Longest header line accepted.
pub const MAX_HEADER_LINE: usize = 1024;
/// Most header lines accepted.
pub const MAX_HEADER_LINES: usize = 32;

/// A payload that cannot be accepted; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the input failed (or timed out).
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
    /// Storing the body failed.
    #[error("store: {0}")]
    Write(std::io::Error),
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
    /// The approval after the map is larger than any approval may be.
    #[error("the approval is {0} bytes, more than the limit of {MAX_APPROVAL}")]
    ApprovalTooLarge(u64),
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

/// A checked header: what the body must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header lines as sent, each ending in a line end (without the blank line after).
    pub text: String,
    /// Entries in the map.
    pub count: usize,
    /// Bytes of the body.
    pub length: u64,
    /// SHA-256 of the body, lower-case hex.
    pub sha256: String,
    /// Bytes of the approval after the body (version 2), if any.
    pub approval: Option<u64>,
}

/// Counts the entries of a map text as it streams past: lines that are neither blank nor
/// comments (see [`count_entries`]).
#[derive(Debug, Clone, Default)]
pub struct EntryCounter {
    /// The first byte of the current line that is not whitespace, if any yet.
    first: Option<u8>,
    count: usize,
}

impl EntryCounter {
    /// Takes the next bytes of the text.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.end_line();
            } else if self.first.is_none() && !b.is_ascii_whitespace() {
                self.first = Some(b);
            }
        }
    }

    fn end_line(&mut self) {
        if self.first.is_some_and(|b| b != b'#') {
            self.count += 1;
        }
        self.first = None;
    }

    /// The number of entries, the last line counted even without a line end.
    pub fn finish(mut self) -> usize {
        self.end_line();
        self.count
    }
}

/// Entries of a text map: lines that are neither blank nor comments.
pub fn count_entries(body: &[u8]) -> usize {
    let mut counter = EntryCounter::default();
    counter.feed(body);
    counter.finish()
}

impl Header {
    /// The header for a body of `length` bytes with `count` entries and digest `sha256`,
    /// from the sources named `source`, made at `time`.
    pub fn new(
        length: u64,
        count: usize,
        sha256: &str,
        source: &str,
        time: std::time::SystemTime,
    ) -> Self {
        let source: String = source.chars().filter(|c| !c.is_control()).collect();
        let text = format!(
            "{MAGIC}\ncount: {count}\nlength: {length}\nsha256: {sha256}\nsource: {source}\ntime: {}\n",
            humantime::format_rfc3339_seconds(time)
        );
        Self {
            text,
            count,
            length,
            sha256: sha256.to_owned(),
            approval: None,
        }
    }

    /// This header for a payload that carries an approval of `length` bytes after the map
    /// (version 2).
    pub fn with_approval(mut self, length: u64) -> Self {
        let rest = self.text.strip_prefix(MAGIC).unwrap_or(&self.text);
        self.text = format!("{MAGIC_APPROVAL}{rest}approval: {length}\n");
        self.approval = Some(length);
        self
    }

    /// The header for the map file at `path`, measured by reading it once as a stream.
    pub fn for_file(
        path: &std::path::Path,
        source: &str,
        time: std::time::SystemTime,
    ) -> std::io::Result<Self> {
        use sha2::Digest as _;
        let mut file = crate::fs::File::open(path)?;
        let mut hasher = sha2::Sha256::new();
        let mut counter = EntryCounter::default();
        let mut length = 0u64;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            counter.feed(&buffer[..n]);
            length += n as u64;
        }
        let sha256 = super::digest::hex(&hasher.finalize());
        Ok(Self::new(length, counter.finish(), &sha256, source, time))
    }

    /// Reads and checks the header from `input`, up to and including the blank line that ends
    /// it; at most [`MAX_HEADER_LINES`] lines of [`MAX_HEADER_LINE`] bytes are read, so a
    /// peer cannot make the reader buffer more.
    pub fn read(input: &mut impl BufRead) -> Result<Self, Error> {
        let mut header = String::new();
        let mut fields = std::collections::HashMap::new();
        for index in 0..=MAX_HEADER_LINES {
            let mut line = Vec::new();
            input
                .by_ref()
                .take(MAX_HEADER_LINE as u64 + 1)
                .read_until(b'\n', &mut line)?;
            let prefix_of = |magic: &str| {
                magic
                    .as_bytes()
                    .starts_with(&line[..line.len().min(magic.len())])
            };
            if index == 0 && !line.is_empty() && !prefix_of(MAGIC) && !prefix_of(MAGIC_APPROVAL) {
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
                if text != MAGIC && text != MAGIC_APPROVAL {
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
        let sha256 = field("sha256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Header("sha256 is not 64 hex digits".into()));
        }
        let approval = match header.starts_with(MAGIC_APPROVAL) {
            false => None,
            true => {
                let length: u64 = field("approval")?
                    .parse()
                    .map_err(|_| Error::Header("approval is not a number".into()))?;
                if length > MAX_APPROVAL {
                    return Err(Error::ApprovalTooLarge(length));
                }
                Some(length)
            }
        };
        Ok(Self {
            text: header,
            count,
            length,
            sha256,
            approval,
        })
    }

    /// Copies the body from `input` to `out` in bounded pieces, checking it against the
    /// header as it goes: at most `limit` bytes (refused before a byte of the body is read),
    /// exactly `length` of them, then the approval the header announces (to `approval` when
    /// given, else to `out`), then the end of input; the digest and the count. Memory stays
    /// the same whatever the header claims (the approval, when kept apart, is bounded).
    pub fn copy_body(
        &self,
        input: &mut impl Read,
        limit: u64,
        out: &mut impl std::io::Write,
        approval: Option<&mut Vec<u8>>,
    ) -> Result<(), Error> {
        use sha2::Digest as _;
        if self.length > limit {
            return Err(Error::TooLarge {
                length: self.length,
                limit,
            });
        }
        let mut hasher = sha2::Sha256::new();
        let mut counter = EntryCounter::default();
        let mut buffer = vec![0u8; 1 << 16];
        let mut got = 0u64;
        while got < self.length {
            let want = usize::try_from((self.length - got).min(buffer.len() as u64))
                .unwrap_or(buffer.len());
            let n = input.read(&mut buffer[..want])?;
            if n == 0 {
                return Err(Error::Truncated {
                    got,
                    length: self.length,
                });
            }
            hasher.update(&buffer[..n]);
            counter.feed(&buffer[..n]);
            out.write_all(&buffer[..n]).map_err(Error::Write)?;
            got += n as u64;
        }
        if let Some(length) = self.approval {
            let mut part = input.take(length.min(MAX_APPROVAL));
            let copied = match approval {
                Some(kept) => part.read_to_end(kept)? as u64,
                None => std::io::copy(&mut part, out).map_err(Error::Write)?,
            };
            if copied != length {
                return Err(Error::Truncated {
                    got: self.length + copied,
                    length: self.length + length,
                });
            }
        }
        if input.read(&mut buffer[..1])? != 0 {
            return Err(Error::Trailing(self.length));
        }
        let actual = super::digest::hex(&hasher.finalize());
        if actual != self.sha256 {
            return Err(Error::Digest {
                announced: self.sha256.clone(),
                actual,
            });
        }
        let actual = counter.finish();
        if actual != self.count {
            return Err(Error::Count {
                announced: self.count,
                actual,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"a@example.com OK\nb@example.com OK\n";

    fn payload() -> Vec<u8> {
        let sha256 = crate::map::digest::sha256_hex(BODY);
        let header = Header::new(
            BODY.len() as u64,
            2,
            &sha256,
            "corp-ad",
            std::time::SystemTime::UNIX_EPOCH,
        );
        [header.text.as_bytes(), b"\n", BODY].concat()
    }

    fn read(bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let mut input = bytes;
        let header = Header::read(&mut input)?;
        let mut body = Vec::new();
        header.copy_body(&mut input, 1 << 20, &mut body, None)?;
        Ok(body)
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
        assert_eq!(read(&bytes).unwrap(), BODY);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        fs_err::write(&path, BODY).unwrap();
        let measured =
            Header::for_file(&path, "corp-ad", std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(measured.text.as_bytes(), &bytes[..measured.text.len()]);
    }

    #[test]
    fn an_approval_travels_after_the_map_in_version_2_and_is_bounded() {
        let approval = b"rcptsync-approval 1\n...";
        let v2 = |announced: u64, approval: &[u8]| {
            let sha256 = crate::map::digest::sha256_hex(BODY);
            let header = Header::new(BODY.len() as u64, 2, &sha256, "s", std::time::UNIX_EPOCH)
                .with_approval(announced);
            [header.text.as_bytes(), b"\n", BODY, approval].concat()
        };
        let good = v2(approval.len() as u64, approval);
        assert!(good.starts_with(b"rcptsync-map 2\ncount: 2\n"));
        assert!(is_payload(&good));
        // The receiver stores it all; apply takes the approval apart.
        let mut input = &good[..];
        let header = Header::read(&mut input).unwrap();
        assert_eq!(header.approval, Some(approval.len() as u64));
        let (mut body, mut kept) = (Vec::new(), Vec::new());
        header
            .copy_body(&mut input, 1 << 20, &mut body, Some(&mut kept))
            .unwrap();
        assert_eq!((&body[..], &kept[..]), (BODY, &approval[..]));
        assert_eq!(read(&good).unwrap(), [BODY, &approval[..]].concat());
        // Cut short, padded, or announced larger than any approval may be: refused.
        assert!(matches!(
            read(&good[..good.len() - 1]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            read(&[&good[..], b"x"].concat()),
            Err(Error::Trailing(_))
        ));
        let huge = v2(MAX_APPROVAL + 1, approval);
        assert!(matches!(read(&huge), Err(Error::ApprovalTooLarge(_))));
        // Version 2 without its length is no payload.
        let text = String::from_utf8(good).unwrap();
        let unannounced = text.replace(&format!("approval: {}\n", approval.len()), "");
        assert!(
            matches!(read(unannounced.as_bytes()), Err(Error::Header(m)) if m == "no approval")
        );
        assert!(matches!(read(b"rcptsync-map 3\n"), Err(Error::Magic(_))));
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
    fn comments_and_blank_lines_are_not_entries_in_any_chunking() {
        let text = b"# x\n\na OK\n  \n \t# y\nb OK";
        assert_eq!(count_entries(text), 2);
        for split in 0..text.len() {
            let mut counter = EntryCounter::default();
            counter.feed(&text[..split]);
            counter.feed(&text[split..]);
            assert_eq!(counter.finish(), 2, "split at {split}");
        }
    }
}
