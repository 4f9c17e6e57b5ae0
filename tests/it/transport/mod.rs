//! Integration tests of the transport: push over a real OpenSSH server into `receive`, the
//! receiver's checks, and the whole chain from a directory to a gateway's smtpd.

mod e2e;
mod push;
mod receive;
