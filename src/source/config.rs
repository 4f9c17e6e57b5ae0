//! `[[source]]`: the kind-tagged table of every source, the keys all kinds share, and the
//! dispatch of each table to its kind's checks (`ldap/config.rs`, `graph/config.rs`). The
//! tables live beside the sources, so that a new setting of a source touches this folder
//! only; [`super::Source`] is what the checks make of them.

use serde::Deserialize;

use super::SourceKind;
use super::graph::config::Graph;
use super::ldap::config::Ldap;
use crate::table::{Checker, Error, Key};

/// One `[[source]]`, tagged by `kind`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A live directory over LDAP/LDAPS.
    Ldap(Box<Ldap>),
    /// An LDIF export.
    Ldif(FileSource),
    /// A plain list of addresses.
    List(FileSource),
    /// A Microsoft 365 tenant through Microsoft Graph.
    Graph(Graph),
}

/// The `[[source]]` keys of every kind (`name`, the tag `kind`) and the file kinds' `path`:
/// the `[[source]]` table of the reference, before each kind's own ([`Ldap::KEYS`],
/// [`Graph::KEYS`]).
pub const SOURCE: &[Key] = &[
    Key {
        name: "name",
        doc: "label used in logs and reports; unique",
        default: None,
        default_text: "",
    },
    Key {
        name: "kind",
        doc: "`\"ldif\"`, `\"list\"`, `\"ldap\"` or `\"graph\"`",
        default: None,
        default_text: "",
    },
    Key {
        name: "path",
        doc: "(`ldif`, `list`) the file",
        default: None,
        default_text: "",
    },
];

/// `kind = "ldif"` and `kind = "list"`: keys documented in [`SOURCE`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// The `[[source]]` key `name`.
    pub name: String,
    /// The file; relative paths are relative to the config file's directory.
    pub path: String,
}

impl Checker<'_> {
    /// `source.KEY` with the line of `key` in the `index`th `[[source]]` (or of its `kind`
    /// when `key` is absent), for the checks that involve several keys. serde loses the
    /// spans inside the `kind`-tagged source tables, so the text is parsed again for them.
    pub(in crate::source) fn source_key(&self, index: usize, key: &str) -> String {
        use toml::de::{DeTable, DeValue};
        let line = || {
            let root = DeTable::parse(self.text).ok()?;
            let (_, sources) = root
                .get_ref()
                .iter()
                .find(|(k, _)| *k.get_ref() == "source")?;
            let DeValue::Array(sources) = sources.get_ref() else {
                return None;
            };
            let DeValue::Table(table) = sources.get(index)?.get_ref() else {
                return None;
            };
            let span = table
                .iter()
                .find(|(k, _)| *k.get_ref() == key)
                .or_else(|| table.iter().find(|(k, _)| *k.get_ref() == "kind"))
                .map(|(k, _)| k.span())?;
            Some(self.text.get(..span.start)?.matches('\n').count() + 1)
        };
        match line() {
            Some(n) => format!("line {n}: source.{key}"),
            None => format!("source.{key}"),
        }
    }

    /// The `index`th `[[source]]` checked by its kind's own checks; the file kinds' path is
    /// resolved against the config's directory.
    pub(crate) fn source(&self, raw: Source, index: usize) -> Result<super::Source, Error> {
        let (name, kind) = match raw {
            Source::Ldap(raw) => (
                raw.name.clone(),
                SourceKind::Ldap(Box::new(self.ldap(*raw, index)?)),
            ),
            Source::Ldif(f) => (f.name, SourceKind::Ldif(self.resolve(&f.path))),
            Source::List(f) => (f.name, SourceKind::List(self.resolve(&f.path))),
            Source::Graph(raw) => (raw.name.clone(), SourceKind::Graph(self.graph(raw)?)),
        };
        Ok(super::Source { name, kind })
    }
}
