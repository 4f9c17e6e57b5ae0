//! Integration tests of the rcptsync binary.
