//! Getting the map to the gateways: the system's OpenSSH client ([`ssh`]), because admins
//! already trust it, configure it and know how to debug it.

pub mod ssh;
