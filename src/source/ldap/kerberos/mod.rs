//! Kerberos (SASL GSSAPI, RFC 4752) binds from a keytab: for sites that hand service accounts
//! keytabs instead of passwords, and for DCs that require LDAP signing or channel binding.
//!
//! rcptsync gets its own credentials: the keytab is opened and checked like the bind password
//! ([`super::secret`]: a regular file, owned by the user or root, not group/other accessible),
//! the principal is looked up in it, and MIT krb5's GSSAPI is given that open file
//! (`/proc/self/fd/N`, so what was checked is what is used) as the client keytab and a
//! private in-memory credential cache: no kinit, no shared cache, no cron wrapper. Realm and
//! KDC come from `/etc/krb5.conf` or `KRB5_CONFIG`, as for every Kerberos program.
//!
//! The bind happens on rcptsync's own wire (`wire/`), before ldap3 is handed the
//! connection: on TLS (`ldaps://`, StartTLS) it sends the tls-server-end-point channel
//! binding token (RFC 5929), which AD's strictest channel-binding policy requires, and no
//! security layer (AD and Samba refuse sign or seal under TLS); on plain `ldap://` it
//! negotiates Kerberos confidentiality, and the wire then seals and unseals every message
//! ([`Seal`]), which DCs that require LDAP signing accept. Each failure is explained with its
//! fix (unknown principal, clock skew, unreachable KDC, no service principal for the name).
//!
//! Without the `kerberos` cargo feature (it needs libkrb5-dev and clang to build; the Debian
//! package has it) the config check refuses `keytab`, and the types here are empty.
//!
//! The parts, by job: `keytab` reads the file's format; `credential` checks and holds the
//! keytab and logs in (through `ffi`, the one GSSAPI call libgssapi does not wrap); `bind`
//! is the SASL exchange; `seal` the security layer; `failure` explains GSSAPI's errors with
//! their fixes. Without the feature, `disabled` has the same types, uninhabited.

mod keytab;

pub use keytab::{Error, FormatError, Keytab, principals};

#[cfg(feature = "kerberos")]
mod bind;
#[cfg(feature = "kerberos")]
mod credential;
#[cfg(feature = "kerberos")]
mod failure;
#[cfg(feature = "kerberos")]
mod ffi;
#[cfg(feature = "kerberos")]
mod seal;

#[cfg(feature = "kerberos")]
pub(super) use bind::BindError;
#[cfg(feature = "kerberos")]
pub use credential::{Credential, Login};
#[cfg(feature = "kerberos")]
pub use failure::Failure;
#[cfg(feature = "kerberos")]
pub use seal::{Seal, SealError};

#[cfg(not(feature = "kerberos"))]
mod disabled;

#[cfg(not(feature = "kerberos"))]
pub(super) use disabled::BindError;
#[cfg(not(feature = "kerberos"))]
pub use disabled::{Credential, Failure, Login, Seal, SealError};
