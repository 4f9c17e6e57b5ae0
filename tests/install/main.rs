//! Integration tests of `rcptsync apply` against a real Postfix: every map type, swaps under
//! load, and failures that must leave the live map and smtpd alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../fixture/mod.rs"]
mod fixture;
#[path = "../support.rs"]
mod support;

mod doctor;
mod failures;
mod load;
mod native;
mod types;
mod util;
mod verify;
