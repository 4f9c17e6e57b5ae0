//! `PATH.run`: how the last run that read the directory for the map at `PATH` ended, and
//! when a read last found the map current (`LAST_RUN EXIT LAST_SUCCESS`, seconds since the
//! epoch, `-` for never). `status` shows it, its monitoring-plugin mode measures the age of
//! the last success, and `push` dates what it sends by it.
//!
//! `watch` reads every few seconds: a success after a success is written at most once a
//! minute, so that an idle directory costs no disk writes to speak of.

use std::path::{Path, PathBuf};

use super::{atomic, nofollow, with_suffix};

/// The most the record may be (three numbers).
const MAX_BYTES: u64 = 4096;

/// How old a recorded success may be before another success is written over it.
const REFRESH: u64 = 60;

/// What the record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// When the last run ended.
    pub at: u64,
    /// Its exit status.
    pub exit: u8,
    /// When a read last found the map current (None: never).
    pub success: Option<u64>,
}

/// Where the record of the map at `map` is.
pub fn path(map: &Path) -> PathBuf {
    with_suffix(map, ".run")
}

impl Ran {
    /// The record beside `map`; None when there is none (or it cannot be read: it is only a
    /// report).
    pub fn read(map: &Path) -> Option<Self> {
        let text = nofollow::read_small(&path(map), MAX_BYTES).ok()??;
        let mut fields = text.split_whitespace();
        let at = fields.next()?.parse().ok()?;
        let exit = fields.next()?.parse().ok()?;
        let success = match fields.next()? {
            "-" => None,
            seconds => Some(seconds.parse().ok()?),
        };
        Some(Self { at, exit, success })
    }

    /// Records a run that ended now with `exit`, a success when `current` (the map is what
    /// the directory makes). A failure to write is only a warning.
    pub fn note(map: &Path, exit: u8, current: bool) {
        let now = super::state::now();
        let before = Self::read(map);
        if current
            && let Some(before) = before
            && before.exit == exit
            && before
                .success
                .is_some_and(|at| now.saturating_sub(at) < REFRESH)
        {
            return;
        }
        let success = match current {
            true => Some(now),
            false => before.and_then(|b| b.success),
        };
        let shown = success.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let text = format!("{now} {exit} {shown}\n");
        if let Err(e) = atomic::write(&path(map), text.as_bytes(), 0o644) {
            tracing::warn!("could not record the run for rcptsync status: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_the_last_success_and_successes_are_written_once_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("relay_recipients");
        assert_eq!(Ran::read(&map), None);
        Ran::note(&map, 1, false);
        let failed = Ran::read(&map).unwrap();
        assert_eq!((failed.exit, failed.success), (1, None));
        Ran::note(&map, 0, true);
        let ok = Ran::read(&map).unwrap();
        assert_eq!(ok.exit, 0);
        assert!(ok.success.is_some());
        let mark = crate::map::state::file_mark(&path(&map)).unwrap();
        Ran::note(&map, 0, true);
        assert_eq!(crate::map::state::file_mark(&path(&map)).unwrap(), mark);
        Ran::note(&map, 1, false);
        let again = Ran::read(&map).unwrap();
        assert_eq!((again.exit, again.success), (1, ok.success));
    }
}
