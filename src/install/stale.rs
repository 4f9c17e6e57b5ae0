//! A stale map fails soft. The gateway knows when its map was last confirmed current: every
//! push of the map it has installed says so (the payload's `time:`), and `sync`/`watch` send a
//! small confirmation ([`crate::map::confirm::Confirmation`]) when no new map went for a while.
//! When the installed map has gone unconfirmed for `[install].stale_after`, the internal host
//! has stopped (down, expired credentials...) and new mailboxes are refused with a 550 that
//! loses their mail for good; from then on, unknown recipients get a 450 instead, which a
//! sending server retries, until a confirmation or a new map arrives.
//!
//! The mechanism is Postfix's `unknown_relay_recipient_reject_code`, set with `postconf -e`
//! and a reload: it is the reply code for exactly "not in relay_recipient_maps" in a relay
//! domain, so every other refusal (relay access, restrictions, RBLs) keeps its code. A
//! restriction such as `check_recipient_access` with `DEFER_IF_REJECT` would soften every
//! later refusal in its list too, and would need the admin to edit their restrictions. The
//! value main.cf had is kept in `PATH.stale` while the switch is on and put back (or the
//! setting removed again) when the map is confirmed; a value the admin changed meanwhile is
//! left alone.
//!
//! Security: the confirmation comes from the spool account, which could also keep a stale map
//! looking fresh; it can do nothing worse than what the map it pushes already does. It is read
//! without following links and bounded, and its time counts only up to now.

use std::path::{Path, PathBuf};

use crate::map::confirm::Confirmation;
use crate::map::{atomic, nofollow, with_suffix};
use crate::postfix::Postfix;

/// The Postfix parameter that is switched.
pub const PARAMETER: &str = "unknown_relay_recipient_reject_code";

/// The code while the map is stale: a temporary refusal.
pub const SOFT: &str = "450";

/// The most the records here may be.
const MAX_RECORD: u64 = 4096;

/// `PATH.confirmed`: when the installed map was last confirmed current (seconds).
pub fn confirmed_path(map: &Path) -> PathBuf {
    with_suffix(map, ".confirmed")
}

/// `PATH.stale`: present while the switch is on.
pub fn switched_path(map: &Path) -> PathBuf {
    with_suffix(map, ".stale")
}

/// Why freshness could not be read or recorded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A record could not be read.
    #[error("{0}")]
    Read(#[from] std::io::Error),
    /// A record could not be written.
    #[error(transparent)]
    Write(#[from] atomic::Error),
    /// A record says something rcptsync would not have written.
    #[error("{}: {reason}; remove it", path.display())]
    Damaged {
        /// The record.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// postconf or postfix failed.
    #[error(transparent)]
    Postfix(#[from] crate::postfix::Error),
}

/// When the map at `map` was last confirmed current (None: never recorded).
pub fn confirmed_at(map: &Path) -> Result<Option<u64>, Error> {
    let path = confirmed_path(map);
    let Some(text) = nofollow::read_small(&path, MAX_RECORD)? else {
        return Ok(None);
    };
    text.trim().parse().map(Some).map_err(|_| Error::Damaged {
        path,
        reason: format!("{:?} is not a time", text.trim()),
    })
}

/// Records that the map at `map` was confirmed current at `at`.
pub fn note_confirmed(map: &Path, at: u64) -> Result<(), Error> {
    atomic::write(&confirmed_path(map), format!("{at}\n").as_bytes(), 0o644)?;
    Ok(())
}

/// The most a confirmation file may be (receive writes about 120 bytes).
const MAX_CONFIRMATION: u64 = 4096;

/// The last confirmation `receive` left in the spool `dir`, checked like a spooled map
/// ([`super::spool::check_file`]: opened through no link and without blocking, a regular
/// file with one link, owned by root or the spool's owner, writable by it only) and bounded.
/// None when there is none. Its content is never shown: what is not a confirmation is
/// named, not quoted.
pub fn confirmation(dir: &Path) -> Result<Option<Confirmation>, super::spool::Error> {
    use std::io::Read as _;
    let (handle, owner) = super::spool::open_dir(dir)?;
    let path = dir.join(super::spool::CONFIRM_NAME);
    let io = |cause| super::spool::Error::Io {
        path: path.clone(),
        cause,
    };
    let fd = match nofollow::open_regular_at(&handle, Path::new(super::spool::CONFIRM_NAME)) {
        Ok(nofollow::Found::Missing) => return Ok(None),
        Ok(nofollow::Found::Regular(fd)) => fd,
        Ok(_) => {
            return Err(super::spool::Error::Unsafe {
                path,
                reason: "is not a regular file; it is not read".into(),
            });
        }
        Err(cause) => return Err(io(cause)),
    };
    let file = super::spool::file_of(fd, &path);
    super::spool::check_file(&file.metadata().map_err(io)?, &path, owner)?;
    let mut text = Vec::new();
    file.take(MAX_CONFIRMATION + 1)
        .read_to_end(&mut text)
        .map_err(io)?;
    let parsed = (text.len() as u64 <= MAX_CONFIRMATION)
        .then(|| String::from_utf8(text).ok())
        .flatten()
        .and_then(|text| Confirmation::parse(&text).ok());
    match parsed {
        Some(confirmation) => Ok(Some(confirmation)),
        None => Err(super::spool::Error::Unsafe {
            path,
            reason: "is not a confirmation as receive writes one; it is ignored".into(),
        }),
    }
}

/// The switch as `PATH.stale` records it: since when, and what main.cf said before (None: the
/// parameter was not set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    /// When the map was found stale (seconds).
    pub since: u64,
    /// The explicit value before the switch.
    pub previous: Option<String>,
    /// Whether the soft code was set (and Postfix reloaded): a run that failed in between
    /// is completed by the next.
    pub applied: bool,
}

impl Switched {
    /// The switch now on for `map`, if it is.
    pub fn read(map: &Path) -> Result<Option<Self>, Error> {
        let path = switched_path(map);
        let Some(text) = nofollow::read_small(&path, MAX_RECORD)? else {
            return Ok(None);
        };
        let damaged = |reason: &str| Error::Damaged {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        let mut lines = text.lines();
        let since = lines
            .next()
            .and_then(|l| l.strip_prefix("since "))
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| damaged("no `since TIME` line"))?;
        let previous = match lines.next().and_then(|l| l.strip_prefix("previous")) {
            Some(value) if value.trim().is_empty() => None,
            Some(value) => Some(value.trim().to_owned()),
            None => return Err(damaged("no `previous` line")),
        };
        let applied = lines.next() == Some("applied");
        Ok(Some(Self {
            since,
            previous,
            applied,
        }))
    }

    /// Writes the record.
    fn write(&self, map: &Path) -> Result<(), Error> {
        let text = format!(
            "since {}\nprevious {}\n{}",
            self.since,
            self.previous.as_deref().unwrap_or_default(),
            if self.applied { "applied\n" } else { "" }
        );
        atomic::write(&switched_path(map), text.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Turns the switch on: main.cf's value is kept in the record (written first, so that a
    /// run killed in between still knows what to put back), then the soft code is set, then
    /// `reload` runs; the record says so once all of it is done ([`Switched::complete`]).
    pub fn on(
        map: &Path,
        postfix: &Postfix,
        since: u64,
        reload: impl Fn() -> Result<(), Error>,
    ) -> Result<Self, Error> {
        let switched = Self {
            since,
            previous: explicit(postfix)?,
            applied: false,
        };
        switched.write(map)?;
        switched.complete(map, postfix, reload)
    }

    /// Sets the soft code and runs `reload`, then records that it is done: what a switch
    /// that failed half way (postconf or the reload) still needs.
    pub fn complete(
        mut self,
        map: &Path,
        postfix: &Postfix,
        reload: impl Fn() -> Result<(), Error>,
    ) -> Result<Self, Error> {
        postfix.postconf(&["-e", &format!("{PARAMETER}={SOFT}")])?;
        reload()?;
        self.applied = true;
        self.write(map)?;
        Ok(self)
    }

    /// Turns the switch off: main.cf gets back what it had, unless someone changed the value
    /// meanwhile (then it is left as it is: returned as the value found); the record goes.
    pub fn off(&self, map: &Path, postfix: &Postfix) -> Result<Option<String>, Error> {
        let now = explicit(postfix)?;
        // A switch that never got as far as postconf changed nothing to put back.
        let untouched = self.applied && now.as_deref() == Some(SOFT);
        if untouched {
            match &self.previous {
                Some(value) => postfix.postconf(&["-e", &format!("{PARAMETER}={value}")])?,
                None => postfix.postconf(&["-X", PARAMETER])?,
            };
        }
        match crate::fs::remove_file(switched_path(map)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(if untouched || !self.applied {
            None
        } else {
            now
        })
    }
}

/// The parameter's explicit value in main.cf (None: not set).
fn explicit(postfix: &Postfix) -> Result<Option<String>, Error> {
    let value = postfix.postconf(&["-n", "-h", PARAMETER])?;
    let value = value.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_back_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("relay_recipients");
        assert_eq!(confirmed_at(&map).unwrap(), None);
        note_confirmed(&map, 1234).unwrap();
        assert_eq!(confirmed_at(&map).unwrap(), Some(1234));
        crate::map::atomic::write(&confirmed_path(&map), b"soon\n", 0o644).unwrap();
        let e = confirmed_at(&map).unwrap_err().to_string();
        assert!(
            e.contains("relay_recipients.confirmed: \"soon\" is not a time; remove it"),
            "{e}"
        );

        assert_eq!(Switched::read(&map).unwrap(), None);
        for (text, previous, applied) in [
            ("since 5\nprevious \n", None, false),
            ("since 5\nprevious 554\napplied\n", Some("554"), true),
        ] {
            crate::map::atomic::write(&switched_path(&map), text.as_bytes(), 0o644).unwrap();
            let switched = Switched::read(&map).unwrap().unwrap();
            assert_eq!(
                (
                    switched.since,
                    switched.previous.as_deref(),
                    switched.applied
                ),
                (5, previous, applied)
            );
        }
        crate::map::atomic::write(&switched_path(&map), b"whenever\n", 0o644).unwrap();
        assert!(Switched::read(&map).is_err());
    }

    /// Root reads the confirmation from the spool account's directory: through no link and
    /// no second name, and never quotes it.
    #[test]
    fn a_confirmation_is_read_only_as_receive_writes_it() {
        let spool = tempfile::tempdir().unwrap();
        let kept = spool.path().join("confirmed");
        assert!(confirmation(spool.path()).unwrap().is_none());
        let sent = Confirmation::new(&"ab".repeat(32), std::time::SystemTime::now());
        crate::map::atomic::write(&kept, sent.text.as_bytes(), 0o644).unwrap();
        assert_eq!(confirmation(spool.path()).unwrap(), Some(sent.clone()));
        // Another name for a file elsewhere, a link, or something else: refused, never quoted.
        let secret = tempfile::NamedTempFile::new().unwrap();
        crate::map::atomic::write(secret.path(), b"root-secret\n", 0o600).unwrap();
        fs_err::remove_file(&kept).unwrap();
        fs_err::hard_link(secret.path(), &kept).unwrap();
        let e = confirmation(spool.path()).unwrap_err().to_string();
        assert!(
            e.contains("hard links") && !e.contains("root-secret"),
            "{e}"
        );
        fs_err::remove_file(&kept).unwrap();
        fs_err::os::unix::fs::symlink(secret.path(), &kept).unwrap();
        assert!(confirmation(spool.path()).is_err());
        fs_err::remove_file(&kept).unwrap();
        crate::map::atomic::write(&kept, b"root-secret\n", 0o644).unwrap();
        let e = confirmation(spool.path()).unwrap_err().to_string();
        assert!(
            e.contains("is not a confirmation") && !e.contains("root-secret"),
            "{e}"
        );
    }
}
