//! What every gateway-side program needs to know about Postfix, kept in one place as Postfix
//! keeps it in `src/global`: running its commands ([`command`]), reading its list-valued
//! settings and the domains it relays ([`settings`]), and the map types it can look up
//! ([`maptype`]). `install` builds maps with it, `verify::doctor` checks a gateway with it.

pub mod command;
pub mod maptype;
pub mod settings;

pub use command::{Error, Postfix};
pub use maptype::{MapSpec, MapType};
