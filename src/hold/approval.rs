//! An approval (`PATH.approval`): exactly one set of removals that may go through, until a
//! time, once per gateway.
//!
//! ```text
//! rcptsync-approval 1
//! sha256: 9c1f...             (of the address lines below: the change's ID is its start)
//! count: 1234
//! nonce: 5e0b...              (16 random bytes: a gateway honours each approval once)
//! not-after: 2026-12-14T03:00:00Z
//!
//! -----BEGIN SSH SIGNATURE-----   (absent when [safety].approval_key is not set)
//! ...
//! -----END SSH SIGNATURE-----
//!
//! alice@example.com
//! ...
//! ```
//!
//! The file holds the approvals that are still valid, one after the other, each from its
//! first line (at most [`MAX_KEPT`]): a gateway that was down while two changes were approved
//! needs both when it is back.
//!
//! The signature is OpenSSH's own format (SSHSIG, namespace [`NAMESPACE`]) over the header
//! lines (from the first line to `not-after`, each with its line end), made with the
//! approver's ed25519 key; so `ssh-keygen -Y verify -n rcptsync-approval` checks it as well
//! (README). It covers the digest and the count of the set, the nonce and the expiry; the
//! addresses are bound to it by their digest.
//!
//! Security: on a gateway the approval comes from the spool account and is believed only
//! through [`Approval::verify`]; parsing is strict and bounded ([`super::MAX_BYTES`]).

use std::path::Path;
use std::time::{Duration, SystemTime};

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use super::{Error, MAX_BYTES, Removals, field, parse_addresses};

/// The SSHSIG namespace: a signature made for anything else (a git commit, a file) is not an
/// approval, and an approval is nothing else.
pub const NAMESPACE: &str = "rcptsync-approval";

/// The first line; the number is the format version.
const MAGIC: &str = "rcptsync-approval 1";

/// The most approvals a file (and so a payload) carries; the oldest go first.
pub const MAX_KEPT: usize = 16;

const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";

/// An approval of one set of removals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The removals approved.
    pub removals: Removals,
    /// 32 hex digits, random: what a gateway records once it honoured the approval.
    pub nonce: String,
    /// The end of its validity (seconds since the epoch).
    pub not_after: u64,
    /// The approver's signature over [`Approval::signed_text`]; None when the internal host
    /// has no approval key (the gateways that require one refuse it).
    signature: Option<SshSig>,
}

impl Approval {
    /// Approves `removals` for `valid` from now, signed with `key` when there is one.
    pub fn new(
        removals: Removals,
        valid: Duration,
        key: Option<&PrivateKey>,
    ) -> Result<Self, Error> {
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).map_err(
            |_| Error::Read {
                path: "/dev/urandom".into(),
                cause: std::io::Error::other("no random numbers for the nonce"),
            },
        )?;
        let not_after = SystemTime::now()
            .checked_add(valid)
            .unwrap_or_else(SystemTime::now)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut approval = Self {
            removals,
            nonce: crate::map::digest::hex(&nonce),
            not_after,
            signature: None,
        };
        if let Some(key) = key {
            let signature = key
                .sign(
                    NAMESPACE,
                    HashAlg::Sha512,
                    approval.signed_text().as_bytes(),
                )
                .map_err(|e| Error::Key {
                    path: "(loaded key)".into(),
                    reason: format!("signing failed: {e}"),
                })?;
            approval.signature = Some(signature);
        }
        Ok(approval)
    }

    /// The change's ID.
    pub fn id(&self) -> &str {
        self.removals.id()
    }

    /// Whether it is signed.
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    /// Whether it is past its not-after time at `now` (seconds since the epoch).
    pub fn expired(&self, now: u64) -> bool {
        now > self.not_after
    }

    /// Its not-after time, as RFC 3339.
    pub fn not_after_text(&self) -> String {
        humantime::format_rfc3339_seconds(
            SystemTime::UNIX_EPOCH + Duration::from_secs(self.not_after.min(253_402_300_799)),
        )
        .to_string()
    }

    /// The lines the signature covers.
    fn signed_text(&self) -> String {
        format!(
            "{MAGIC}\nsha256: {}\ncount: {}\nnonce: {}\nnot-after: {}\n",
            self.removals.sha256(),
            self.removals.len(),
            self.nonce,
            self.not_after_text()
        )
    }

    /// The file's text.
    pub fn to_text(&self) -> Result<String, Error> {
        let mut text = self.signed_text();
        text.push('\n');
        if let Some(signature) = &self.signature {
            let pem = signature.to_pem(LineEnding::LF).map_err(|e| Error::Key {
                path: "(loaded key)".into(),
                reason: format!("the signature cannot be written: {e}"),
            })?;
            text.push_str(pem.trim_end());
            text.push_str("\n\n");
        }
        for address in self.removals.addresses() {
            text.push_str(address);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parses an approval; `path` names where it came from in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        Self::parse_with(text, path, None).map(|(approval, _)| approval)
    }

    /// Parses an approval that must be signed by one of `keys`, checking the signature
    /// before the addresses are read (so that a forged one costs no more than its header);
    /// with the fingerprint of the key that signed it. Expiry and replay are the caller's.
    pub fn parse_signed(
        text: &str,
        path: &Path,
        keys: &[PublicKey],
    ) -> Result<(Self, String), Error> {
        let (approval, signer) = Self::parse_with(text, path, Some(keys))?;
        Ok((approval, signer.unwrap_or_default()))
    }

    /// [`Approval::parse`], and with `keys` [`Approval::parse_signed`].
    fn parse_with(
        text: &str,
        path: &Path,
        keys: Option<&[PublicKey]>,
    ) -> Result<(Self, Option<String>), Error> {
        let bad = |line: usize, reason: &str| Error::Format {
            path: path.to_owned(),
            line,
            reason: reason.to_owned(),
        };
        if text.len() as u64 > MAX_BYTES {
            return Err(bad(1, "larger than an approval may be"));
        }
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(bad(1, &format!("not an approval (expected {MAGIC:?})")));
        }
        let sha256 = field(lines.next(), "sha256", path, 2)?.to_owned();
        let count: usize = field(lines.next(), "count", path, 3)?
            .parse()
            .map_err(|_| bad(3, "count is not a number"))?;
        let nonce = field(lines.next(), "nonce", path, 4)?.to_owned();
        if nonce.len() != 32
            || !nonce
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad(4, "the nonce is not 32 hex digits"));
        }
        let not_after = humantime::parse_rfc3339(field(lines.next(), "not-after", path, 5)?)
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .ok_or_else(|| bad(5, "not-after is not a time (RFC 3339, UTC)"))?
            .as_secs();
        if lines.next() != Some("") {
            return Err(bad(6, "expected a blank line after the header"));
        }
        let mut line = 7;
        let mut rest = lines.peekable();
        let signature = if rest.peek() == Some(&BEGIN) {
            let mut pem = String::new();
            for text in rest.by_ref() {
                line += 1;
                pem.push_str(text);
                pem.push('\n');
                if text == END {
                    break;
                }
                if pem.len() > 4096 {
                    return Err(bad(line, "the signature block does not end"));
                }
            }
            let signature =
                SshSig::from_pem(&pem).map_err(|e| bad(7, &format!("not a signature: {e}")))?;
            if rest.next() != Some("") {
                return Err(bad(line, "expected a blank line after the signature"));
            }
            line += 1;
            Some(signature)
        } else {
            None
        };
        let signer = match keys {
            None => None,
            Some(keys) => {
                // The signed lines as they are in the text; that they are the canonical form
                // of what was parsed is checked below.
                let end = text
                    .match_indices('\n')
                    .nth(4)
                    .map_or(text.len(), |(at, _)| at + 1);
                Some(verify(&text[..end], signature.as_ref(), keys)?)
            }
        };
        // No more lines than the count says: a signed count bounds what is read.
        let removals = parse_addresses(rest.take(count.saturating_add(1)), path, line)?;
        if removals.sha256() != sha256 {
            return Err(bad(2, "the digest does not match the addresses listed"));
        }
        if removals.len() != count {
            return Err(bad(3, "the count does not match the addresses listed"));
        }
        let approval = Self {
            removals,
            nonce,
            not_after,
            signature,
        };
        // The header must be exactly what would be signed: nothing else can hide in it.
        if !text.starts_with(&approval.signed_text()) {
            return Err(bad(1, "the header is not in the form rcptsync writes"));
        }
        Ok((approval, signer))
    }

    /// The approvals in the file at `path` (none when there is no file), each parsed: an
    /// error names the first that cannot be. The file is read without following a link and
    /// bounded.
    pub fn read_all(path: &Path) -> Result<Vec<Self>, Error> {
        let text =
            crate::map::nofollow::read_small(path, MAX_BYTES).map_err(|cause| Error::Read {
                path: path.to_owned(),
                cause,
            })?;
        split(text.as_deref().unwrap_or_default())
            .take(MAX_KEPT)
            .map(|text| Self::parse(text, path))
            .collect()
    }

    /// Checks the signature against `keys`: the fingerprint of the key that made it, or why
    /// none did. Expiry and replay are the caller's (they depend on its clock and records).
    pub fn verify(&self, keys: &[PublicKey]) -> Result<String, Refusal> {
        verify(&self.signed_text(), self.signature.as_ref(), keys)
    }
}

/// The approvals in `text`, each from its first line to the next one's (an address line
/// cannot be a first line: it has no space).
pub fn split(text: &str) -> impl Iterator<Item = &str> {
    let mut starts: Vec<usize> = text
        .match_indices(&format!("{MAGIC}\n"))
        .map(|(at, _)| at)
        .filter(|&at| at == 0 || text.as_bytes()[at - 1] == b'\n')
        .collect();
    if starts.first() != Some(&0) && !text.is_empty() {
        // Whatever comes first is an approval too, and refused as one (not skipped).
        starts.insert(0, 0);
    }
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([text.len()]).collect();
    starts
        .into_iter()
        .zip(ends)
        .map(move |(start, end)| &text[start..end])
}

/// Checks `signature` over `signed` against `keys`: the fingerprint of the key that made it.
fn verify(signed: &str, signature: Option<&SshSig>, keys: &[PublicKey]) -> Result<String, Refusal> {
    let Some(signature) = signature else {
        return Err(Refusal::Unsigned);
    };
    keys.iter()
        .find(|key| key.verify(NAMESPACE, signed.as_bytes(), signature).is_ok())
        .map(|key| key.fingerprint(HashAlg::Sha256).to_string())
        .ok_or_else(|| {
            Refusal::NotListed(
                signature
                    .public_key()
                    .fingerprint(HashAlg::Sha256)
                    .to_string(),
            )
        })
}

/// Why a signature does not make an approval good.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// There is none.
    #[error("it is not signed (the internal host has no [safety].approval_key)")]
    Unsigned,
    /// It does not verify with any listed key (the fingerprint of the key it names).
    #[error("its signature (by {0}) is not valid for any key in [install].approval_keys")]
    NotListed(String),
}

/// Loads the approver's private key (`[safety].approval_key`) with the password file's
/// checks: a regular file only its owner (or root) can read.
pub fn load_key(path: &Path) -> Result<PrivateKey, Error> {
    let key_error = |reason: String| Error::Key {
        path: path.to_owned(),
        reason,
    };
    let file =
        crate::secret::open_private(path, "approval_key").map_err(|e| key_error(e.to_string()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, 64 << 10), &mut text)
        .map_err(|e| key_error(e.to_string()))?;
    let key = PrivateKey::from_openssh(&text).map_err(|e| {
        key_error(format!(
            "not an OpenSSH private key ({e}); make one with `ssh-keygen -t ed25519 -f {}`",
            path.display()
        ))
    })?;
    if key.is_encrypted() {
        return Err(key_error(
            "has a passphrase, which rcptsync cannot ask for; the file's permissions protect \
             it instead (`ssh-keygen -p -N '' -f FILE` removes the passphrase)"
                .into(),
        ));
    }
    if key.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(key_error(format!(
            "is a {} key; approvals are signed with ed25519 (`ssh-keygen -t ed25519`)",
            key.algorithm()
        )));
    }
    Ok(key)
}

/// Parses one `[install].approval_keys` entry: an OpenSSH public key line (as in a `.pub`
/// file) of an ed25519 key.
pub fn parse_public(line: &str) -> Result<PublicKey, Error> {
    let key = PublicKey::from_openssh(line.trim()).map_err(|e| {
        Error::PublicKey(format!(
            "not an OpenSSH public key line ({e}); give the content of the approver's .pub file"
        ))
    })?;
    if key.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(Error::PublicKey(format!(
            "a {} key; approvals are signed with ed25519",
            key.algorithm()
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test key from a fixed seed.
    pub(crate) fn key_from(seed: u8) -> PrivateKey {
        PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]))
    }

    fn key() -> PrivateKey {
        key_from(1)
    }

    fn removals() -> Removals {
        Removals::new((0..5).map(|i| format!("u{i}@example.com")).collect())
    }

    #[test]
    fn a_signed_approval_reads_back_and_verifies_with_its_key_only() {
        let key = key();
        let approval = Approval::new(removals(), Duration::from_secs(3600), Some(&key)).unwrap();
        let text = approval.to_text().unwrap();
        let parsed = Approval::parse(&text, Path::new("x")).unwrap();
        assert_eq!(parsed, approval);
        assert!(parsed.verify(&[key.public_key().clone()]).is_ok());
        let other = key_from(7);
        let e = parsed
            .verify(&[other.public_key().clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid for any key"), "{e}");
        assert!(!parsed.expired(crate::map::state::now()));
        assert!(parsed.expired(parsed.not_after + 1));
    }

    #[test]
    fn a_tampered_approval_is_refused_or_does_not_verify() {
        let key = key();
        let keys = [key.public_key().clone()];
        let approval = Approval::new(removals(), Duration::from_secs(3600), Some(&key)).unwrap();
        let text = approval.to_text().unwrap();
        // Another address: the digest no longer matches.
        let e = Approval::parse(&format!("{text}u9@example.com\n"), Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("digest does not match"), "{e}");
        // A later expiry: parses, but the signature does not cover it.
        let later = text.replacen("not-after: 2", "not-after: 3", 1);
        let parsed = Approval::parse(&later, Path::new("x")).unwrap();
        assert!(parsed.verify(&keys).is_err());
        // Another nonce (to replay it as new): same.
        let nonce = text.replacen(&approval.nonce, &"0".repeat(32), 1);
        assert!(
            Approval::parse(&nonce, Path::new("x"))
                .unwrap()
                .verify(&keys)
                .is_err()
        );
        // Unsigned.
        let unsigned = Approval::new(removals(), Duration::from_secs(3600), None).unwrap();
        let parsed = Approval::parse(&unsigned.to_text().unwrap(), Path::new("x")).unwrap();
        assert!(
            parsed
                .verify(&keys)
                .unwrap_err()
                .to_string()
                .contains("not signed")
        );
    }

    #[test]
    fn a_forged_approval_is_refused_by_its_signature_before_its_addresses_are_read() {
        let approval = Approval::new(removals(), Duration::from_secs(3600), Some(&key())).unwrap();
        let text = approval.to_text().unwrap();
        let path = Path::new("x");
        let (parsed, signer) =
            Approval::parse_signed(&text, path, &[key().public_key().clone()]).unwrap();
        assert_eq!(parsed, approval);
        assert!(signer.starts_with("SHA256:"), "{signer}");
        // Another key, and lines after the signature that are no addresses: the signature is
        // what is refused (the lines were never read).
        let e = Approval::parse_signed(
            &format!("{text}NOT AN ADDRESS\n"),
            path,
            &[key_from(7).public_key().clone()],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not valid for any key"), "{e}");
        // Signed, but more lines than the signed count: refused without reading them all.
        let e = Approval::parse_signed(
            &format!("{text}u9@example.com\n"),
            path,
            &[key().public_key().clone()],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not match"), "{e}");
    }

    #[test]
    fn a_file_holds_several_approvals_one_after_the_other() {
        let a = Approval::new(removals(), Duration::from_secs(60), Some(&key())).unwrap();
        let b = Approval::new(
            Removals::new(vec!["x@example.com".into()]),
            Duration::from_secs(60),
            None,
        )
        .unwrap();
        let text = format!("{}{}", a.to_text().unwrap(), b.to_text().unwrap());
        let parsed: Vec<Approval> = split(&text)
            .map(|t| Approval::parse(t, Path::new("x")).unwrap())
            .collect();
        assert_eq!(parsed, [a, b]);
        assert_eq!(split("").count(), 0);
        // Something before the first approval is not skipped: it is refused as one.
        let e = Approval::parse(
            split(&format!("junk\n{text}")).next().unwrap(),
            Path::new("x"),
        );
        assert!(e.is_err());
    }

    #[test]
    fn keys_are_checked() {
        assert!(parse_public(&key().public_key().to_openssh().unwrap()).is_ok());
        let e = parse_public("ssh-ed25519 garbage").unwrap_err().to_string();
        assert!(e.contains("not an OpenSSH public key line"), "{e}");
    }
}
