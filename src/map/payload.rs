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
//! Parts may follow the map text, each announced in the header by its length in bytes, in
//! this order: the relay domains (`domains: N`, one accepted domain a line, so that a gateway
//! relays what the directory accepts: `install::relay`) and an approval of held
//! removals (`approval: N`, [`crate::hold`]). The receiver stores them with the rest; only
//! `apply` reads them, and believes the domains only within its own allowed patterns and an
//! approval only through its signature. The version is the lowest that says what follows:
//! 1 for the map alone (which every receiver takes), 2 for an approval only, 3 with domains.
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

/// The first line of a payload that carries the relay domains after the map (and maybe an
/// approval after them).
pub const MAGIC_DOMAINS: &str = "rcptsync-map 3";

/// The largest approval a payload may carry (two million addresses).
pub const MAX_APPROVAL: u64 = 64 << 20;

/// The largest list of relay domains a payload may carry (some ten thousand domains).
pub const MAX_DOMAINS: u64 = 1 << 20;

/// The parts a payload carried after the map, kept apart from it when read for `apply`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    /// The relay domains, as sent (version 3).
    pub domains: Option<Vec<u8>>,
    /// The approval, as sent (versions 2 and 3).
    pub approval: Option<Vec<u8>>,
}

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
    /// A part after the map is larger than any such part may be.
    #[error("the {part} after the map is {length} bytes, more than the limit of {limit}")]
    PartTooLarge {
        /// `domains` or `approval`.
        part: &'static str,
        /// Announced length.
        length: u64,
        /// The limit for that part.
        limit: u64,
    },
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
    /// Bytes of the relay domains after the body (version 3), if any.
    pub domains: Option<u64>,
    /// Bytes of the approval after the body (and the domains), if any.
    pub approval: Option<u64>,
}

/// The parts that may follow the map, in their order: the header field, its limit, and
/// where [`Header`] and [`Parts`] keep each.
type Part = (
    &'static str,
    u64,
    fn(&Header) -> Option<u64>,
    fn(&mut Parts) -> &mut Option<Vec<u8>>,
);

const PARTS: [Part; 2] = [
    ("domains", MAX_DOMAINS, |h| h.domains, |p| &mut p.domains),
    (
        "approval",
        MAX_APPROVAL,
        |h| h.approval,
        |p| &mut p.approval,
    ),
];

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
            domains: None,
            approval: None,
        }
    }

    /// This header for a payload that carries `domains` bytes of relay domains and then
    /// `approval` bytes of approval after the map, in the lowest version that says so.
    pub fn with_parts(mut self, domains: Option<u64>, approval: Option<u64>) -> Self {
        let rest = self.text.strip_prefix(MAGIC).unwrap_or(&self.text);
        let magic = match (domains, approval) {
            (Some(_), _) => MAGIC_DOMAINS,
            (None, Some(_)) => MAGIC_APPROVAL,
            (None, None) => MAGIC,
        };
        let mut text = format!("{magic}{rest}");
        for (name, length) in [("domains", domains), ("approval", approval)] {
            if let Some(length) = length {
                text.push_str(&format!("{name}: {length}\n"));
            }
        }
        self.text = text;
        self.domains = domains;
        self.approval = approval;
        self
    }

    /// When the pushing side made the payload (its `time:`, seconds since the epoch), if the
    /// header says so readably.
    pub fn time(&self) -> Option<u64> {
        let text = self.text.lines().find_map(|l| l.strip_prefix("time: "))?;
        let time = humantime::parse_rfc3339(text).ok()?;
        time.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
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
            let known = [MAGIC, MAGIC_APPROVAL, MAGIC_DOMAINS];
            if index == 0 && !line.is_empty() && !known.iter().any(|m| prefix_of(m)) {
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
                if !known.contains(&text) {
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
        // Version 2 must carry an approval and version 3 domains; each part is optional
        // beyond that, and bounded before a byte of it is read.
        let part = |name: &'static str, limit: u64, required: bool| match fields.get(name) {
            None if required => Err(Error::Header(format!("no {name}"))),
            None => Ok(None),
            Some(value) => {
                let length: u64 = value
                    .parse()
                    .map_err(|_| Error::Header(format!("{name} is not a number")))?;
                if length > limit {
                    return Err(Error::PartTooLarge {
                        part: name,
                        length,
                        limit,
                    });
                }
                Ok(Some(length))
            }
        };
        let version = header.lines().next().unwrap_or_default();
        let (domains, approval) = match version {
            MAGIC => (None, None),
            MAGIC_APPROVAL => (None, part("approval", MAX_APPROVAL, true)?),
            _ => (
                part("domains", MAX_DOMAINS, true)?,
                part("approval", MAX_APPROVAL, false)?,
            ),
        };
        Ok(Self {
            text: header,
            count,
            length,
            sha256,
            domains,
            approval,
        })
    }

    /// Copies the body from `input` to `out` in bounded pieces, checking it against the
    /// header as it goes: at most `limit` bytes (refused before a byte of the body is read),
    /// exactly `length` of them, then the parts the header announces (to `parts` when given,
    /// else to `out`), then the end of input; the digest and the count. Memory stays the same
    /// whatever the header claims (the parts, when kept apart, are bounded).
    pub fn copy_body(
        &self,
        input: &mut impl Read,
        limit: u64,
        out: &mut impl std::io::Write,
        mut parts: Option<&mut Parts>,
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
        let mut before = self.length;
        for (_, max, announced, kept) in PARTS {
            let Some(length) = announced(self) else {
                continue;
            };
            let mut part = input.by_ref().take(length.min(max));
            let copied = match parts.as_deref_mut() {
                Some(parts) => {
                    let mut bytes = Vec::new();
                    let n = part.read_to_end(&mut bytes)? as u64;
                    *kept(parts) = Some(bytes);
                    n
                }
                None => std::io::copy(&mut part, out).map_err(Error::Write)?,
            };
            if copied != length {
                return Err(Error::Truncated {
                    got: before + copied,
                    length: before + length,
                });
            }
            before += length;
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

    /// A payload of `BODY` whose header announces `domains` and `approval` bytes, followed
    /// by `after`.
    fn with_parts(domains: Option<u64>, approval: Option<u64>, after: &[u8]) -> Vec<u8> {
        let sha256 = crate::map::digest::sha256_hex(BODY);
        let header = Header::new(BODY.len() as u64, 2, &sha256, "s", std::time::UNIX_EPOCH)
            .with_parts(domains, approval);
        [header.text.as_bytes(), b"\n", BODY, after].concat()
    }

    /// Reads `bytes` as apply does, the parts kept apart.
    fn read_parts(bytes: &[u8]) -> Result<(Vec<u8>, Parts), Error> {
        let mut input = bytes;
        let header = Header::read(&mut input)?;
        let (mut body, mut parts) = (Vec::new(), Parts::default());
        header.copy_body(&mut input, 1 << 20, &mut body, Some(&mut parts))?;
        Ok((body, parts))
    }

    #[test]
    fn an_approval_travels_after_the_map_in_version_2_and_is_bounded() {
        let approval = b"rcptsync-approval 1\n...";
        let v2 = |announced: u64, approval: &[u8]| with_parts(None, Some(announced), approval);
        let good = v2(approval.len() as u64, approval);
        assert!(good.starts_with(b"rcptsync-map 2\ncount: 2\n"));
        assert!(is_payload(&good));
        // The receiver stores it all; apply takes the approval apart.
        let (body, parts) = read_parts(&good).unwrap();
        assert_eq!(
            (&body[..], parts),
            (
                BODY,
                Parts {
                    domains: None,
                    approval: Some(approval.to_vec())
                }
            )
        );
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
        assert!(matches!(
            read(&huge),
            Err(Error::PartTooLarge {
                part: "approval",
                ..
            })
        ));
        // Version 2 without its length is no payload.
        let text = String::from_utf8(good).unwrap();
        let unannounced = text.replace(&format!("approval: {}\n", approval.len()), "");
        assert!(
            matches!(read(unannounced.as_bytes()), Err(Error::Header(m)) if m == "no approval")
        );
        assert!(matches!(read(b"rcptsync-map 4\n"), Err(Error::Magic(_))));
    }

    #[test]
    fn relay_domains_travel_in_version_3_before_an_approval_and_are_bounded() {
        let (domains, approval) = (&b"example.com\n*.example.org\n"[..], &b"signed"[..]);
        let both = with_parts(
            Some(domains.len() as u64),
            Some(approval.len() as u64),
            &[domains, approval].concat(),
        );
        assert!(both.starts_with(b"rcptsync-map 3\n"));
        let (body, parts) = read_parts(&both).unwrap();
        assert_eq!(body, BODY);
        assert_eq!(parts.domains.as_deref(), Some(domains));
        assert_eq!(parts.approval.as_deref(), Some(approval));
        let only = with_parts(Some(domains.len() as u64), None, domains);
        let (_, parts) = read_parts(&only).unwrap();
        assert_eq!(
            (parts.domains.as_deref(), parts.approval),
            (Some(domains), None)
        );
        // The receiver stores the parts with the map, as they came.
        assert_eq!(read(&both).unwrap(), [BODY, domains, approval].concat());
        // Each part is measured exactly: a short one is truncated, a long one trails.
        assert!(matches!(
            read_parts(&both[..both.len() - 1]),
            Err(Error::Truncated { .. })
        ));
        let long = with_parts(Some(domains.len() as u64), None, &[domains, b"x"].concat());
        assert!(matches!(read_parts(&long), Err(Error::Trailing(_))));
        let huge = with_parts(Some(MAX_DOMAINS + 1), None, domains);
        assert!(matches!(
            read(&huge),
            Err(Error::PartTooLarge {
                part: "domains",
                ..
            })
        ));
        // Version 3 without its domains is no payload.
        let text = String::from_utf8(only).unwrap();
        let unannounced = text.replace(&format!("domains: {}\n", domains.len()), "");
        assert!(matches!(read(unannounced.as_bytes()), Err(Error::Header(m)) if m == "no domains"));
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
