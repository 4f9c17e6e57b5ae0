//! Integration tests of the transport: push over a real OpenSSH server into `receive`, the
//! receiver's checks, and the whole chain from a directory to a gateway's smtpd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../fixture/mod.rs"]
mod fixture;
#[path = "../support.rs"]
mod support;

mod e2e;
mod push;
mod receive;
