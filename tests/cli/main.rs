//! Integration tests of the rcptsync binary: one test binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../support.rs"]
mod support;

mod errors;
mod example;
mod extract;
mod guards;
mod import_ini;
mod util;
