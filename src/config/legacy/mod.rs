//! The legacy Perl script's `relay_recipients.ini` (Config::IniFiles format) converted to an
//! rcptsync TOML config: the pure part of `rcptsync import-ini`, with no I/O.
//!
//! Sites that ran the original recipe have a working ini with their DCs, base DN, bind
//! account, excluded domains and gateway; retyping that by hand invites mistakes in exactly the
//! settings that decide which mail is accepted. [`parse()`] reads the ini as Config::IniFiles did
//! (stanzas, `key = value`, `#` comments, trailing-backslash continuations) and [`convert()`]
//! maps every known key to its rcptsync equivalent, with comments where the behaviour differs
//! (TLS, accepted domains, deleting excluded addresses). Nothing is dropped silently: unknown
//! keys and stanzas become warnings and `# not converted:` comments.
//!
//! The bind password is never put into the TOML, a warning or an error message: the
//! [`Conversion`] hands it over separately so that the command writes it to a private file.

mod convert;
mod parse;
mod values;

use std::fmt;
use std::path::Path;

use crate::config::{self, Config};
pub use convert::convert;
pub use parse::parse;
pub use values::normalize_filter;

/// An ini that cannot be converted, with `file:line` (or just the file for a missing key) so
/// that the user can fix it in place.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct Error {
    /// `file:line`, or `file` when the problem is something missing.
    pub location: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// One `[ NAME ]` stanza with its keys, in file order; kept as a list (not a map) so that
/// warnings can name lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    /// The name, trimmed inside the brackets (`[ AD ]` is `AD`).
    pub name: String,
    /// The line of the `[ NAME ]` header (1-based).
    pub line: usize,
    /// Its `key = value` lines.
    pub entries: Vec<Entry>,
}

/// One `key = value`, with continuation lines already joined.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written (the legacy files are case-sensitive; matching here is not).
    pub key: String,
    /// The value, trimmed, with continuations joined.
    pub value: String,
    /// The line the key is on (1-based).
    pub line: usize,
}

/// Redacts values of password keys, so that a debug print cannot leak the bind password.
impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("value", &shown_value(&self.key, &self.value))
            .field("line", &self.line)
            .finish()
    }
}

/// The result of [`convert()`]: the TOML text, the password to store, and what to tell the user.
pub struct Conversion {
    /// The rcptsync config; never contains the password.
    pub toml: String,
    /// The bind password, to be written to the password file named in the TOML; never print it.
    pub password: Option<String>,
    /// Warnings, each starting with `file:line:`.
    pub warnings: Vec<String>,
    /// A `filter = ...` line that is written as the user had it although it is not a valid
    /// filter (the user must fix it); [`Conversion::check`] leaves it out.
    invalid_filter_line: Option<String>,
}

impl Conversion {
    /// Loads the TOML as `rcptsync` would, so that a conversion that does not load is caught
    /// before it is printed. A filter that was already reported as invalid is left out of this
    /// check: it is written on purpose, so that rcptsync refuses the config until it is fixed.
    pub fn check(&self, path: &Path) -> Result<Config, config::Error> {
        match &self.invalid_filter_line {
            Some(line) => Config::parse(&self.toml.replacen(line.as_str(), "", 1), path),
            None => Config::parse(&self.toml, path),
        }
    }
}

fn at(file: &Path, line: usize) -> String {
    format!("{}:{line}", file.display())
}

fn may_hold_password(text: &str) -> bool {
    text.to_ascii_lowercase().contains("pass")
}

/// The value as it may appear in a comment or message: never the value of a password key.
fn shown_value<'a>(key: &str, value: &'a str) -> &'a str {
    if may_hold_password(key) {
        "(not shown)"
    } else {
        value
    }
}
