//! The relay recipient map as a file: its text format ([`text`]), the keys in memory
//! ([`keys`]), how two versions differ ([`diff`]), the wire format to the gateways
//! ([`payload`]), the relay domains it carries ([`domains`]) and the confirmation sent
//! instead of it ([`confirm`]), content digests ([`digest`]), what the last full run was made from
//! ([`state`]), how the last run ended ([`ran`]), the only way rcptsync ever replaces a live file ([`atomic`]) and how the small
//! files another account may have replaced are read and written ([`nofollow`]); and the
//! `[output]` table that says where the map goes ([`config`]).

pub mod atomic;
pub mod config;
pub mod confirm;
pub mod diff;
pub mod digest;
pub mod domains;
pub mod keys;
pub mod nofollow;
pub mod payload;
pub mod ran;
pub mod state;
pub mod text;

/// The `[output]` table, checked ([`config`]): the map `extract` writes and `push` sends.
#[derive(Debug, Clone)]
pub struct Output {
    /// The text map.
    pub path: std::path::PathBuf,
    /// The value written after every address.
    pub value: String,
}

/// `path` with `suffix` appended to its file name (`map` + `.lock`): the files rcptsync keeps
/// beside a map.
pub fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
}
