//! `PATH.applied`: the outcome of the last apply that changed something or did not succeed,
//! for `status`.

use std::path::Path;

use tracing::warn;

use crate::cmd::{ExitStatus, Result};
use crate::map::with_suffix;

/// The most `PATH.applied` may be (it holds two numbers).
pub const APPLIED_MAX: u64 = 4096;

/// Notes in `PATH.applied` (`UNIX_TIME EXIT_STATUS`) when apply last changed the map (an
/// install or a rollback: the live text file `map` is no longer the one marked `before`) or
/// did not succeed, for `status`. A successful run that changed nothing leaves it alone, as
/// it leaves every other file alone. A record that cannot be written is only a warning: the
/// map is what matters.
pub(super) fn record(map: &Path, changed: bool, result: &Result) {
    let exit = match result {
        Ok(status) => *status,
        Err(e) => e.status(),
    };
    let path = with_suffix(map, ".applied");
    let recorded = crate::map::nofollow::read_small(&path, APPLIED_MAX)
        .ok()
        .flatten()
        .and_then(|t| t.split_whitespace().nth(1).map(str::to_owned));
    if !changed && exit == ExitStatus::Success && recorded.as_deref() == Some("0") {
        return;
    }
    let text = format!("{} {}\n", crate::map::state::now(), exit as u8);
    if let Err(e) = crate::map::atomic::write(&path, text.as_bytes(), 0o644) {
        warn!("could not record the outcome for rcptsync status: {e}");
    }
}
