//! rcptsync gives a Postfix mail gateway a definitive, always-correct list of valid
//! recipients taken from Active Directory / Exchange (or any LDAP directory, an LDIF export,
//! a Microsoft 365 tenant through Graph, or a plain list), so that the gateway rejects mail
//! for unknown addresses at RCPT time instead of forwarding it inward.
//!
//! # The pipeline
//!
//! ```text
//! internal host (unprivileged)                        mail gateway
//!  source ──> rules ──> guards ──> map text ──push──> receive ──> apply ──> verify
//!  (ldap, graph, ldif, list)        + diff    (ssh)   (spool)    (root)    (SMTP)
//! ```
//!
//! - [`source`] reads directory entries; [`rules`] turns them into map keys (pure logic);
//!   [`rules::guard`] refuses a map that looks like a broken read;
//! - [`map`] renders, compares and atomically replaces the map file, and carries it to the
//!   gateways ([`map::payload`]) over [`transport`];
//! - [`install`] receives it into the spool and installs it into Postfix ([`postfix`]);
//!   [`verify`] checks the gateway from outside;
//! - [`metrics`] leaves what each run did in a node-exporter textfile, for monitoring;
//! - [`config`] is the checked TOML configuration, resolved into each stage's own types: each
//!   stage defines and checks its own tables (its `config` module), with the toolkit of
//!   [`table`];
//! - [`cmd`] runs one job per subcommand; [`cli`] parses arguments and maps the outcome to
//!   an exit code.
//!
//! Layers only import downwards: `cli` → `cmd` → `config` → the stages → `table`; a stage
//! never imports `config`, `cmd` or `cli`, and `table` imports no stage.
//!
//! # Privileges
//!
//! | step      | runs as                | needs                                    |
//! |-----------|------------------------|------------------------------------------|
//! | `extract` | unprivileged user      | directory read access, its output dir    |
//! | `receive` | the gateway's SSH user | its spool dir only (forced command)      |
//! | `apply`   | root on the gateway    | Postfix's map dir; trusts nothing it gets |
//!
//! # Safety
//!
//! Nothing is ever written under a live name except by renaming a complete, flushed file over
//! it; a failed or partial read never shrinks the map; an unchanged map leaves files and mtimes
//! alone; concurrent runs are serialized by a [`lock`].

pub mod cli;
pub mod cmd;
pub mod config;
pub mod crash;
pub mod export;
pub mod fs;
pub mod hold;
pub mod install;
pub mod lock;
pub mod map;
pub mod metrics;
pub mod panic;
pub mod postfix;
pub mod prune;
pub mod receive;
pub mod rules;
pub mod secret;
pub mod source;
pub mod store;
pub mod table;
pub mod tls;
pub mod transport;
pub mod verify;
