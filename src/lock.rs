//! A lock file so that two runs never interleave.
//!
//! cron and systemd timers can overlap a slow run with the next one; two writers would race
//! on the same map and on the "previous map" the guards compare against. The lock is an
//! advisory `flock` on a file beside the map, held for the life of the [`Lock`] value and
//! released by the kernel if the process dies, so a crash never leaves a stale lock behind.

use std::fs::TryLockError;
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another run holds it right now (and, when waiting, held it all the while).
    #[error("{} is locked by another rcptsync run; it will be released when that run ends (the lock is released automatically if it crashes)", path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("lock {}: {cause}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The failure.
        cause: std::io::Error,
    },
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Lock {
    _file: crate::fs::File,
}

impl Lock {
    /// Takes the lock at `path` without waiting; creates the file if needed. A symbolic
    /// link there is refused (not followed): a lock file in a directory another account can
    /// write must not let that account make root open another file.
    pub fn acquire(path: &Path) -> Result<Self, Error> {
        let io = |cause| Error::Io {
            path: path.to_owned(),
            cause,
        };
        let file = crate::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .mode(0o644)
            .open(path)
            .map_err(io)?;
        match file.file().try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::Busy {
                path: path.to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// [`Lock::acquire`], waiting up to `within` for a run that holds it to end: `watch` holds
    /// the lock only while it writes, for seconds, and a `sync` started by hand meanwhile
    /// waits for it rather than failing.
    pub fn acquire_within(path: &Path, within: std::time::Duration) -> Result<Self, Error> {
        let started = std::time::Instant::now();
        let mut said = false;
        loop {
            match Self::acquire(path) {
                Err(Error::Busy { .. }) if started.elapsed() < within => {
                    if !said {
                        tracing::info!(
                            "{} is locked by another rcptsync run; waiting up to {}s for it",
                            path.display(),
                            within.as_secs()
                        );
                        said = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }
}

/// How long extract and push wait for another run's lock (a watch's run, a slow cron run).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.lock");
        let first = Lock::acquire(&path).unwrap();
        assert!(matches!(Lock::acquire(&path), Err(Error::Busy { .. })));
        drop(first);
        let held = Lock::acquire(&path).unwrap();
        let started = std::time::Instant::now();
        let wait = std::time::Duration::from_millis(300);
        assert!(matches!(
            Lock::acquire_within(&path, wait),
            Err(Error::Busy { .. })
        ));
        assert!(started.elapsed() >= wait);
        let releasing = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(held);
        });
        Lock::acquire_within(&path, std::time::Duration::from_secs(10)).unwrap();
        releasing.join().unwrap();
        let link = dir.path().join("link.lock");
        fs_err::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(Lock::acquire(&link), Err(Error::Io { .. })));
    }
}
