//! Sources of recipients: a directory (LDAP, or an LDIF export of one), a Microsoft 365
//! tenant (Graph) or a plain list.
//!
//! A source only reads; it never decides what is a valid recipient. Directory sources turn
//! each object into an [`Entry`](crate::rules::Entry) holding just the attributes the
//! recipient rules look at, so that the rules (in [`crate::rules`]) are the same whatever the
//! transport. Any read error is
//! fatal for the run: a partial read must never reach the map.
//!
//! Security: sources need read access to the directory and to their files, nothing more.

pub mod ber;
pub mod graph;
pub mod ldap;
pub mod ldif;
pub mod list;

/// An error and its causes in one line, each said once: the libraries (ldap3, ureq, rustls)
/// wrap the cause that names the fix (an unknown issuer, a timeout) several layers deep.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text = format!("{text}: {s}");
        }
        source = e.source();
    }
    text
}
