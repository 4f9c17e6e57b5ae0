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
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod fixture;
mod library;
mod support;

mod cli;
mod docs;
mod graph;
mod help;
mod install;
mod ldap;
mod transport;
