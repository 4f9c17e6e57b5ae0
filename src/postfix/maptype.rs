//! Postfix map types and `TYPE:PATH` names, parsed once for the config, the installer and
//! doctor, so that all three agree on which file Postfix reads.

use std::path::{Path, PathBuf};

/// A Postfix map type rcptsync can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    /// Berkeley DB hash (`PATH.db`).
    Hash,
    /// Berkeley DB btree (`PATH.db`).
    Btree,
    /// D. J. Bernstein's constant database (`PATH.cdb`).
    Cdb,
    /// OpenLDAP's LMDB (`PATH.lmdb`).
    Lmdb,
    /// The text file itself, read into memory by each daemon (needs a reload).
    Texthash,
}

impl MapType {
    /// Every type, in the order messages list them.
    pub const ALL: [Self; 5] = [
        Self::Hash,
        Self::Btree,
        Self::Cdb,
        Self::Lmdb,
        Self::Texthash,
    ];

    /// The type Postfix calls `name`, if rcptsync can install it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The name Postfix uses (`hash`, `lmdb`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Btree => "btree",
            Self::Cdb => "cdb",
            Self::Lmdb => "lmdb",
            Self::Texthash => "texthash",
        }
    }

    /// The suffix of the indexed file postmap makes next to the text file, if any.
    pub fn suffix(self) -> Option<&'static str> {
        match self {
            Self::Hash | Self::Btree => Some(".db"),
            Self::Cdb => Some(".cdb"),
            Self::Lmdb => Some(".lmdb"),
            Self::Texthash => None,
        }
    }

    /// Whether daemons only see a new map after `postfix reload`: texthash is read once,
    /// the indexed types are reopened by the daemons when the file is replaced.
    pub fn needs_reload(self) -> bool {
        self == Self::Texthash
    }
}

/// `TYPE:PATH`, as in `relay_recipient_maps` and `[install].map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// The map type.
    pub kind: MapType,
    /// The text file; the indexed file is this plus [`MapType::suffix`].
    pub path: PathBuf,
}

impl MapSpec {
    /// Parses `TYPE:PATH`; None when the type is not one rcptsync knows (ldap:, pcre:, ...:
    /// tables that are not files of addresses).
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, path) = text.split_once(':')?;
        Some(Self {
            kind: MapType::from_name(kind)?,
            path: PathBuf::from(path),
        })
    }

    /// The indexed file Postfix opens for the text file `text` of this type (None for
    /// texthash, which reads the text itself).
    pub fn indexed_of(&self, text: &Path) -> Option<PathBuf> {
        self.kind
            .suffix()
            .map(|suffix| crate::map::with_suffix(text, suffix))
    }

    /// The live indexed file (`PATH.lmdb`, ...), None for texthash.
    pub fn indexed(&self) -> Option<PathBuf> {
        self.indexed_of(&self.path)
    }

    /// The name Postfix would use for the text file `text` with this map's type, for
    /// `postmap` and `postmap -q`.
    pub fn name_of(&self, text: &Path) -> String {
        format!("{}:{}", self.kind.name(), text.display())
    }
}

impl std::fmt::Display for MapSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name_of(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_path_round_trips_and_names_the_indexed_file() {
        let spec = MapSpec::parse("lmdb:/etc/postfix/relay_recipients").unwrap();
        assert_eq!(spec.kind, MapType::Lmdb);
        assert_eq!(spec.to_string(), "lmdb:/etc/postfix/relay_recipients");
        assert_eq!(
            spec.indexed(),
            Some(PathBuf::from("/etc/postfix/relay_recipients.lmdb"))
        );
        let texthash = MapSpec::parse("texthash:/x").unwrap();
        assert_eq!(texthash.indexed(), None);
        assert!(texthash.kind.needs_reload());
        assert_eq!(MapSpec::parse("ldap:/etc/postfix/ldap.cf"), None);
        assert_eq!(MapSpec::parse("lmdb"), None);
        assert_eq!(MapSpec::parse("proxy:lmdb:/x"), None);
        for kind in MapType::ALL {
            assert_eq!(MapType::from_name(kind.name()), Some(kind));
        }
    }
}
