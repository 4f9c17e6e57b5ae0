//! rcptsync's integration tests: one test binary, one module per area, the fixtures and the
//! runner compiled once.
//!
//! - `cli`: the binary on files only (extract, guards, errors, import-ini, the example);
//! - `graph`: the Microsoft Graph source against a stand-in HTTPS server;
//! - `ldap`: the LDAP source and prune against a real slapd and a real Samba AD DC;
//! - `install`: apply, verify and doctor against a private Postfix;
//! - `transport`: push over a real sshd into `receive`, and the whole chain end to end.
//!
//! `fixture` starts and tears down the real servers; `support` runs the binary.
//!
//! Two tiers. Without features, the tests that need neither root nor a server run, as any
//! user: `cli` (but its tests of files owned by root), `graph`, `docs`, `help`. The
//! `system-tests` feature (set by `scripts/test.sh` and CI) adds the rest: `ldap`, `install`,
//! `transport` and the root-only `cli` tests, which need root and start real servers; a
//! server that is not installed fails its test with the package to install.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
// The fixtures and helpers the system tier uses are compiled, unused, without it; CI lints
// the tests with the feature on, where nothing unused is allowed.
#![cfg_attr(not(feature = "system-tests"), allow(dead_code, unused_imports))]

mod fixture;
mod library;
mod support;

mod cli;
mod docs;
mod graph;
mod help;
#[cfg(feature = "system-tests")]
mod install;
mod layout;
#[cfg(feature = "system-tests")]
mod ldap;
#[cfg(feature = "system-tests")]
mod transport;
