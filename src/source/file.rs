//! The file sources, LDIF and list, as [`Reader`](super::Reader)s: nothing to open, read in
//! full every time, their change mark the digest of their content.

use std::path::Path;

use super::ldap::exchange::AcceptedDomains;
use super::{Cause, Cursor, Error, Item, Read, ldif, list};
use crate::map::state;

/// Which format the file is in.
#[derive(Debug, Clone, Copy)]
enum Format {
    Ldif,
    List,
}

/// An LDIF export or a list of addresses.
#[derive(Debug)]
pub struct Reader<'a> {
    name: &'a str,
    path: &'a Path,
    format: Format,
}

impl<'a> Reader<'a> {
    /// The LDIF export at `path`, of source `name`.
    pub fn ldif(name: &'a str, path: &'a Path) -> Self {
        Self {
            name,
            path,
            format: Format::Ldif,
        }
    }

    /// The list of addresses at `path`, of source `name`.
    pub fn list(name: &'a str, path: &'a Path) -> Self {
        Self {
            name,
            path,
            format: Format::List,
        }
    }

    fn fail(&self, cause: impl Into<Cause>) -> Error {
        Error {
            source_name: self.name.to_owned(),
            cause: Box::new(cause.into()),
        }
    }
}

impl super::Reader for Reader<'_> {
    fn open(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn change_mark(&mut self, _cursor: Option<&Cursor>) -> Option<String> {
        state::content_mark(self.path).ok()
    }

    fn accepted_domains(&mut self) -> Option<Result<AcceptedDomains, Error>> {
        None
    }

    fn read(&mut self, each: &mut dyn FnMut(Item<'_>)) -> Result<Read, Error> {
        match self.format {
            Format::Ldif => {
                for entry in ldif::Reader::open(self.path).map_err(|e| self.fail(e))? {
                    each(Item::Entry(&entry.map_err(|e| self.fail(e))?));
                }
            }
            Format::List => {
                let shown = self.path.display();
                list::read(self.path, |line, address| {
                    let at = format!("{shown}:{line}");
                    each(Item::Listed { at: &at, address });
                })
                .map_err(|e| self.fail(e))?;
            }
        }
        Ok(Read::default())
    }
}
