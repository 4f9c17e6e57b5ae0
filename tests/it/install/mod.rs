//! Integration tests of `rcptsync apply` against a real Postfix: every map type, swaps under
//! load, and failures that must leave the live map and smtpd alone.

mod doctor;
mod failures;
mod hostile;
mod load;
mod metrics;
mod native;
mod shared;
mod status;
mod types;
mod util;
mod verify;
