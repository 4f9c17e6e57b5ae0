//! The configuration file as written, with the defaults of absent keys filled in: serde
//! types, no I/O, no interpretation. [`super::Config`] turns this into checked values.
//!
//! Each stage defines its own tables beside its code (`source/config.rs`, `rules/config.rs`,
//! `map/config.rs`, `transport/config.rs`, `install/config.rs`); this file holds the whole
//! file, which names them, and `[metrics]` and `[watch]`, which belong to no stage. They are re-exported
//! here so that the configuration reference (`tests/it/docs.rs`) and the legacy converter
//! find every table in one place. The tables are also that reference (see [`crate::table`]):
//! each key's doc comment is what the README's tables (and so rcptsync.toml(5)) say about it,
//! and its default is written once, in the `table!` that defines the key.

use serde::Deserialize;

pub use crate::export::config::Export;
pub use crate::install::config::Install;
pub use crate::map::config::Output;
pub use crate::rules::config::{Domains, Recipients, Safety};
pub use crate::source::config::{FileSource, SOURCE, Source};
pub use crate::source::graph::config::Graph;
pub use crate::source::ldap::config::Ldap;
pub use crate::table::Key;
use crate::table::table;
pub use crate::transport::config::Gateway;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[[source]]` tables; at least one is required.
    #[serde(default)]
    pub source: Vec<Source>,
    /// `[recipients]`, required by the commands that extract.
    pub recipients: Option<Recipients>,
    /// `[output]`, required by the commands that extract.
    pub output: Option<Output>,
    /// `[safety]`; every key has a default, so an absent table is an empty one.
    pub safety: Option<Safety>,
    /// `[[gateway]]` tables, used by `push`.
    #[serde(default)]
    pub gateway: Vec<Gateway>,
    /// `[install]`, used on the gateway by `apply`.
    pub install: Option<Install>,
    /// `[metrics]`: where each run leaves its node-exporter textfile.
    pub metrics: Option<Metrics>,
    /// `[watch]`, used by `watch`; every key has a default.
    pub watch: Option<Watch>,
    /// `[[export]]` tables: the recipients written for other consumers by `extract`.
    #[serde(default)]
    pub export: Vec<Export>,
}

table! {
    /// `[metrics]`.
    pub struct Metrics {
        /// a file for node-exporter's textfile collector, ending in `.prom`, e.g.
        /// `"/var/lib/prometheus/node-exporter/rcptsync.prom"`; replaced atomically (a temporary
        /// file in the same directory, then a rename) after every run. On a host in both roles
        /// (a config with `[output]` and `[install]`), `apply` writes `NAME-apply.prom` beside it
        #[default_text = "(none: no metrics)"]
        textfile: String,
    }
}

table! {
    /// `[watch]`.
    pub struct Watch {
        /// how often `watch` asks a source that does not announce its changes (LDIF and list
        /// files, a DC that refuses change notifications) for its change mark; OpenLDAP with
        /// syncprov and Active Directory announce them and are not asked
        poll: String = "5s",
        /// the same for Microsoft Graph sources (one delta round per collection each time; far
        /// inside Graph's throttling limits)
        graph_poll: String = "30s",
        /// after a change, how long `watch` waits for the next one before it writes the map,
        /// so that a burst (a bulk import) becomes one map, not thousands
        quiet: String = "1s",
        /// the longest a burst that goes on holds the map back
        max_delay: String = "10s",
        /// the longest `watch` waits before it tries a directory, a read or a gateway that
        /// failed again (the waits double from one second up to this)
        max_backoff: String = "30s",
    }
}

impl Watch {
    /// `[watch]` when the file has none: every key's default.
    pub fn defaults() -> Result<Self, toml::de::Error> {
        toml::from_str("")
    }
}
