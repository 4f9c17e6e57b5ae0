//! The gateway side: the spool that `receive` fills ([`spool`], unprivileged), and what
//! `apply` does as root with what it finds there: one streaming pass ([`build`]) that
//! validates every line again ([`validate`]) and writes the new text (and with the native
//! writer the cdb, [`cdb`]) beside the live map, then the swap ([`swap`]): postmap for the
//! other types, a lookup in the new map, and the renames; the relay domains table beside it
//! ([`relay`]). The `[install]` table that says
//! where is defined and checked in [`config`].
//!
//! Security: [`spool`] is the only part the SSH account's forced command runs; it imports
//! nothing of the configuration, the sources or the transport. Everything else here runs as
//! root and treats the spooled file as hostile input.

pub mod approved;
pub mod build;
pub mod cdb;
pub mod config;
pub mod relay;
pub mod spool;
pub mod stale;
pub mod swap;
pub mod validate;

use std::path::PathBuf;

use crate::postfix::MapSpec;

/// What apply installs where: the checked `[install]` table.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where `receive` leaves maps for `apply`.
    pub spool: PathBuf,
    /// The installed map.
    pub map: MapSpec,
    /// Postfix's configuration directory, passed to every Postfix command as `-c`.
    pub postfix_config_dir: PathBuf,
    /// When to run `postfix reload`.
    pub reload: Reload,
    /// Who writes cdb files.
    pub cdb_writer: CdbWriter,
    /// The largest map apply reads (`[install].max_bytes`).
    pub max_bytes: u64,
    /// `[install].internal_relay_domains`: the only domains a map may open with an `@domain`
    /// line (lower case). The gateway's own list, so that the spool cannot open a domain.
    pub internal_relay_domains: std::collections::BTreeSet<String>,
    /// `[install].approval_keys`: whose signed approvals may let removals past the guards.
    pub approval_keys: Vec<ssh_key::PublicKey>,
    /// `[install].backend_plus_addressing`: whether the backend takes `user+tag@`.
    pub backend_plus_addressing: Option<bool>,
    /// `[install].relay_domains_map` and what it may hold; None: relay_domains is the
    /// admin's.
    pub relay_domains: Option<RelayTable>,
    /// `[install].stale_after`: how long the map may go unconfirmed before unknown recipients
    /// get 450 ([`stale`]); None: never.
    pub stale_after: Option<std::time::Duration>,
}

/// The relay domains table apply installs ([`relay`]).
#[derive(Debug, Clone)]
pub struct RelayTable {
    /// Where: `TYPE:PATH` as the admin's `relay_domains` names it.
    pub map: MapSpec,
    /// `[install].relay_domains_allowed`: the only domains it may list.
    pub allowed: relay::Domains,
}

impl Settings {
    /// Whether a changed map needs `postfix reload` to take effect.
    pub fn needs_reload(&self) -> bool {
        match self.reload {
            Reload::Auto => self.map.kind.needs_reload(),
            Reload::Always => true,
            Reload::Never => false,
        }
    }
}

/// `[install].reload`: when `postfix reload` runs after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Only when the map type needs it (texthash).
    Auto,
    /// After every change.
    Always,
    /// Never (the admin reloads).
    Never,
}

/// `[install].cdb_writer`: who builds cdb files. The native writer is faster and writes the
/// same bytes as postmap; postmap is there for sites that want Postfix's own code only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdbWriter {
    /// rcptsync's own writer.
    Native,
    /// `postmap cdb:`.
    Postmap,
}
