//! The checks that look at a gateway from outside the pipeline: they do not produce or install
//! a map, they tell whether the gateway that uses it is set up so that the map matters.
//!
//! - [`probe`] asks the gateway over SMTP ([`smtp`]) about addresses whose answer is known:
//!   made-up ones must be refused, canaries accepted.
//! - [`doctor`] reads the gateway's Postfix settings (`postconf -n`, `postconf -M`) and checks
//!   them against the relay-gateway checklist: relay domains, an empty mydestination and
//!   local_recipient_maps, relay_recipient_maps pointing at the installed map, no local
//!   delivery, postmaster@ and abuse@ reachable.

pub mod doctor;
pub mod probe;
pub mod smtp;
