//! `extract --dump-entries FILE`: what the directory sources returned, as LDIF, so that a
//! user's problem becomes a test case (an LDIF source that makes the same map).

use std::path::Path;

use crate::cmd::Result;
use crate::rules::Entry;
use crate::source::ldif;

/// `--dump-entries`: the directory sources' entries as LDIF, in a new private file.
pub(super) struct Dump {
    out: std::io::BufWriter<crate::fs::File>,
    /// The first write error (the sources' callbacks cannot return one).
    failed: Option<std::io::Error>,
}

impl Dump {
    /// Creates `path`, refusing one that exists: a dump never overwrites.
    pub(super) fn create(path: &Path) -> Result<Self> {
        let file = crate::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        Ok(Self {
            out: std::io::BufWriter::new(file),
            failed: None,
        })
    }

    pub(super) fn entry(&mut self, entry: &Entry) {
        use std::io::Write as _;
        if self.failed.is_none()
            && let Err(e) = self.out.write_all(ldif::record(entry).as_bytes())
        {
            self.failed = Some(e);
        }
    }

    pub(super) fn finish(mut self) -> Result<()> {
        use std::io::Write as _;
        match self.failed.take() {
            Some(e) => Err(e.into()),
            None => Ok(self.out.flush()?),
        }
    }
}
