//! Legacy values in rcptsync's syntax: ports and lists as the legacy script wrote them,
//! filters made valid RFC 4515, strings and regexes quoted for TOML. Pure text functions, so
//! that [`super::convert()`]'s steps read as the mapping of keys they are.

pub(super) fn port(text: &str) -> Option<u16> {
    text.parse().ok().filter(|&p| p > 0)
}

/// Items separated by commas and/or whitespace (the legacy lists used both, over continued lines).
pub(super) fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// Removes whitespace right after or before a parenthesis: the legacy filter had spaces between
/// its components, which RFC 4515 does not allow. Spaces inside values are kept.
pub fn normalize_filter(filter: &str) -> String {
    let chars: Vec<char> = filter.trim().chars().collect();
    let mut out = String::with_capacity(filter.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_whitespace() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let before = start.checked_sub(1).and_then(|j| chars.get(j));
        let after = chars.get(i);
        let paren = |c: Option<&char>| matches!(c, Some('(' | ')'));
        if !paren(before) && !paren(after) {
            out.extend(&chars[start..i]);
        }
    }
    out
}

/// A TOML basic string ("..."), escaped.
pub(super) fn basic(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A regex as a TOML literal string ('...'), so that its backslashes read as in the legacy
/// file; a basic string when a literal cannot hold it.
pub(super) fn regex_string(pattern: &str) -> String {
    if pattern.contains('\'') || pattern.chars().any(char::is_control) {
        basic(pattern)
    } else {
        format!("'{pattern}'")
    }
}
