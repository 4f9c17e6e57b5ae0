//! Integration tests of the transport: push over a real OpenSSH server into `receive`, the
//! receiver's checks, and the whole chain from a directory to a gateway's smtpd.

// receive runs the binary on a temporary spool; the others start sshd (and Postfix).
#[cfg(feature = "system-tests")]
mod e2e;
#[cfg(feature = "system-tests")]
mod held;
#[cfg(feature = "system-tests")]
mod push;
mod receive;
#[cfg(feature = "system-tests")]
mod relay;
#[cfg(feature = "system-tests")]
mod stale;
