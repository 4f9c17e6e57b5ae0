//! The held change beside the map (`PATH.held`): the removals a guard holds back, since when
//! and why. extract writes it under the map's lock when a change is held, rewrites it when the
//! change grows or shrinks, and removes it when nothing is held any more; `review`, `approve`,
//! `status` and the metrics read it.
//!
//! ```text
//! rcptsync-held 1
//! sha256: 9c1f...            (of the address lines below)
//! count: 1234
//! since: 1796601600          (seconds since the epoch)
//! guard: 1234 addresses would be removed, more than max_removed = 500
//!
//! alice@example.com<TAB>corp-ad OU=Sales,DC=corp,DC=example
//! bob@example.com
//! ...
//! ```
//!
//! After an address, a tab and where the run that first held it had found it (the source,
//! and the OU of an LDAP object), when it knew.
//!
//! Security: root reads it (`approve`, `status`) from the rcptsync account's directory:
//! without following a link, bounded, and every line checked ([`super::parse_addresses`]);
//! the digest and count must match the lines, so what `approve` signs is what it showed.

use std::io::BufRead as _;
use std::path::Path;

use super::{Error, MAX_BYTES, Removals, field, parse_addresses};

/// The first line; the number is the format version.
const MAGIC: &str = "rcptsync-held 1";

/// Lines before the addresses: the magic, four fields and a blank line.
const HEADER_LINES: usize = 6;

/// The most of the file that [`Summary::read`] reads: the header alone.
const HEADER_BYTES: u64 = 4096;

/// A held change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The removals held back.
    pub removals: Removals,
    /// When the change was first held (seconds since the epoch); a change that grows or
    /// shrinks keeps it.
    pub since: u64,
    /// The guard that holds it, as the run said it.
    pub guard: String,
    /// Where each held address came from (`SOURCE` or `SOURCE OU`), as far as the run that
    /// first held it knew.
    pub origins: std::collections::BTreeMap<String, String>,
}

/// What the header says: enough for status and the metrics, without reading the addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The change's ID (the digest of its set of removals).
    pub id: String,
    /// How many removals.
    pub count: usize,
    /// Since when (seconds since the epoch).
    pub since: u64,
    /// Which guard.
    pub guard: String,
}

impl Held {
    /// The held change at `path`; None when nothing is held.
    pub fn read(path: &Path) -> Result<Option<Self>, Error> {
        let read = |cause| Error::Read {
            path: path.to_owned(),
            cause,
        };
        let Some(text) = crate::map::nofollow::read_small(path, MAX_BYTES).map_err(read)? else {
            return Ok(None);
        };
        Self::parse(&text, path).map(Some)
    }

    /// Parses a held record read from `path` (named in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let mut lines = text.lines();
        let summary = parse_header(&mut lines, path)?;
        if lines.next().is_some_and(|l| !l.is_empty()) {
            return Err(Error::Format {
                path: path.to_owned(),
                line: HEADER_LINES,
                reason: "expected a blank line after the header".into(),
            });
        }
        let mut origins = std::collections::BTreeMap::new();
        let mut bad_origin = None;
        let addresses = lines
            .enumerate()
            .map(|(index, line)| match line.split_once('\t') {
                Some((address, origin)) => {
                    if origin.chars().any(super::invisible) {
                        bad_origin.get_or_insert(HEADER_LINES + 1 + index);
                    }
                    origins.insert(address.to_owned(), origin.to_owned());
                    address
                }
                None => line,
            });
        let removals = parse_addresses(addresses, path, HEADER_LINES + 1)?;
        if let Some(line) = bad_origin {
            return Err(Error::Format {
                path: path.to_owned(),
                line,
                reason: "the origin has control or format characters".into(),
            });
        }
        let mismatch = |reason: String| Error::Format {
            path: path.to_owned(),
            line: 2,
            reason,
        };
        if removals.sha256() != summary.id {
            return Err(mismatch(
                "the digest does not match the addresses listed (edited by hand?)".into(),
            ));
        }
        if removals.len() != summary.count {
            return Err(mismatch(format!(
                "count {} does not match the {} addresses listed",
                summary.count,
                removals.len()
            )));
        }
        Ok(Self {
            removals,
            since: summary.since,
            guard: summary.guard,
            origins,
        })
    }

    /// Writes it to `path`, atomically; readable by all, as the map is.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let guard: String = self.guard.chars().filter(|c| !c.is_control()).collect();
        crate::map::atomic::write_with(path, 0o644, |out| {
            write!(
                out,
                "{MAGIC}\nsha256: {}\ncount: {}\nsince: {}\nguard: {guard}\n\n",
                self.removals.sha256(),
                self.removals.len(),
                self.since
            )?;
            for address in self.removals.addresses() {
                match self.origins.get(address) {
                    Some(origin) => {
                        let origin: String = origin.chars().filter(|c| !c.is_control()).collect();
                        writeln!(out, "{address}\t{origin}")?;
                    }
                    None => writeln!(out, "{address}")?,
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Removes the record at `path`, if there is one: nothing is held.
    pub fn remove(path: &Path) -> std::io::Result<()> {
        match crate::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Summary {
    /// The header of the held change at `path`, reading no more than the header; None when
    /// nothing is held.
    pub fn read(path: &Path) -> Result<Option<Self>, Error> {
        let read = |cause| Error::Read {
            path: path.to_owned(),
            cause,
        };
        let Some(file) = crate::map::nofollow::open_regular(path).map_err(read)? else {
            return Ok(None);
        };
        let mut lines = Vec::new();
        let mut input = std::io::BufReader::new(std::io::Read::take(file, HEADER_BYTES));
        for _ in 0..HEADER_LINES - 1 {
            let mut line = String::new();
            input
                .read_line(&mut line)
                .map_err(|e| read(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
            lines.push(line.trim_end_matches('\n').to_owned());
        }
        parse_header(&mut lines.iter().map(String::as_str), path).map(Some)
    }
}

/// The header's fields, checked.
fn parse_header<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    path: &Path,
) -> Result<Summary, Error> {
    let bad = |line: usize, reason: &str| Error::Format {
        path: path.to_owned(),
        line,
        reason: reason.to_owned(),
    };
    if lines.next() != Some(MAGIC) {
        return Err(bad(1, &format!("not a held change (expected {MAGIC:?})")));
    }
    let sha256 = field(lines.next(), "sha256", path, 2)?;
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad(2, "not a SHA-256 digest"));
    }
    let count = field(lines.next(), "count", path, 3)?
        .parse()
        .map_err(|_| bad(3, "count is not a number"))?;
    let since = field(lines.next(), "since", path, 4)?
        .parse()
        .map_err(|_| bad(4, "since is not a number"))?;
    let guard = field(lines.next(), "guard", path, 5)?;
    Ok(Summary {
        id: sha256.to_owned(),
        count,
        since,
        guard: guard.chars().filter(|c| !super::invisible(*c)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> Held {
        Held {
            removals: Removals::new((0..3).map(|i| format!("u{i}@example.com")).collect()),
            since: 1_796_601_600,
            guard: "3 addresses would be removed, more than max_removed = 1".into(),
            origins: [(
                "u1@example.com".to_owned(),
                "corp OU=Sales,DC=corp".to_owned(),
            )]
            .into(),
        }
    }

    #[test]
    fn reads_back_what_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.held");
        assert_eq!(Held::read(&path).unwrap(), None);
        assert_eq!(Summary::read(&path).unwrap(), None);
        held().write(&path).unwrap();
        assert_eq!(Held::read(&path).unwrap(), Some(held()));
        let summary = Summary::read(&path).unwrap().unwrap();
        assert_eq!(
            (summary.id.as_str(), summary.count),
            (held().removals.id(), 3)
        );
        Held::remove(&path).unwrap();
        Held::remove(&path).unwrap();
        assert_eq!(Held::read(&path).unwrap(), None);
    }

    #[test]
    fn a_record_edited_by_hand_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.held");
        held().write(&path).unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        // One more address than the digest names: approve must not sign it.
        let grown = text.replace("u2@example.com\n", "u2@example.com\nu9@example.com\n");
        fs_err::write(&path, grown).unwrap();
        let e = Held::read(&path).unwrap_err().to_string();
        assert!(e.contains("line 2: the digest does not match"), "{e}");
        // The digest's last digit changed: no ID but the whole digest names a set.
        let sha256 = held().removals.sha256().to_owned();
        let last = if sha256.ends_with('0') { "1" } else { "0" };
        let other = format!("{}{last}", &sha256[..63]);
        fs_err::write(&path, text.replace(&sha256, &other)).unwrap();
        let e = Held::read(&path).unwrap_err().to_string();
        assert!(e.contains("line 2: the digest does not match"), "{e}");
        // An origin that would act on the admin's terminal.
        let escape = text.replace("corp OU=Sales", "corp \u{1b}[2JOU=Sales");
        fs_err::write(&path, escape).unwrap();
        let e = Held::read(&path).unwrap_err().to_string();
        assert!(
            e.contains("the origin has control or format characters"),
            "{e}"
        );
        fs_err::write(&path, text.replace("count: 3", "count: x")).unwrap();
        let e = Held::read(&path).unwrap_err().to_string();
        assert!(e.contains("line 3: count is not a number"), "{e}");
    }
}
