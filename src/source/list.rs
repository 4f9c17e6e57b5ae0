//! `kind = "list"`: one address per line, `#` comments, blank lines ignored.
//!
//! For addresses that live outside the directory (an application's mailbox, a team alias on
//! another system). Lines go through the same rules as directory addresses; a rejected line is
//! reported as `file:line`.

use std::io::{BufRead, BufReader};
use std::path::Path;

/// Reads the list at `path` and calls `each(line_number, address)` for every address line.
pub fn read(path: &Path, mut each: impl FnMut(usize, &str)) -> std::io::Result<()> {
    let mut reader = BufReader::new(crate::fs::File::open(path)?);
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line_no += 1;
        let line = String::from_utf8_lossy(&buf);
        // Only line-level comments: `#` is a legal character inside an address.
        let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        each(line_no, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blanks_and_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        fs_err::write(
            &path,
            "# extra\n\nA@example.com\r\n  b#c@example.com \nbad value\n",
        )
        .unwrap();
        let mut seen = Vec::new();
        read(&path, |n, a| seen.push((n, a.to_owned()))).unwrap();
        assert_eq!(
            seen,
            [
                (3, "A@example.com".into()),
                (4, "b#c@example.com".into()),
                (5, "bad value".into())
            ]
        );
    }
}
