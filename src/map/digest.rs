//! SHA-256 digests in lower-case hex: how rcptsync names a map's content in the push
//! payload, the push record, the installed map's record and the change marks of file
//! sources. Files are hashed as a stream, never read whole.

use std::io::Read;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// SHA-256 of `bytes` in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of everything `input` yields, in lower-case hex.
pub fn sha256_reader(input: &mut impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(input, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// SHA-256 of the file at `path`, read in a stream.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    sha256_reader(&mut crate::fs::File::open(path)?)
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_from_bytes_reader_and_file() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha256_hex(b""), empty);
        assert_eq!(sha256_reader(&mut &b""[..]).unwrap(), empty);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs_err::write(&path, "abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
