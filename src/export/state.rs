//! What each export was last made from, kept beside the map (`PATH.exports`): the map it
//! stands for, its file as written, and whether its command succeeded since. A run whose
//! exports all stand for the map in place has nothing to do for them, so that the run that
//! finds the directory unchanged stays a few reads of small files; one whose command failed
//! runs only the command again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Export;

/// The most the state file may hold: a few hundred bytes an export.
const MAX_BYTES: u64 = 1 << 20;

/// The state of every export, as the last run left it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// One per export that was made.
    pub exports: Vec<Made>,
}

/// One export as it was made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Made {
    /// Its file.
    pub path: PathBuf,
    /// Its format's name.
    pub format: String,
    /// The map it was made from ([`crate::map::state::file_mark`]).
    pub map: String,
    /// Its file as it was left ([`crate::map::state::file_mark`]): a file someone changed or
    /// removed is made again.
    pub file: String,
    /// The command that succeeded after the file last changed, if it did (None: it is still
    /// to run, or there is none).
    pub command_done: Option<Vec<String>>,
}

/// What an export needs this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing: it stands for the map, and its command ran.
    Nothing,
    /// Only its command, which failed (or is new) since the file changed.
    Command,
    /// Its content: the map changed, or the file, or it was never made.
    Content,
}

impl State {
    /// The state at `path`; an empty one when there is none or it cannot be read (every
    /// export is then made again, which costs time, never correctness). It is opened as a
    /// file another account may have replaced, as `PATH.state` is: a link, a FIFO or a huge
    /// file there must neither steer nor stall a run.
    pub fn read(path: &Path) -> Self {
        match crate::map::nofollow::read_small(path, MAX_BYTES) {
            Ok(text) => text
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
            Err(e) => {
                tracing::warn!("{e}; every export is made again");
                Self::default()
            }
        }
    }

    /// Writes it to `path`, atomically, as rcptsync's own file
    /// ([`crate::map::atomic::write_own`]: a link or a FIFO there is replaced, not followed).
    pub fn write(&self, path: &Path) -> Result<(), crate::map::atomic::Error> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| crate::map::atomic::Error {
            path: path.to_owned(),
            cause: std::io::Error::other(e),
        })?;
        crate::map::atomic::write_own(path, &text, 0o644)
    }

    /// What `export` needs, the map being at `map` (its file mark).
    pub fn due(&self, export: &Export, map: &str) -> Due {
        let Some(made) = self.made(export) else {
            return Due::Content;
        };
        let file = crate::map::state::file_mark(&export.path).ok();
        if made.map != map || file.as_deref() != Some(made.file.as_str()) {
            Due::Content
        } else if export.command.is_some() && made.command_done != export.command {
            Due::Command
        } else {
            Due::Nothing
        }
    }

    /// How `export` was last made, if it was.
    pub fn made(&self, export: &Export) -> Option<&Made> {
        self.exports
            .iter()
            .find(|m| m.path == export.path && m.format == export.format.name())
    }

    /// Records `made`, replacing what was recorded for its file.
    pub fn record(&mut self, made: Made) {
        self.exports.retain(|m| m.path != made.path);
        self.exports.push(made);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::*;

    #[test]
    fn an_export_is_due_when_the_map_its_file_or_its_command_moved() {
        let dir = tempfile::tempdir().unwrap();
        let mut export = Export {
            path: dir.path().join("list.txt"),
            format: Format::List,
            command: None,
            timeout: std::time::Duration::from_secs(1),
        };
        let mut state = State::default();
        assert_eq!(state.due(&export, "map 1"), Due::Content);
        fs_err::write(&export.path, "a@example.com\n").unwrap();
        let made = |command_done| Made {
            path: export.path.clone(),
            format: "list".into(),
            map: "map 1".into(),
            file: crate::map::state::file_mark(&export.path).unwrap(),
            command_done,
        };
        state.record(made(None));
        let path = dir.path().join("state");
        state.write(&path).unwrap();
        let state = State::read(&path);
        assert_eq!(state.due(&export, "map 1"), Due::Nothing);
        assert_eq!(state.due(&export, "map 2"), Due::Content);
        export.command = Some(vec!["/bin/true".into()]);
        assert_eq!(state.due(&export, "map 1"), Due::Command);
        let mut state = state;
        state.record(made(export.command.clone()));
        assert_eq!(state.due(&export, "map 1"), Due::Nothing);
        // Another format in the same file is another export.
        export.format = Format::Exim;
        assert_eq!(state.due(&export, "map 1"), Due::Content);
        export.format = Format::List;
        fs_err::remove_file(&export.path).unwrap();
        assert_eq!(state.due(&export, "map 1"), Due::Content);
        assert_eq!(State::read(&dir.path().join("none")).exports.len(), 0);
    }

    #[test]
    fn a_fifo_or_a_link_at_the_state_file_neither_stalls_nor_steers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.exports");
        use rustix::fs::{CWD, FileType, Mode};
        rustix::fs::mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
        assert!(State::read(&path).exports.is_empty());
        State::default().write(&path).unwrap();
        assert!(fs_err::symlink_metadata(&path).unwrap().is_file());
        let target = dir.path().join("elsewhere");
        fs_err::write(&target, "{\"exports\": []}").unwrap();
        fs_err::remove_file(&path).unwrap();
        fs_err::os::unix::fs::symlink(&target, &path).unwrap();
        State::default().write(&path).unwrap();
        assert_eq!(
            fs_err::read_to_string(&target).unwrap(),
            "{\"exports\": []}"
        );
    }
}
