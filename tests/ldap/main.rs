//! Integration tests of the LDAP source against real directory servers: a throwaway slapd
//! with an AD-like schema and limits, and a real Samba AD DC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../fixture/mod.rs"]
mod fixture;
#[path = "../support.rs"]
mod support;

mod prune;
mod samba;
mod samba_fixture;
mod slapd;
