//! doctor against real Postfix configuration directories.
