//! What the store stands for ([`Meta`]) and why it could not be used ([`Error`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::source::Cursor;

/// Why the store could not be used or written.
#[derive(Debug, thiserror::Error)]
#[error("store {}: {cause}", path.display())]
pub struct Error {
    /// The store file.
    pub path: PathBuf,
    /// What went wrong.
    pub cause: Cause,
}

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The file could not be opened, created or renamed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// redb refused it (damaged, or not a redb file).
    #[error("{0}")]
    Database(String),
    /// A record or the meta data is damaged.
    #[error("damaged: {0}")]
    Damaged(String),
    /// It was built for far fewer objects than the directory now has.
    #[error("built for far fewer objects than the directory has now")]
    Outgrown,
}

/// What the store stands for: the run that wrote it, and where each source goes on from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The layout of the store (another one is read in full and replaced).
    pub format: u32,
    /// The rcptsync version that made it: another version may decide keys otherwise.
    #[serde(default)]
    pub version: String,
    /// SHA-256 of the config file: other rules make another map.
    pub config: String,
    /// The accepted domains the keys were decided with (Exchange's may change).
    pub domains: String,
    /// The map file the store stands for ([`crate::map::state::file_mark`]).
    pub map: String,
    /// When the last full read was (seconds since the epoch).
    pub full_at: u64,
    /// Each incremental source, by name.
    pub sources: BTreeMap<String, SourceMeta>,
}

/// Where one source goes on from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMeta {
    /// How it reads changes (`syncrepl`).
    pub method: String,
    /// The server (and naming context) the cursor belongs to: another one means a full read.
    pub identity: String,
    /// Where the next read of changes starts.
    pub cursor: Cursor,
}
