//! The gateway side: installing a map into Postfix ([`apply`]), with Postfix's own tools
//! ([`postfix`]) or a native cdb writer ([`cdb`]).

pub mod apply;
pub mod cdb;
pub mod postfix;
pub mod spool;
