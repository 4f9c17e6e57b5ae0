//! `kind = "ldif"`: an RFC 2849 LDIF export, as written by `ldifde` or `ldapsearch`.
//!
//! Handles what those tools really write: an optional `version:` line, `#` comments, folded
//! lines, base64 (`::`) values, CRLF line ends, `changetype: add` (ldifde), attribute options
//! (`proxyAddresses;range=0-1499`), and ldapsearch's `search:`/`result:` trailer records.
//!
//! The reader refuses exports that are visibly incomplete, because a shorter export means a
//! shorter map: a `result:` other than `0 Success` (ldapsearch hit a size or time limit), or a
//! ranged attribute whose last range does not end in `*` (the remaining values were never
//! fetched). Every error names the file and line.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::rules::Entry;

/// Why an LDIF file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read (the message names it).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The content is not LDIF we can trust.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The LDIF file.
        path: PathBuf,
        /// 1-based line where the problem starts.
        line: usize,
        /// What is wrong and, where there is one, the fix.
        message: String,
    },
}

/// One logical line: folded continuations joined, line end removed.
struct Logical {
    line: usize,
    bytes: Vec<u8>,
}

/// An attribute's ranges (`;range=LOW-HIGH`) seen so far in one entry.
struct Ranged {
    name: String,
    line: usize,
    ranges: Vec<(u64, Option<u64>)>,
}

/// Streams the entries of an LDIF file, one [`Entry`] at a time, so that memory does not grow
/// with the size of the export.
pub struct Reader<R> {
    input: R,
    path: PathBuf,
    line: usize,
    started: bool,
    /// The last ldapsearch trailer (`search:`/`result:`): its line, and whether its paged-results
    /// control announced more pages.
    last_trailer: Option<(usize, bool)>,
    /// The first entry after that trailer, if any.
    entry_after_trailer: Option<usize>,
    /// The file starts with ldapsearch's `# extended LDIF` header: it must end with its
    /// result trailer, or it was cut.
    extended: bool,
}

impl Reader<BufReader<crate::fs::File>> {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = crate::fs::File::open(path)?;
        Ok(Self::new(BufReader::with_capacity(1 << 16, file), path))
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads LDIF from `input`; `path` is used in messages.
    pub fn new(input: R, path: &Path) -> Self {
        Self {
            input,
            path: path.to_owned(),
            line: 0,
            started: false,
            last_trailer: None,
            entry_after_trailer: None,
            extended: false,
        }
    }

    fn syntax(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Syntax {
            path: self.path.clone(),
            line,
            message: message.into(),
        }
    }

    /// Reads one physical line without its line end; None at end of file.
    fn physical(&mut self, buf: &mut Vec<u8>) -> Result<bool, Error> {
        if self.input.read_until(b'\n', buf)? == 0 {
            return Ok(false);
        }
        self.line += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(true)
    }

    /// Reads the next logical line, unfolding continuation lines (those starting with one space).
    fn logical(&mut self) -> Result<Option<Logical>, Error> {
        let mut bytes = Vec::new();
        if !self.physical(&mut bytes)? {
            return Ok(None);
        }
        let line = self.line;
        if line == 1 {
            self.check_encoding(&mut bytes)?;
            self.extended = bytes.starts_with(b"# extended LDIF");
        }
        while self.input.fill_buf()?.first() == Some(&b' ') {
            let mut next = Vec::new();
            self.physical(&mut next)?;
            bytes.extend_from_slice(&next[1..]);
        }
        Ok(Some(Logical { line, bytes }))
    }

    /// ldifde writes UTF-16 with `-u`; say so instead of failing on garbage.
    fn check_encoding(&self, first: &mut Vec<u8>) -> Result<(), Error> {
        if first.starts_with(&[0xFF, 0xFE]) || first.starts_with(&[0xFE, 0xFF]) {
            return Err(self.syntax(
                1,
                "the file is UTF-16 (ldifde -u); export without -u, or convert it with `iconv -f UTF-16 -t UTF-8`",
            ));
        }
        if first.starts_with(&[0xEF, 0xBB, 0xBF]) {
            first.drain(..3);
        }
        Ok(())
    }

    /// Reads the next record's lines (comments dropped); empty at end of file.
    fn record(&mut self) -> Result<Vec<Logical>, Error> {
        let mut lines = Vec::new();
        while let Some(logical) = self.logical()? {
            if logical.bytes.is_empty() {
                if lines.is_empty() {
                    continue;
                }
                break;
            }
            if logical.bytes.first() == Some(&b'#') {
                continue;
            }
            lines.push(logical);
        }
        Ok(lines)
    }

    /// Splits `name[;options]: value` / `name:: base64` into name, options and value bytes.
    fn attribute(&self, logical: &Logical) -> Result<(String, String, Vec<u8>), Error> {
        let bytes = &logical.bytes;
        let Some(colon) = bytes.iter().position(|&b| b == b':') else {
            return Err(self.syntax(
                logical.line,
                format!(
                    "expected `attribute: value`, found {:?} (a continuation line must start with exactly one space)",
                    String::from_utf8_lossy(bytes)
                ),
            ));
        };
        let description = &bytes[..colon];
        if description.is_empty()
            || !description
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-.;=*".contains(&b))
        {
            return Err(self.syntax(
                logical.line,
                format!(
                    "invalid attribute description {:?} (expected `attribute: value`)",
                    String::from_utf8_lossy(description)
                ),
            ));
        }
        let description = String::from_utf8_lossy(description).to_ascii_lowercase();
        let (name, options) = match description.split_once(';') {
            Some((name, options)) => (name.to_owned(), options.to_owned()),
            None => (description, String::new()),
        };
        let rest = &bytes[colon + 1..];
        let value = match rest.first() {
            Some(b':') => {
                let encoded: Vec<u8> = rest[1..].iter().copied().filter(|&b| b != b' ').collect();
                base64::engine::general_purpose::STANDARD
                    .decode(&encoded)
                    .map_err(|e| {
                        self.syntax(
                            logical.line,
                            format!("invalid base64 value for {name}: {e}"),
                        )
                    })?
            }
            Some(b'<') => {
                return Err(self.syntax(
                    logical.line,
                    format!("{name}: values given by URL (`:<`) are not supported; export the value inline"),
                ));
            }
            _ => {
                let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
                rest[start..].to_vec()
            }
        };
        Ok((name, options, value))
    }

    /// Parses one record into an entry; None for records that carry no entry (version line,
    /// search references, successful ldapsearch result trailers).
    fn entry(&mut self, lines: Vec<Logical>) -> Result<Option<Entry>, Error> {
        let mut lines = lines.into_iter();
        let Some(first) = lines.next() else {
            return Ok(None);
        };
        let (name, _, value) = self.attribute(&first)?;
        let first_record = !self.started;
        self.started = true;
        match name.as_str() {
            "version" if first_record => {
                if value != b"1" {
                    return Err(self.syntax(
                        first.line,
                        format!(
                            "unsupported LDIF version {:?}",
                            String::from_utf8_lossy(&value)
                        ),
                    ));
                }
                // RFC 2849 allows the first record to follow the version line directly.
                return self.entry(lines.collect());
            }
            "dn" => {
                if self.last_trailer.is_some() && self.entry_after_trailer.is_none() {
                    self.entry_after_trailer = Some(first.line);
                }
            }
            "search" => {
                let more = self.search_result(lines)?;
                self.last_trailer = Some((first.line, more));
                self.entry_after_trailer = None;
                return Ok(None);
            }
            "ref" => return Ok(None),
            _ => {
                return Err(self.syntax(
                    first.line,
                    format!("a record must start with `dn:`, found `{name}:`"),
                ));
            }
        }
        let dn = String::from_utf8_lossy(&value).into_owned();
        self.attributes(dn, lines).map(Some)
    }

    /// The entry `dn` from the rest of its record's `lines`: each attribute value, with the
    /// ranged ones (`member;range=0-1499`) checked to be complete.
    fn attributes(&self, dn: String, lines: impl Iterator<Item = Logical>) -> Result<Entry, Error> {
        let mut entry = Entry {
            dn,
            ..Entry::default()
        };
        let mut ranged: Vec<Ranged> = Vec::new();
        for logical in lines {
            let (name, options, value) = self.attribute(&logical)?;
            if name == "dn" {
                return Err(self.syntax(
                    logical.line,
                    "`dn:` inside a record; records must be separated by a blank line",
                ));
            }
            if name == "changetype" {
                if !value.eq_ignore_ascii_case(b"add") {
                    return Err(self.syntax(
                        logical.line,
                        format!(
                            "entry {:?}: changetype {:?} is a change record, not an export of the directory",
                            entry.dn,
                            String::from_utf8_lossy(&value)
                        ),
                    ));
                }
                continue;
            }
            // Only the attributes the rules read must be complete; a big group's ranged
            // `member` is none of rcptsync's business.
            let used = Entry::ATTRIBUTES
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&name));
            if let Some(range) = options
                .split(';')
                .find_map(|o| o.strip_prefix("range="))
                .filter(|_| used)
            {
                let parsed = parse_range(range).ok_or_else(|| {
                    self.syntax(
                        logical.line,
                        format!("invalid range option {range:?} on {name}"),
                    )
                })?;
                match ranged.iter_mut().find(|r| r.name == name) {
                    Some(r) => r.ranges.push(parsed),
                    None => ranged.push(Ranged {
                        name: name.clone(),
                        line: logical.line,
                        ranges: vec![parsed],
                    }),
                }
            }
            entry.add_value(&name, &value);
        }
        for r in &mut ranged {
            if !complete(&mut r.ranges) {
                return Err(self.syntax(
                    r.line,
                    format!(
                        "entry {:?}: {} was exported in ranges and the export stops before the last value; \
                         the export is incomplete (re-export with a tool that retrieves every range, such as ldifde \
                         or rcptsync's LDAP source)",
                        entry.dn, r.name
                    ),
                ));
            }
        }
        Ok(entry)
    }

    /// ldapsearch's trailer: `search: N`, `result: CODE text`, and with paging a `control:` line
    /// holding the paged-results cookie. Anything but success means the search stopped early,
    /// so the export is incomplete. Returns whether the cookie announces more pages.
    fn search_result(&self, lines: impl Iterator<Item = Logical>) -> Result<bool, Error> {
        let mut more = false;
        for logical in lines {
            let (name, _, value) = self.attribute(&logical)?;
            let value_text = String::from_utf8_lossy(&value);
            if name == "control" && value_text.starts_with(PAGED_RESULTS_OID) {
                let encoded = value_text
                    .split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches(':');
                let cookie_empty = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
                    .and_then(|ber| paged_cookie_is_empty(&ber));
                match cookie_empty {
                    Some(empty) => more = !empty,
                    None => {
                        return Err(self.syntax(
                            logical.line,
                            format!("cannot read the paged-results control {value_text:?}, so the export may be incomplete"),
                        ));
                    }
                }
            }
            if name == "result" {
                let value = String::from_utf8_lossy(&value);
                if !value.starts_with("0 ") && value != "0" {
                    return Err(self.syntax(
                        logical.line,
                        format!(
                            "ldapsearch reported `result: {value}`: the export is incomplete; \
                             export with paging (ldapsearch -E pr=1000/noprompt) and check that it ends in `result: 0 Success`"
                        ),
                    ));
                }
            }
        }
        Ok(more)
    }

    /// At the end of the file: an ldapsearch export must end with its last page's trailer.
    fn check_end(&self) -> Result<(), Error> {
        match (self.last_trailer, self.entry_after_trailer) {
            (Some(_), Some(line)) => Err(self.syntax(
                line,
                "entries follow the last `search:`/`result:` trailer: ldapsearch was cut off in the middle \
                 of a page and the export is incomplete; export again",
            )),
            (Some((line, true)), None) => Err(self.syntax(
                line,
                "the last page's paged-results cookie is not empty: ldapsearch stopped before the last \
                 page and the export is incomplete; export again",
            )),
            (None, _) if self.extended => Err(self.syntax(
                self.line,
                "the file starts as an ldapsearch export (`# extended LDIF`) but does not end with \
                 its result (`# search result`, `result: 0 Success`): it looks truncated (a cut \
                 copy, or an ldapsearch that was killed); export again",
            )),
            _ => Ok(()),
        }
    }
}

/// One `name: value` line of LDIF, base64-encoded (`name:: ...`) when RFC 2849 requires it:
/// non-ASCII, control characters, or a leading space, colon or `<`.
pub fn line(name: &str, value: &str) -> String {
    let safe = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe {
        format!("{name}: {value}\n")
    } else {
        format!(
            "{name}:: {}\n",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

/// `entry` as an LDIF record (the attributes the rules use, as [`Reader`] reads them back),
/// for `extract --dump-entries`: what a source returned becomes an LDIF source of its own.
pub fn record(entry: &Entry) -> String {
    let mut text = line("dn", &entry.dn);
    for value in &entry.proxy_addresses {
        text.push_str(&line("proxyAddresses", value));
    }
    for value in &entry.mail {
        text.push_str(&line("mail", value));
    }
    if entry.require_auth {
        text.push_str("msExchRequireAuthToSendTo: TRUE\n");
    }
    text.push('\n');
    text
}

/// The paged-results control's OID (RFC 2696).
const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

/// Some(true) when the paged-results control value `ber` has an empty cookie (the search is
/// over), None when the value is not of that shape.
fn paged_cookie_is_empty(ber: &[u8]) -> Option<bool> {
    super::ber::paged_cookie(ber).map(<[u8]>::is_empty)
}

/// `0-1499` or `1500-*`.
fn parse_range(range: &str) -> Option<(u64, Option<u64>)> {
    let (low, high) = range.split_once('-')?;
    let low = low.parse().ok()?;
    let high = if high == "*" {
        None
    } else {
        Some(high.parse::<u64>().ok()?)
    };
    Some((low, high))
}

/// True when the ranges cover 0 to the end (`*`) without a gap.
fn complete(ranges: &mut [(u64, Option<u64>)]) -> bool {
    ranges.sort_unstable();
    let mut next = 0;
    for &(low, high) in ranges.iter() {
        if low > next {
            return false;
        }
        match high {
            None => return true,
            Some(high) => next = next.max(high.saturating_add(1)),
        }
    }
    false
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let lines = match self.record() {
                Ok(lines) if lines.is_empty() => return self.check_end().err().map(Err),
                Ok(lines) => lines,
                Err(e) => return Some(Err(e)),
            };
            match self.entry(lines) {
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Entry>, Error> {
        Reader::new(text.as_bytes(), Path::new("t.ldif")).collect()
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn plain_entries_and_multi_values() {
        let entries = parse(
            "version: 1\n\n# comment\ndn: CN=A,DC=x\nobjectClass: user\nproxyAddresses: SMTP:a@x.com\n\
             proxyAddresses: smtp:a2@x.com\nmail: a@x.com\nmsExchRequireAuthToSendTo: FALSE\n\n\n\
             dn: CN=B,DC=x\nPROXYADDRESSES: X500:/o=x\nmsExchRequireAuthToSendTo: TRUE\n",
        )
        .unwrap();
        assert_eq!(
            entries,
            [
                Entry {
                    dn: "CN=A,DC=x".into(),
                    proxy_addresses: vec!["SMTP:a@x.com".into(), "smtp:a2@x.com".into()],
                    mail: vec!["a@x.com".into()],
                    require_auth: false,
                },
                Entry {
                    dn: "CN=B,DC=x".into(),
                    proxy_addresses: vec!["X500:/o=x".into()],
                    mail: vec![],
                    require_auth: true,
                },
            ]
        );
    }

    #[test]
    fn folded_lines_base64_and_crlf() {
        // "SMTP:jörg@x.com" in base64, folded over two lines; a DN folded too; CRLF ends.
        let entries = parse(
            "dn:: Q049SsO2cmcs\r\n REM9eA==\r\nproxyAddresses: SMTP:very.long.addr\r\n ess@x.com\r\n\
             proxyAddresses:: c210cDpqw7ZyZ0B4\r\n LmNvbQ==\r\n# a comment\r\n  folded into the comment\r\n",
        )
        .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].dn, "CN=Jörg,DC=x");
        assert_eq!(
            entries[0].proxy_addresses,
            ["SMTP:very.long.address@x.com", "smtp:jörg@x.com"]
        );
    }

    #[test]
    fn version_line_may_precede_first_record_directly() {
        let entries = parse("version: 1\ndn: CN=A\nmail: a@x.com\n").unwrap();
        assert_eq!(entries[0].mail, ["a@x.com"]);
        assert!(error("version: 2\n").contains("t.ldif:1: unsupported LDIF version \"2\""));
    }

    #[test]
    fn ldifde_changetype_add_and_bom() {
        let entries = parse("\u{feff}dn: CN=A\nchangetype: add\nmail: a@x.com\n").unwrap();
        assert_eq!(entries[0].dn, "CN=A");
        let e = error("dn: CN=A\nchangetype: modify\nreplace: mail\n");
        assert!(
            e.contains("t.ldif:2:") && e.contains("change record"),
            "{e}"
        );
        let utf16 = Reader::new(&[0xFF, 0xFE, b'd', 0][..], Path::new("u.ldif"))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err()
            .to_string();
        assert!(utf16.contains("UTF-16"), "{utf16}");
    }

    #[test]
    fn ldapsearch_trailers() {
        let ok = "# extended LDIF\n#\n\n# A\ndn: CN=A\nmail: a@x.com\n\n# search reference\nref: ldap://x/DC=y\n\n\
                  # search result\nsearch: 2\nresult: 0 Success\ncontrol: 1.2.840.113556.1.4.319 false MAUCAQAEAA==\n\n# numEntries: 1\n";
        assert_eq!(parse(ok).unwrap().len(), 1);
        let truncated = "dn: CN=A\nmail: a@x.com\n\n# search result\nsearch: 2\nresult: 4 Size limit exceeded\n";
        let e = error(truncated);
        assert!(
            e.starts_with("t.ldif:6: ldapsearch reported `result: 4 Size limit exceeded`"),
            "{e}"
        );
    }

    #[test]
    fn an_ldapsearch_export_without_its_trailer_is_refused_as_truncated() {
        let head = "# extended LDIF\n#\n# LDAPv3\n# base <DC=x> with scope subtree\n#\n\n\
                    # A\ndn: CN=A\nmail: a@x.com\n\n# B\ndn: CN=B\nmail: b@x.com\n";
        let e = error(head);
        assert!(
            e.starts_with("t.ldif:13: the file starts as an ldapsearch export"),
            "{e}"
        );
        assert!(e.contains("looks truncated"), "{e}");
        // With the trailer it is whole; without the header (-LLL, ldifde) none is needed.
        let whole =
            format!("{head}\n# search result\nsearch: 2\nresult: 0 Success\n\n# numEntries: 2\n");
        assert_eq!(parse(&whole).unwrap().len(), 2);
        assert_eq!(parse("dn: CN=A\nmail: a@x.com\n").unwrap().len(), 1);
    }

    #[test]
    fn interrupted_paged_ldapsearch_exports_are_refused() {
        const MORE: &str = "control: 1.2.840.113556.1.4.319 false MA0CAQAECAsAAAAAAAAA\n";
        const DONE: &str = "control: 1.2.840.113556.1.4.319 false MAUCAQAEAA==\n";
        let page = |n: usize, control: &str| {
            format!(
                "dn: CN=P{n}\nmail: p{n}@x.com\n\n# search result\nsearch: {n}\nresult: 0 Success\n{control}\n"
            )
        };
        // Two pages, the last with an empty cookie: complete.
        assert_eq!(
            parse(&format!("{}{}", page(2, MORE), page(3, DONE)))
                .unwrap()
                .len(),
            2
        );
        // Cut after a page that announced more: incomplete.
        let e = error(&page(2, MORE));
        assert!(
            e.starts_with("t.ldif:5: the last page's paged-results cookie is not empty"),
            "{e}"
        );
        // Cut in the middle of the next page: entries after the last trailer.
        let e = error(&format!("{}dn: CN=Q\nmail: q@x.com\n", page(2, MORE)));
        assert!(e.starts_with("t.ldif:9: entries follow the last"), "{e}");
        // An unreadable control is not taken for the end.
        assert!(
            error(&page(2, "control: 1.2.840.113556.1.4.319 false !!!\n"))
                .contains("cannot read the paged-results control")
        );
        // Exports without trailers (ldapsearch -LLL, ldifde) cannot say, and are accepted.
        assert_eq!(parse("dn: CN=A\nmail: a@x.com\n").unwrap().len(), 1);
    }

    #[test]
    fn a_paged_control_with_a_huge_length_is_refused_not_a_panic() {
        // Found writing fuzz/ (the ldif target crashes on it): an INTEGER whose long-form
        // length is 2^64 - 1 made the offset of the cookie overflow (a panic with overflow
        // checks; in release the wrapped offset happened to be refused too).
        // BER: 30 0e 02 88 ff*8 04 00.
        let e = error(
            "dn: CN=A\nmail: a@x.com\n\nsearch: 2\nresult: 0 Success\n\
             control: 1.2.840.113556.1.4.319 false MA4CiP//////////BAA=\n",
        );
        assert!(e.contains("cannot read the paged-results control"), "{e}");
    }

    #[test]
    fn lines_are_encoded_when_they_must_be() {
        assert_eq!(line("dn", "CN=A,DC=x"), "dn: CN=A,DC=x\n");
        assert_eq!(line("dn", "CN=Jörg"), "dn:: Q049SsO2cmc=\n");
        assert_eq!(line("x", ":a"), "x:: OmE=\n");
        assert_eq!(line("x", "a "), "x:: YSA=\n");
        // What is written reads back the same.
        let text = format!(
            "{}{}",
            line("dn", "CN=Jörg"),
            line("proxyAddresses", " smtp:x@y")
        );
        let entries: Vec<Entry> = Reader::new(text.as_bytes(), Path::new("t"))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(entries[0].dn, "CN=Jörg");
        assert_eq!(entries[0].proxy_addresses, [" smtp:x@y"]);
    }

    #[test]
    fn a_missing_blank_line_between_records_is_an_error() {
        let e = error("dn: CN=A\nmail: a@x.com\ndn: CN=B\nmsExchRequireAuthToSendTo: TRUE\n");
        assert!(e.starts_with("t.ldif:3: `dn:` inside a record"), "{e}");
    }

    #[test]
    fn ranged_attributes() {
        let complete = "dn: CN=A\nproxyAddresses;range=0-1: smtp:a@x.com\nproxyAddresses;range=0-1: smtp:b@x.com\n\
                        proxyAddresses;range=2-*: smtp:c@x.com\n";
        assert_eq!(parse(complete).unwrap()[0].proxy_addresses.len(), 3);
        let truncated = "dn: CN=A\nproxyAddresses;range=0-1499: smtp:a@x.com\n";
        let e = error(truncated);
        assert!(
            e.starts_with("t.ldif:2: entry \"CN=A\": proxyaddresses was exported in ranges"),
            "{e}"
        );
        let gap = "dn: CN=A\nproxyAddresses;range=0-1: smtp:a@x.com\nproxyAddresses;range=5-*: smtp:c@x.com\n";
        assert!(error(gap).contains("incomplete"));
        assert!(error("dn: CN=A\nmail;range=x-1: a\n").contains("invalid range option"));
        // Ranges on attributes the rules do not read do not matter.
        assert_eq!(
            parse("dn: CN=G\nmember;range=0-1499: CN=A\nmail: g@x.com\n")
                .unwrap()
                .len(),
            1
        );
        assert!(
            error("dn: CN=A\nproxyAddresses;range=0-18446744073709551615: smtp:a@x.com\n")
                .contains("incomplete")
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(
            error("dn: CN=A\nmail a@x.com\n").split(':').nth(1),
            Some("2")
        );
        assert!(error("dn: CN=A\nmail a@x.com\n").contains("exactly one space"));
        assert!(error("mail: a@x.com\n").contains("t.ldif:1: a record must start with `dn:`"));
        assert!(
            error("dn: CN=A\nmail:: !!!\n").contains("t.ldif:2: invalid base64 value for mail")
        );
        assert!(error("dn: CN=A\nmail:< file:///etc/passwd\n").contains("not supported"));
        assert!(error("dn: CN=A\nma il: x\n").contains("invalid attribute description"));
    }

    #[test]
    fn target_address_is_never_read() {
        let entries = parse("dn: CN=Contact\ntargetAddress: SMTP:ext@other.org\nproxyAddresses: SMTP:ext@other.org\n").unwrap();
        assert_eq!(entries[0].proxy_addresses, ["SMTP:ext@other.org"]);
        assert!(entries[0].mail.is_empty());
    }

    #[test]
    fn a_record_reads_back_as_the_same_entry() {
        let entry = Entry {
            dn: "CN=Zoë \\, Odd,OU=Staff,DC=example,DC=com".into(),
            proxy_addresses: vec!["SMTP:z@example.com".into(), "smtp:a\nb@example.com".into()],
            mail: vec!["z@example.com".into()],
            require_auth: true,
        };
        let text = record(&entry);
        let back: Vec<Entry> = Reader::new(text.as_bytes(), Path::new("dump.ldif"))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, [entry]);
    }
}
