//! The toolkit every configuration table is written with: the `table!` macro that defines a
//! table and its reference ([`Key`]s), the `Checker` that turns its raw values into checked
//! ones, and the [`Error`] that names the file, line and key.
//!
//! Each stage defines its own tables and their checks beside its code (`source/config.rs`,
//! `rules/config.rs`, ...), so that a stage's settings change in the stage's folder; `config`
//! only loads the file and dispatches. This module is what they share, and it imports no stage
//! and not `config`, so that the stages can use it without importing `config`.
//!
//! Every table denies unknown keys, so a typo (`exclude_domain`) is an error naming the key
//! and the line instead of a silently ignored safety setting.
//!
//! The tables are also the configuration reference: each key's doc comment is what the
//! README's tables (and so rcptsync.toml(5)) say about it, and each default is written once,
//! as the TOML a user would write, in the `table!` that defines the key. The defaults are
//! applied by deserializing that text exactly as a value in the file would be, and the README
//! shows that same text (`tests/it/docs.rs` generates the tables from [`Key`]s).

use std::path::{Path, PathBuf};

/// A config that cannot be used; always a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read (the message names it).
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{}: {cause}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The TOML error, with line and key.
        cause: toml::de::Error,
    },
    /// A mistake inside a `[[source]]` table, at its key's line.
    #[error("{}: line {line}: in this [[source]] (kind = {kind:?}): {message}\n  {text}", path.display())]
    Source {
        /// The config file.
        path: PathBuf,
        /// The line of the mistake (1-based).
        line: usize,
        /// The source's kind.
        kind: String,
        /// What serde/TOML says is wrong.
        message: String,
        /// The line as written.
        text: String,
    },
    /// A key has a value that cannot work.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The key, as written in the file (`recipients.extra`).
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// One key of the configuration reference: a row of a README table.
#[derive(Debug)]
pub struct Key {
    /// The key as written in the file.
    pub name: &'static str,
    /// What it does, in Markdown: the field's doc comment, a line per `///` line.
    pub doc: &'static str,
    /// The default as the TOML a user would write (`"30m"`, `1000`, `false`), applied when
    /// the key is absent; None when absence has a meaning of its own ([`Key::default_text`]).
    pub default: Option<&'static str>,
    /// What the default column says besides the TOML default, or instead of it: what an
    /// absent key means ("anonymous", "(required)"), or the default in other words
    /// ("(256 MiB)"). Empty when there is nothing to say.
    pub default_text: &'static str,
}

impl Key {
    /// The TOML default of the key `name` among `keys`: for a command-line option that must
    /// default to the same value as a config key (`receive --max-bytes`, `[install].max_bytes`).
    pub fn default_of(keys: &[Key], name: &str) -> Option<&'static str> {
        keys.iter().find(|k| k.name == name)?.default
    }
}

/// A key's default, deserialized from its TOML text as the same key in the file would be.
/// Only a default that is not valid for its own key fails, which the tests would show.
pub(crate) fn default<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    key: &str,
    text: &str,
) -> Result<T, E> {
    toml::de::ValueDeserializer::parse(text)
        .and_then(T::deserialize)
        .map_err(|e| E::custom(format!("the default of {key} ({text}) is not valid: {e}")))
}

/// Defines a table's struct, its [`Key`]s (`KEYS`) and its `Deserialize`, from one list of
/// fields. Each field is a key of the reference:
///
/// ```text
/// /// The meaning (the README's text, Markdown).
/// #[default_text = "what an absent key means"]   // optional
/// key: Type = toml_default,                       // `= toml_default` optional
/// ```
///
/// A key with a TOML default has type `Type` (absent, it gets the default); one without is
/// required, unless `Type` is an `Option`. Fields in a leading `[ ... ]` are keys documented
/// in another table (a source's `name`, in `[[source]]`'s own keys): in the struct, not in
/// `KEYS`.
macro_rules! table {
    (
        $(#[doc = $table_doc:literal])*
        pub struct $name:ident {
            $([ $( $(#[doc = $other_doc:literal])* $other:ident : $other_ty:ty ),* $(,)? ])?
            $(
                $(#[doc = $doc:literal])*
                $(#[default_text = $text:literal])?
                $key:ident : $ty:ty $(= $default:tt)?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $table_doc])*
        #[derive(Debug)]
        pub struct $name {
            $($( $(#[doc = $other_doc])* pub $other: $other_ty, )*)?
            $( $(#[doc = $doc])* pub $key: $ty, )*
        }

        impl $name {
            /// The table's keys in the configuration reference, in the struct's order.
            pub const KEYS: &[$crate::table::Key] = &[$($crate::table::Key {
                name: stringify!($key),
                doc: concat!($($doc, "\n"),*),
                default: $crate::table::table!(@some $(stringify!($default))?),
                default_text: concat!($($text)?),
            }),*];
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // The table as written, a key with a default optional. Named as the table,
                // so that serde's messages ("expected struct Ldap") name it as before.
                #[derive(::serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct $name {
                    $($( $other: $other_ty, )*)?
                    $( $key: $crate::table::table!(@written $ty $(, $default)?), )*
                }
                let written = <$name as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self {
                    $($( $other: written.$other, )*)?
                    $( $key: $crate::table::table!(@value D, $key, written.$key $(, $default)?), )*
                })
            }
        }
    };
    (@some) => { None };
    (@some $text:expr) => { Some($text) };
    (@written $ty:ty) => { $ty };
    (@written $ty:ty, $default:tt) => { Option<$ty> };
    (@value $d:ident, $key:ident, $written:expr) => { $written };
    (@value $d:ident, $key:ident, $written:expr, $default:tt) => {
        match $written {
            Some(value) => value,
            None => $crate::table::default::<_, $d::Error>(stringify!($key), stringify!($default))?,
        }
    };
}
pub(crate) use table;

/// Turns raw values into checked ones, remembering the file for messages: each stage's
/// checks are methods on it (`impl Checker` beside the stage's tables), so that every message
/// names the file and key the same way.
pub(crate) struct Checker<'a> {
    /// The config file, named in every message; relative paths are resolved against its
    /// directory.
    pub(crate) path: &'a Path,
    /// The file's text, to find the line of a key that serde's spans do not give.
    pub(crate) text: &'a str,
}

impl Checker<'_> {
    /// The error for a `key` whose value cannot work, naming the file.
    pub(crate) fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Resolves a path from the file against the config file's directory, so that a config
    /// and its data can move together.
    pub(crate) fn resolve(&self, value: &str) -> PathBuf {
        let base = self.path.parent().unwrap_or(Path::new("."));
        base.join(value)
    }

    /// A duration such as "30s" or "10m"; zero is refused.
    pub(crate) fn duration(&self, key: &str, text: &str) -> Result<std::time::Duration, Error> {
        humantime::parse_duration(text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                self.invalid(
                    key,
                    format!("{text:?} is not a duration such as \"30s\" or \"10m\""),
                )
            })
    }
}
