//! The relay domains beside the map (`PATH.domains`): the accepted domains of the run that
//! made the map, one a line, which `push` carries after it so that a gateway with
//! `[install].relay_domains_map` relays exactly what the directory accepts
//! ([`crate::install::relay`] checks and installs them there).
//!
//! Exact names as they are, wildcards as the config writes them (`*.example.com`: every
//! subdomain, not the domain itself), sorted, lower case. The file is replaced only when its
//! text changes, atomically, as the map is.

use std::path::{Path, PathBuf};

use super::atomic::Error;
use super::payload::MAX_DOMAINS;

/// Where the relay domains of the map at `map` are kept.
pub fn path(map: &Path) -> PathBuf {
    super::with_suffix(map, ".domains")
}

/// The file's text for `patterns` (each already lower case): sorted, without duplicates.
pub fn render<'a>(patterns: impl IntoIterator<Item = &'a str>) -> String {
    let sorted: std::collections::BTreeSet<&str> = patterns.into_iter().collect();
    sorted.iter().map(|p| format!("{p}\n")).collect()
}

/// Writes `text` as the relay domains of the map at `map`, unless they are that already
/// (a file that cannot be read is replaced); whether it wrote them.
pub fn write(map: &Path, text: &str) -> Result<bool, Error> {
    if read(map).ok().flatten().as_deref() == Some(text.as_bytes()) {
        return Ok(false);
    }
    super::atomic::write(&path(map), text.as_bytes(), 0o644)?;
    Ok(true)
}

/// The relay domains of the map at `map` as the file has them (at most [`MAX_DOMAINS`]
/// bytes, which is what a payload may carry); None when extract has not written them.
pub fn read(map: &Path) -> Result<Option<Vec<u8>>, Error> {
    let path = path(map);
    match super::nofollow::read_small(&path, MAX_DOMAINS) {
        Ok(text) => Ok(text.map(String::into_bytes)),
        Err(cause) => Err(Error { path, cause }),
    }
}

/// What a gateway is recorded as having when it acknowledges a push: the map's digest, and
/// with relay domains the first 16 hex digits of theirs, so that a change of the domains
/// alone is pushed too (and `status` shows a gateway without them as behind).
pub fn delivered(map_sha256: &str, domains: Option<&[u8]>) -> String {
    match domains {
        None => map_sha256.to_owned(),
        Some(domains) => {
            let digest = super::digest::sha256_hex(domains);
            format!("{map_sha256}+{}", &digest[..16])
        }
    }
}

/// The map's digest in what [`delivered`] made.
pub fn map_part(delivered: &str) -> &str {
    delivered.split('+').next().unwrap_or(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_sorted_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("relay_recipients");
        assert_eq!(read(&map).unwrap(), None);
        let text = render(["example.org", "*.example.com", "example.org", "example.com"]);
        assert_eq!(text, "*.example.com\nexample.com\nexample.org\n");
        assert!(write(&map, &text).unwrap());
        let mark = crate::fs::metadata(path(&map)).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!write(&map, &text).unwrap());
        let again = crate::fs::metadata(path(&map)).unwrap().modified().unwrap();
        assert_eq!(mark, again, "an unchanged list is not rewritten");
        assert_eq!(read(&map).unwrap().unwrap(), text.as_bytes());
    }
}
