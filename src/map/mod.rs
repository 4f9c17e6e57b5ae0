//! The relay recipient map as a file: its text format ([`text`]), how two versions differ
//! ([`diff`]) and the only way rcptsync ever replaces a live file ([`atomic`]).

pub mod atomic;
pub mod diff;
pub mod keys;
pub mod payload;
pub mod text;
