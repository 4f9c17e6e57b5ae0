//! Strict validation of one e-mail address before it may become a map key.
//!
//! The relay recipient map is a security boundary: Postfix looks up `user@domain` and then
//! `@domain`, so a value such as `@example.com` (or one with an embedded newline that splits
//! into such a line) would make the gateway accept mail for a whole domain. Every value that
//! comes from the directory therefore passes through [`normalize`], which accepts only what RFC
//! 5321 allows in a mailbox (dot-atom or quoted local part, host-name domain) and what a text
//! map can carry safely (no whitespace, no control characters), and returns the lower-case
//! key Postfix will query with.
//!
//! Internationalized addresses (SMTPUTF8) are refused with a clear reason rather than passed
//! through half-supported.

use std::borrow::Cow;
use std::fmt;

/// The RFC 5321 limit on a forward path, in octets (`<` and `>` excluded).
const MAX_ADDRESS: usize = 254;
/// The RFC 5321 limit on a local part, in octets.
const MAX_LOCAL: usize = 64;
/// The RFC 1035 limit on one domain label, in octets.
const MAX_LABEL: usize = 63;

/// Why a value is not a safe map key; the text is what an admin reads next to the DN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// Nothing at all.
    Empty,
    /// A control character; `name` says which, because an invisible one is hard to find.
    Control {
        /// Human name of the character (`newline`, `NUL`, ...).
        name: String,
    },
    /// A space inside the value would split the map line into key and value.
    Whitespace,
    /// Non-ASCII characters (SMTPUTF8 addresses are not supported).
    NonAscii {
        /// The first offending character.
        ch: char,
    },
    /// `@domain` alone is Postfix's catch-all key for a whole domain.
    BareDomain,
    /// No `@` at all.
    NoAt,
    /// Nothing after the `@`.
    NoDomain,
    /// More than one unquoted `@`.
    TwoAt,
    /// Longer than RFC 5321 allows.
    TooLong {
        /// The actual length in octets.
        len: usize,
    },
    /// Local part longer than RFC 5321 allows.
    LocalTooLong {
        /// The actual length in octets.
        len: usize,
    },
    /// The local part is neither a dot-atom nor a valid quoted string.
    BadLocal {
        /// What exactly is wrong with it.
        detail: &'static str,
    },
    /// A domain label breaks the host-name rules.
    BadDomain {
        /// The offending label (empty when the label itself is empty).
        label: String,
        /// What exactly is wrong with it.
        detail: &'static str,
    },
    /// `user@[192.0.2.1]`: a gateway relays by domain, never to a literal.
    AddressLiteral,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty value"),
            Self::Control { name } => write!(f, "contains a control character ({name})"),
            Self::Whitespace => write!(f, "contains whitespace"),
            Self::NonAscii { ch } => write!(
                f,
                "contains the non-ASCII character {ch:?} (U+{:04X}); internationalized (SMTPUTF8) addresses are not supported",
                u32::from(*ch)
            ),
            Self::BareDomain => write!(
                f,
                "bare @domain (no local part); as a map key it would accept mail for every address in the domain"
            ),
            Self::NoAt => write!(f, "no @ in the address"),
            Self::NoDomain => write!(f, "nothing after the @"),
            Self::TwoAt => write!(f, "more than one @ (an @ in the local part must be quoted)"),
            Self::TooLong { len } => {
                write!(
                    f,
                    "{len} octets long; an address may have at most {MAX_ADDRESS}"
                )
            }
            Self::LocalTooLong { len } => write!(
                f,
                "local part is {len} octets long; at most {MAX_LOCAL} are allowed"
            ),
            Self::BadLocal { detail } => write!(f, "invalid local part: {detail}"),
            Self::BadDomain { label, detail } if label.is_empty() => {
                write!(f, "invalid domain: {detail}")
            }
            Self::BadDomain { label, detail } => {
                write!(f, "invalid domain label {label:?}: {detail}")
            }
            Self::AddressLiteral => write!(
                f,
                "address literal domains ([...]) are not relay recipients"
            ),
        }
    }
}

impl std::error::Error for AddressError {}

/// Longest part of a bad value quoted in a message.
const QUOTED: usize = 80;

/// `text` quoted for a message: escaped, at most 80 characters, with its length when it was
/// cut. A directory or a spool can hold values of any size, and every warning about one
/// ends up in a cron mail.
pub fn quote(text: &str) -> String {
    quote_at_most(text, QUOTED)
}

/// [`quote`] with another bound: at most `max` characters (a server's sentence is worth
/// more than a value's 80).
pub fn quote_at_most(text: &str, max: usize) -> String {
    let shown: String = text.chars().take(max).collect();
    if shown.len() < text.len() {
        format!("{:?}... ({} bytes)", shown, text.len())
    } else {
        format!("{shown:?}")
    }
}

/// Whether `c` could end or redraw a line or steer a terminal when printed raw: a control
/// character, a Unicode line or paragraph separator, a bidirectional mark or override.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` as a message shows a name from outside (a DN, an attribute's name): as it is when
/// every character is printable, else [`quote`]d, so that a newline or an escape sequence in
/// it cannot forge a log line or reach a terminal, while the usual DN stays readable.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let plain = text.len() <= 1024 && !text.chars().any(unsafe_char);
    if plain {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(quote(text))
    }
}

/// Checks `value` and returns the map key for it: ASCII lower case, quotes removed where
/// they are not needed (RFC 5321 4.1.2 says `"john"` and `john` are the same local part).
pub fn normalize(value: &str) -> Result<String, AddressError> {
    let mut key = String::new();
    normalize_into(value, &mut key)?;
    Ok(key)
}

/// A domain name by the rules of an address's domain part, lower-cased: accepted domains,
/// open domains and the domains the directory names all pass the same check.
pub fn normalize_domain(domain: &str) -> Result<String, AddressError> {
    let mut normal = normalize(&format!("x@{domain}"))?;
    normal.replace_range(.."x@".len(), "");
    Ok(normal)
}

/// [`normalize`] into `key` (cleared first), for a caller that checks millions of values
/// and can reuse one buffer.
pub fn normalize_into(value: &str, key: &mut String) -> Result<(), AddressError> {
    if value.is_empty() {
        return Err(AddressError::Empty);
    }
    // The common case (printable ASCII) is one byte test each; only a failing value is
    // looked at character by character, to name the culprit.
    if !value.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        for ch in value.chars() {
            if let Some(name) = control_name(ch) {
                return Err(AddressError::Control { name });
            }
            if ch == ' ' {
                return Err(AddressError::Whitespace);
            }
            if !ch.is_ascii() {
                return Err(AddressError::NonAscii { ch });
            }
        }
    }
    if value.len() > MAX_ADDRESS {
        return Err(AddressError::TooLong { len: value.len() });
    }
    let (local, domain) = split(value)?;
    let local = local_part(local)?;
    domain_part(domain)?;
    if local.starts_with('#') {
        // Legal in RFC 5322, but a text map line starting with # is a comment: the address
        // would silently vanish from the map (and quoting does not help: smtpd looks up the
        // unquoted form).
        return Err(AddressError::BadLocal {
            detail: "starts with #, which a Postfix text map reads as a comment",
        });
    }
    key.clear();
    key.push_str(&local);
    key.push('@');
    key.push_str(domain);
    key.make_ascii_lowercase();
    // Unquoting only shortens, so the length checks above still hold.
    Ok(())
}

/// True when `key` is already its own normal form in the plain shape rcptsync writes
/// (lower-case dot-atom, one `@`, host-name domain): then [`normalize`] would return it
/// unchanged. Checked in one pass, so that `apply` can take the lines of a map it wrote
/// without the full parse; anything else (quotes, upper case, a problem) is false and takes
/// [`normalize`]. For keys without `"`, it is true exactly when [`normalize`] returns the key
/// itself (a test checks both directions).
pub fn is_normalized(key: &[u8]) -> bool {
    if key.len() > MAX_ADDRESS {
        return false;
    }
    let Some(at) = memchr::memchr(b'@', key) else {
        return false;
    };
    let (local, domain) = (&key[..at], &key[at + 1..]);
    match (local.first(), local.last()) {
        (Some(b'#' | b'.'), _) | (_, Some(b'.')) | (None, _) => return false,
        _ if local.len() > MAX_LOCAL => return false,
        _ => {}
    }
    let mut dot = false;
    for &b in local {
        if b == b'.' {
            if dot {
                return false;
            }
            dot = true;
        } else if PLAIN[usize::from(b)] & LOCAL_BYTE == 0 {
            return false;
        } else {
            dot = false;
        }
    }
    // Labels of 1 to 63 letters, digits and inner hyphens; the domain ends in one.
    let (mut len, mut last) = (0, b'.');
    for &b in domain {
        if b == b'.' {
            if len == 0 || last == b'-' {
                return false;
            }
            len = 0;
        } else if PLAIN[usize::from(b)] & LABEL_BYTE == 0
            || len == MAX_LABEL
            || (len == 0 && b == b'-')
        {
            return false;
        } else {
            len += 1;
        }
        last = b;
    }
    len > 0 && last != b'-'
}

/// [`PLAIN`] bit: the byte may stand in a normalized dot-atom (lower-case atext).
const LOCAL_BYTE: u8 = 1;
/// [`PLAIN`] bit: the byte may stand in a normalized host-name label.
const LABEL_BYTE: u8 = 2;

/// What each byte may be in a normalized key, for [`is_normalized`]'s one pass.
static PLAIN: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' {
            table[b] = LOCAL_BYTE | LABEL_BYTE;
        } else if !c.is_ascii_uppercase() && c.is_ascii() && is_atext(c as char) {
            table[b] = LOCAL_BYTE;
        }
        b += 1;
    }
    table
};

/// Splits at the `@` that ends the local part, honouring a quoted local part.
fn split(value: &str) -> Result<(&str, &str), AddressError> {
    let at = if value.starts_with('"') {
        // The local part runs to the closing quote; a backslash escapes one character.
        let bytes = value.as_bytes();
        let mut i = 1;
        let mut close = None;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    close = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        let close = close.ok_or(AddressError::BadLocal {
            detail: "unterminated quoted string",
        })?;
        match bytes.get(close + 1) {
            Some(b'@') => close + 1,
            None => return Err(AddressError::NoAt),
            Some(_) => {
                return Err(AddressError::BadLocal {
                    detail: "text after the closing quote",
                });
            }
        }
    } else {
        let Some(at) = value.find('@') else {
            return Err(AddressError::NoAt);
        };
        if at == 0 {
            return Err(AddressError::BareDomain);
        }
        at
    };
    let (local, domain) = (&value[..at], &value[at + 1..]);
    if domain.contains('@') {
        return Err(AddressError::TwoAt);
    }
    if domain.is_empty() {
        return Err(AddressError::NoDomain);
    }
    Ok((local, domain))
}

/// Validates a local part and returns it in its simplest equivalent form (borrowed unless
/// quotes had to be removed).
fn local_part(local: &str) -> Result<Cow<'_, str>, AddressError> {
    if local.len() > MAX_LOCAL {
        return Err(AddressError::LocalTooLong { len: local.len() });
    }
    if let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        // Quoted string: qtextSMTP or quoted-pair; spaces were refused earlier.
        let mut content = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(ch) = chars.next() {
            if ch == '\\' {
                match chars.next() {
                    Some(escaped) => content.push(escaped),
                    None => {
                        return Err(AddressError::BadLocal {
                            detail: "backslash at the end of the quoted string",
                        });
                    }
                }
            } else {
                content.push(ch);
            }
        }
        if content.is_empty() {
            return Err(AddressError::BadLocal {
                detail: "empty quoted string",
            });
        }
        if dot_atom(&content).is_ok() {
            return Ok(Cow::Owned(content));
        }
        return Ok(Cow::Borrowed(local));
    }
    dot_atom(local)?;
    Ok(Cow::Borrowed(local))
}

/// RFC 5322 dot-atom: atoms of atext joined by single dots.
fn dot_atom(local: &str) -> Result<(), AddressError> {
    if local.starts_with('.') {
        return Err(AddressError::BadLocal {
            detail: "starts with a dot",
        });
    }
    if local.ends_with('.') {
        return Err(AddressError::BadLocal {
            detail: "ends with a dot",
        });
    }
    // One pass over the bytes: this runs for every address of every entry, and `contains`
    // with a two-byte needle costs a memcmp per position on strings this short.
    let mut double_dot = false;
    let mut other = false;
    let mut dot = false;
    for &b in local.as_bytes() {
        if b == b'.' {
            double_dot |= dot;
            dot = true;
        } else {
            dot = false;
            other |= !is_atext(char::from(b));
        }
    }
    if double_dot {
        return Err(AddressError::BadLocal {
            detail: "two dots in a row",
        });
    }
    if other {
        return Err(AddressError::BadLocal {
            detail: "a character that is only allowed inside quotes, such as ( ) < > [ ] : ; , \\ or \"",
        });
    }
    Ok(())
}

/// RFC 5322 atext.
const fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '/'
                | '='
                | '?'
                | '^'
                | '_'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
}

/// Validates a domain as a sequence of RFC 1035 host-name labels.
fn domain_part(domain: &str) -> Result<(), AddressError> {
    if domain.starts_with('[') {
        return Err(AddressError::AddressLiteral);
    }
    if domain.ends_with('.') {
        return Err(AddressError::BadDomain {
            label: String::new(),
            detail: "ends with a dot",
        });
    }
    for label in domain.split('.') {
        let bad = |detail| AddressError::BadDomain {
            label: label.to_owned(),
            detail,
        };
        if label.is_empty() {
            return Err(AddressError::BadDomain {
                label: String::new(),
                detail: "empty label (leading dot or two dots in a row)",
            });
        }
        if label.len() > MAX_LABEL {
            return Err(bad("longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("starts or ends with a hyphen"));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(bad("only letters, digits and hyphens are allowed"));
        }
    }
    Ok(())
}

/// Names a control character so that an admin can find it in the directory.
fn control_name(ch: char) -> Option<String> {
    let name = match ch {
        '\n' => "newline",
        '\r' => "carriage return",
        '\t' => "tab",
        '\0' => "NUL",
        c if c.is_control() => return Some(format!("U+{:04X}", u32::from(c))),
        _ => return None,
    };
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_checked_and_lowered_as_an_address_s_domain_part() {
        assert_eq!(
            normalize_domain("Shared.Example.COM").unwrap(),
            "shared.example.com"
        );
        for bad in ["", "example.com.", "[10.0.0.1]", "ex ample.com", "a@b.com"] {
            assert!(normalize_domain(bad).is_err(), "{bad:?}");
        }
    }

    /// Random strings over the characters that matter to an address (xorshift: the test
    /// needs no crate and is the same every run).
    fn random_values(n: usize) -> Vec<String> {
        const ALPHABET: &[u8] = b"aZ09.@-#_+!\"[] \\xyz.@";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut part = move |alphabet: &[u8]| -> String {
            let len = (next() % 12) as usize + if next() % 50 == 0 { 60 } else { 0 };
            (0..len)
                .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                .collect()
        };
        // Half of them shaped like an address, so that many are valid.
        (0..n)
            .map(|i| match i % 2 {
                0 => part(ALPHABET) + &part(ALPHABET),
                _ => part(b"aaab.Z#-_") + "@" + &part(b"aab0-.Z"),
            })
            .collect()
    }

    #[test]
    fn is_normalized_agrees_with_normalize() {
        let mut plain = 0;
        let long_label = format!("a@{}.com", "b".repeat(63));
        let too_long_label = format!("a@{}.com", "b".repeat(64));
        let too_long_local = format!("{}@x.com", "a".repeat(65));
        let fixed = [
            "first.last123@eu.corp.example.com",
            "o'brien+tag@xn--bcher-kva.example",
            "a@b",
            "#a@b",
            "a.@b",
            ".a@b",
            "a..b@c",
            "a@-b.c",
            "a@b-.c",
            "a@b..c",
            "a@b.",
            "a@[1.2.3.4]",
            "a@b@c",
            "A@b",
            "a@B",
            "\"a\"@b",
            long_label.as_str(),
            too_long_label.as_str(),
            too_long_local.as_str(),
        ];
        let values = random_values(200_000);
        for value in fixed
            .iter()
            .copied()
            .chain(values.iter().map(String::as_str))
        {
            let normal = normalize(value).is_ok_and(|key| key == value);
            let fast = is_normalized(value.as_bytes());
            if fast {
                plain += 1;
            }
            if value.contains('"') {
                assert!(!fast || normal, "{value:?}");
            } else {
                assert_eq!(fast, normal, "{value:?}");
            }
        }
        assert!(
            plain > 5000,
            "too few plain values to show anything: {plain}"
        );
        assert!(is_normalized(b"first.last123@eu.corp.example.com"));
        assert!(is_normalized(long_label.as_bytes()));
    }

    #[test]
    fn long_values_are_quoted_cut() {
        let long = "x".repeat(5000);
        let shown = quote(&long);
        assert!(
            shown.len() < 120 && shown.ends_with("(5000 bytes)"),
            "{shown}"
        );
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
    }

    fn err(value: &str) -> AddressError {
        normalize(value).expect_err(value)
    }

    #[test]
    fn accepts_and_lowercases() {
        assert_eq!(
            normalize("John.Doe@Example.COM").unwrap(),
            "john.doe@example.com"
        );
        assert_eq!(
            normalize("a+tag@sub.example.com").unwrap(),
            "a+tag@sub.example.com"
        );
        assert_eq!(
            normalize("o'brien@example.com").unwrap(),
            "o'brien@example.com"
        );
        assert_eq!(
            normalize("x@xn--bcher-kva.example").unwrap(),
            "x@xn--bcher-kva.example"
        );
        assert_eq!(
            normalize("!#$%&*/=?^_`{|}~-@example.com").unwrap(),
            "!#$%&*/=?^_`{|}~-@example.com"
        );
    }

    #[test]
    fn quoted_local_parts() {
        // Needless quotes are dropped: the same mailbox, the form Postfix queries with.
        assert_eq!(
            normalize("\"john\"@example.com").unwrap(),
            "john@example.com"
        );
        assert_eq!(
            normalize("\"John..Doe\"@example.com").unwrap(),
            "\"john..doe\"@example.com"
        );
        assert_eq!(
            normalize("\"a@b\"@example.com").unwrap(),
            "\"a@b\"@example.com"
        );
        assert_eq!(
            normalize("\"a\\\"b\"@example.com").unwrap(),
            "\"a\\\"b\"@example.com"
        );
        assert!(matches!(
            err("\"john@example.com"),
            AddressError::BadLocal { .. }
        ));
        assert!(matches!(
            err("\"john\"x@example.com"),
            AddressError::BadLocal { .. }
        ));
        assert!(matches!(
            err("\"\"@example.com"),
            AddressError::BadLocal { .. }
        ));
        assert_eq!(err("\"john doe\"@example.com"), AddressError::Whitespace);
    }

    #[test]
    fn control_characters_and_whitespace() {
        for (value, name) in [
            ("a\nb@example.com", "newline"),
            ("ab@example.com\n@example.com", "newline"),
            ("a\rb@example.com", "carriage return"),
            ("a\tb@example.com", "tab"),
            ("a\0b@example.com", "NUL"),
            ("a\u{7f}b@example.com", "U+007F"),
        ] {
            assert_eq!(
                err(value),
                AddressError::Control { name: name.into() },
                "{value:?}"
            );
        }
        assert_eq!(err("a b@example.com"), AddressError::Whitespace);
        assert_eq!(err("ab@example.com OK"), AddressError::Whitespace);
    }

    #[test]
    fn structure() {
        assert_eq!(err(""), AddressError::Empty);
        assert_eq!(err("@example.com"), AddressError::BareDomain);
        assert_eq!(err("user@"), AddressError::NoDomain);
        assert_eq!(err("user"), AddressError::NoAt);
        assert_eq!(err("a@b@example.com"), AddressError::TwoAt);
        assert_eq!(err("user@[192.0.2.1]"), AddressError::AddressLiteral);
    }

    #[test]
    fn non_ascii_is_refused_with_the_character() {
        assert_eq!(err("jörg@example.com"), AddressError::NonAscii { ch: 'ö' });
        assert_eq!(
            err("user@bücher.example"),
            AddressError::NonAscii { ch: 'ü' }
        );
        assert!(err("jörg@example.com").to_string().contains("SMTPUTF8"));
    }

    #[test]
    fn lengths() {
        let local64 = "a".repeat(64);
        assert!(normalize(&format!("{local64}@example.com")).is_ok());
        assert_eq!(
            err(&format!("{}@example.com", "a".repeat(65))),
            AddressError::LocalTooLong { len: 65 }
        );
        // 254 octets exactly is fine, 255 is not.
        let domain = format!(
            "{}.{}.{}.{}",
            "d".repeat(63),
            "d".repeat(63),
            "d".repeat(63),
            "d".repeat(50)
        );
        let ok = format!("{}@{domain}", "a".repeat(254 - 1 - domain.len()));
        assert_eq!(ok.len(), 254);
        assert!(normalize(&ok).is_ok());
        assert_eq!(err(&format!("a{ok}")), AddressError::TooLong { len: 255 });
    }

    #[test]
    fn a_leading_hash_would_be_a_comment() {
        for value in ["#helpdesk@example.com", "\"#helpdesk\"@example.com"] {
            assert!(err(value).to_string().contains("comment"), "{value}");
        }
        assert_eq!(
            normalize("help#desk@example.com").unwrap(),
            "help#desk@example.com"
        );
    }

    #[test]
    fn local_part_syntax() {
        for value in [
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a(b)@example.com",
            "a,b@example.com",
            "a\\b@example.com",
        ] {
            assert!(
                matches!(err(value), AddressError::BadLocal { .. }),
                "{value}"
            );
        }
    }

    #[test]
    fn domain_labels() {
        for value in [
            "a@-example.com",
            "a@example-.com",
            "a@exa_mple.com",
            "a@example..com",
            "a@.example.com",
            "a@example.com.",
            &format!("a@{}.com", "x".repeat(64)),
        ] {
            assert!(
                matches!(err(value), AddressError::BadDomain { .. }),
                "{value}"
            );
        }
        assert_eq!(
            err("a@exa_mple.com").to_string(),
            "invalid domain label \"exa_mple\": only letters, digits and hyphens are allowed"
        );
    }

    #[test]
    fn names_from_outside_are_shown_plain_or_quoted() {
        assert_eq!(
            shown("CN=Bob Ä,OU=Staff,DC=example,DC=com"),
            "CN=Bob Ä,OU=Staff,DC=example,DC=com"
        );
        assert_eq!(
            shown("CN=x\nrcptsync: error: forged,DC=com"),
            r#""CN=x\nrcptsync: error: forged,DC=com""#
        );
        assert_eq!(shown("a\u{1b}[2Jb"), r#""a\u{1b}[2Jb""#);
        assert_eq!(shown("a\u{202e}b"), r#""a\u{202e}b""#);
    }
}
