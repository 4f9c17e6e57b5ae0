//! The keytab as rcptsync reads it: the `keytab` and `principal` of a source, the principals
//! a keytab file has keys for (so that a wrong principal or a file that is not a keytab is
//! named before the KDC is asked anything), and why a keytab cannot be used.

use std::path::PathBuf;

/// `keytab` and `principal` of a `[[source]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keytab {
    /// The keytab file (from `ktpass`, `samba-tool domain exportkeytab`, `msktutil`).
    pub path: PathBuf,
    /// The principal to authenticate as, `svc-rcptsync@EXAMPLE.COM`.
    pub principal: String,
}

/// Why no Kerberos credential could be had from the keytab; the admin's to fix (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file failed the checks of a secret (or could not be read).
    #[error(transparent)]
    File(#[from] crate::secret::Error),
    /// Not a keytab this rcptsync can read.
    #[error(
        "{} is not a keytab: {reason}; export one with `ktpass`, `samba-tool domain exportkeytab` or `msktutil`",
        path.display()
    )]
    Format {
        /// The keytab.
        path: PathBuf,
        /// What is wrong.
        reason: FormatError,
    },
    /// The principal has no key in the keytab.
    #[error("{} has no key for {principal} (it has: {}); set principal to one of those, or export a keytab for {principal}", path.display(), if .found.is_empty() { "no keys".to_owned() } else { .found.join(", ") })]
    NoSuchPrincipal {
        /// The keytab.
        path: PathBuf,
        /// The principal asked for.
        principal: String,
        /// The principals it has keys for.
        found: Vec<String>,
    },
    /// This build has no Kerberos.
    #[error(
        "this rcptsync was built without Kerberos support; install the Debian package, or build with `cargo build --release --features kerberos`"
    )]
    NotBuilt,
}

/// Why a file is not a keytab rcptsync can read: said with the file ([`Error::Format`]), so
/// that the admin knows to export it again rather than to look for a Kerberos problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The old format in the writer's byte order, which no current tool writes.
    #[error("version 0x0501 (native byte order) is not supported; export it again")]
    NativeByteOrder,
    /// Not a keytab at all (a password file, a PEM file, an empty file).
    #[error("it does not start with a keytab version (0x0502)")]
    NoVersion,
    /// An entry's length does not fit this machine's memory.
    #[error("entry too long")]
    EntryTooLong,
    /// Cut short: copied or written incompletely.
    #[error("an entry runs past the end of the file")]
    Truncated,
    /// An entry whose principal cannot be read.
    #[error("an entry is malformed")]
    Malformed,
    /// Larger than any keytab (the bound, in bytes): it is not one.
    #[error("it is larger than {0} bytes")]
    TooLarge(u64),
}

/// The principals a keytab has keys for, in file order, once each (the MIT/Heimdal format,
/// version 0x0502, that every current tool writes), so that a principal the keytab lacks is
/// named with the ones it has before the KDC is asked.
pub fn principals(bytes: &[u8]) -> Result<Vec<String>, FormatError> {
    match bytes {
        [0x05, 0x02, ..] => {}
        [0x05, 0x01, ..] => return Err(FormatError::NativeByteOrder),
        _ => return Err(FormatError::NoVersion),
    }
    let mut rest = &bytes[2..];
    let mut found: Vec<String> = Vec::new();
    while rest.len() >= 4 {
        let size = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        let len = usize::try_from(size.unsigned_abs()).map_err(|_| FormatError::EntryTooLong)?;
        if size == 0 {
            break;
        }
        let entry = rest.get(..len).ok_or(FormatError::Truncated)?;
        rest = &rest[len..];
        if size < 0 {
            // A hole left by a deleted entry.
            continue;
        }
        let principal = entry_principal(entry).ok_or(FormatError::Malformed)?;
        if !found.contains(&principal) {
            found.push(principal);
        }
    }
    Ok(found)
}

/// `component/component@REALM` of one keytab entry.
fn entry_principal(entry: &[u8]) -> Option<String> {
    let mut at = 0usize;
    let u16_at = |at: &mut usize| -> Option<usize> {
        let b = entry.get(*at..*at + 2)?;
        *at += 2;
        Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let components = u16_at(&mut at)?;
    let counted = |at: &mut usize| -> Option<String> {
        let len = u16_at(at)?;
        let text = entry.get(*at..*at + len)?;
        *at += len;
        String::from_utf8(text.to_vec()).ok()
    };
    let realm = counted(&mut at)?;
    let mut names = Vec::with_capacity(components);
    for _ in 0..components {
        names.push(counted(&mut at)?);
    }
    Some(format!("{}@{realm}", names.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keytab entry for `components@realm` (one key), as `ktutil` writes it.
    fn entry(components: &[&str], realm: &str) -> Vec<u8> {
        let counted = |s: &str| {
            let mut v = (s.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(s.as_bytes());
            v
        };
        let mut e = (components.len() as u16).to_be_bytes().to_vec();
        e.extend(counted(realm));
        for c in components {
            e.extend(counted(c));
        }
        e.extend(1u32.to_be_bytes()); // name type KRB5_NT_PRINCIPAL
        e.extend(0u32.to_be_bytes()); // timestamp
        e.push(2); // kvno
        e.extend(18u16.to_be_bytes()); // aes256-cts
        e.extend(counted("0123456789abcdef0123456789abcdef"));
        e.extend(2u32.to_be_bytes());
        let mut out = (e.len() as i32).to_be_bytes().to_vec();
        out.extend(e);
        out
    }

    #[test]
    fn keytab_principals_are_listed_once_holes_skipped() {
        let mut kt = vec![0x05, 0x02];
        kt.extend(entry(&["svc-rcptsync"], "EXAMPLE.TEST"));
        kt.extend(entry(&["svc-rcptsync"], "EXAMPLE.TEST"));
        kt.extend((-6i32).to_be_bytes());
        kt.extend([0u8; 6]);
        kt.extend(entry(&["ldap", "dc1.example.test"], "EXAMPLE.TEST"));
        assert_eq!(
            principals(&kt).unwrap(),
            [
                "svc-rcptsync@EXAMPLE.TEST",
                "ldap/dc1.example.test@EXAMPLE.TEST"
            ]
        );
    }

    #[test]
    fn things_that_are_not_keytabs_are_refused() {
        assert_eq!(principals(b""), Err(FormatError::NoVersion));
        assert_eq!(principals(b"secret\n"), Err(FormatError::NoVersion));
        let native = principals(&[0x05, 0x01, 0, 0]).unwrap_err();
        assert_eq!(native, FormatError::NativeByteOrder);
        assert!(native.to_string().contains("0x0501"));
        let mut truncated = vec![0x05, 0x02];
        truncated.extend(entry(&["svc"], "EXAMPLE.TEST"));
        truncated.truncate(truncated.len() - 10);
        assert_eq!(principals(&truncated), Err(FormatError::Truncated));
        let mut short = vec![0x05, 0x02];
        short.extend(5i32.to_be_bytes());
        short.extend([0, 9, 0, 0, 0]);
        assert_eq!(principals(&short), Err(FormatError::Malformed));
        assert_eq!(principals(&[0x05, 0x02]).unwrap(), Vec::<String>::new());
    }
}
