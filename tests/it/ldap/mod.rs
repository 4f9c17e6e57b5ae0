//! Integration tests of the LDAP source against real directory servers: a throwaway slapd
//! with an AD-like schema and limits, and a real Samba AD DC.

// The hostile-server tests (rogue, discover) run scripted servers in the test process on
// loopback: they need neither root nor a daemon. The rest start slapd or Samba.
#[cfg(feature = "system-tests")]
mod connect;
mod discover;
#[cfg(feature = "system-tests")]
mod incremental;
#[cfg(feature = "system-tests")]
mod interop;
#[cfg(all(feature = "kerberos", feature = "system-tests"))]
mod kerberos;
#[cfg(feature = "system-tests")]
mod prune;
mod rogue;
#[cfg(feature = "system-tests")]
mod samba;
#[cfg(feature = "system-tests")]
mod slapd;
#[cfg(feature = "system-tests")]
mod watch;
