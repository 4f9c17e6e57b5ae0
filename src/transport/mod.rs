//! Getting the map to the gateways: the system's OpenSSH client ([`ssh`]), because admins
//! already trust it, configure it and know how to debug it, and the record of what each
//! gateway acknowledged ([`record`]), so that only gateways whose map is out of date are
//! pushed to; and the `[[gateway]]` tables that say where to ([`config`]).
//!
//! Security: runs as the unprivileged extract account; ssh checks host keys always and never
//! prompts. What a gateway answers is only compared with the digest that was sent.

pub mod config;
pub mod record;
pub mod ssh;

pub use ssh::Gateway;
