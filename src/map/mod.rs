//! The relay recipient map as a file: its text format ([`text`]), how two versions differ
//! ([`diff`]) and the only way rcptsync ever replaces a live file ([`atomic`]).

pub mod atomic;
pub mod diff;
pub mod keys;
pub mod payload;
pub mod text;

/// `path` with `suffix` appended to its file name (`map` + `.lock`): the files rcptsync keeps
/// beside a map.
pub fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
}
