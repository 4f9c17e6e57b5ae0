//! rcptsync's integration tests: one test binary, one module per area, the fixtures and the
//! runner compiled once.
//!
//! - `cli`: the binary on files only (extract, guards, errors, import-ini, the example);
//! - `graph`: the Microsoft Graph source against a stand-in HTTPS server;
//! - `ldap`: the LDAP source and prune against a real slapd and a real Samba AD DC, and
//!   against scripted hostile servers;
//! - `install`: apply, verify and doctor against a private Postfix;
//! - `transport`: `receive` on a spool, push over a real sshd into it, and the whole chain
//!   end to end;
//! - `docs`, `help`, `layout`: the generated docs, `--help`, the shape of the code.
//!
//! `fixture` starts and tears down the real servers; `support` runs the binary.
//!
//! Two tiers. Without features, the tests that need neither root nor a server run, as any
//! user: `cli` (but its tests of files owned by root), `graph`, the hostile-server `ldap`
//! tests (`rogue`, `discover`), `transport::receive`, `docs`, `help`, `layout`. The
//! `system-tests` feature (set by `scripts/test.sh` and CI) adds the rest, which need root
//! and start real servers (slapd, Samba, Postfix, sshd); a server that is not installed fails
//! its test with the package to install.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
// The fixtures and helpers the system tier uses are compiled, unused, without it; CI lints
// the tests with the feature on, where nothing unused is allowed.
#![cfg_attr(not(feature = "system-tests"), allow(dead_code, unused_imports))]

mod fixture;
mod library;
mod support;

mod cli;
mod docs;
mod export;
mod graph;
mod help;
#[cfg(feature = "system-tests")]
mod install;
mod layout;
mod ldap;
mod monitoring;
mod transport;
