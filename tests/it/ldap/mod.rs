//! Integration tests of the LDAP source against real directory servers: a throwaway slapd
//! with an AD-like schema and limits, and a real Samba AD DC.

mod discover;
mod interop;
#[cfg(feature = "kerberos")]
mod kerberos;
mod prune;
mod rogue;
mod samba;
mod slapd;
