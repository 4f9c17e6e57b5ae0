//! The approvals a gateway has honoured (`PATH.approvals` beside the live map, root's): each
//! approval's nonce and its expiry, one per line. An approval whose nonce is listed is not
//! honoured again, even when the map has come back to the very state it was given for; a
//! nonce is forgotten only once its approval has expired (then it is refused for that).
//!
//! Security: the file lives in root's directory beside the live map; it is read without
//! following a link and bounded, and a file that cannot be read or parsed honours nothing
//! (apply refuses the approval and says why).

use std::path::Path;

use super::Error;

/// The most the file may be: thousands of approvals, far more than a gateway sees while any
/// of them is valid.
const MAX_BYTES: u64 = 1 << 20;

/// The nonces honoured, with each approval's not-after time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Honoured {
    entries: Vec<(String, u64)>,
}

impl Honoured {
    /// The record at `path` (empty when there is none yet).
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text =
            crate::map::nofollow::read_small(path, MAX_BYTES).map_err(|cause| Error::Read {
                path: path.to_owned(),
                cause,
            })?;
        let mut entries = Vec::new();
        for (index, line) in text.as_deref().unwrap_or_default().lines().enumerate() {
            let parsed = line
                .split_once(' ')
                .and_then(|(nonce, until)| Some((nonce.to_owned(), until.parse().ok()?)))
                .filter(|(nonce, _)| nonce.len() == 32);
            entries.push(parsed.ok_or_else(|| Error::Format {
                path: path.to_owned(),
                line: index + 1,
                reason: "expected `NONCE NOT_AFTER`".into(),
            })?);
        }
        Ok(Self { entries })
    }

    /// Whether the approval with `nonce` was honoured before.
    pub fn contains(&self, nonce: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == nonce)
    }

    /// Adds `nonce`, whose approval is valid until `not_after`.
    pub fn add(&mut self, nonce: &str, not_after: u64) {
        self.entries.push((nonce.to_owned(), not_after));
    }

    /// Forgets the nonces of approvals expired as of `now` and writes the record to `path`,
    /// before the approvals are acted on.
    pub fn write(mut self, path: &Path, now: u64) -> Result<(), Error> {
        self.entries.retain(|(_, until)| *until >= now);
        let text: String = self
            .entries
            .iter()
            .map(|(nonce, until)| format!("{nonce} {until}\n"))
            .collect();
        crate::map::atomic::write(path, text.as_bytes(), 0o600)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_remembered_until_its_approval_expires() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.approvals");
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        let none = Honoured::read(&path).unwrap();
        assert!(!none.contains(&a));
        let mut record = none;
        record.add(&a, 100);
        record.write(&path, 50).unwrap();
        let mut record = Honoured::read(&path).unwrap();
        record.add(&b, 300);
        record.write(&path, 200).unwrap();
        let both = Honoured::read(&path).unwrap();
        // a expired at 100 and is forgotten at 200; b is kept.
        assert!(!both.contains(&a) && both.contains(&b));
        fs_err::write(&path, "garbage\n").unwrap();
        let e = Honoured::read(&path).unwrap_err().to_string();
        assert!(e.contains("line 1: expected `NONCE NOT_AFTER`"), "{e}");
    }
}
