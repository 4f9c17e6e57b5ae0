//! What `check --connect` asks an LDAP server, beyond the bind: that the base DN is there,
//! that one entry under it matches the filter, and that the server pages a search, each with
//! one small request, so that a check costs the directory almost nothing however big it is.

use super::{Connection, Error, failure};

/// The paged results control (RFC 2696), which every full read uses.
const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";

/// What [`Connection::probe`] found.
#[derive(Debug)]
pub struct Probe {
    /// The DN of an entry under the base that matches the filter, if one does.
    pub first: Option<String>,
}

impl Connection {
    /// Checks `base` and `filter` on this connection: an error names what is missing (the
    /// base, or paging); an entry that matches is given back, or None when none does.
    pub fn probe(&mut self, base: &str, filter: &str) -> Result<Probe, Error> {
        let root = self.read_base("", &["supportedControl"])?;
        let pages = root
            .attrs
            .get("supportedControl")
            .is_some_and(|oids| oids.iter().any(|oid| oid == PAGED_RESULTS));
        if !pages {
            return Err(failure(
                &self.url,
                "",
                "the server does not offer paged results (1.2.840.113556.1.4.319 in its \
                 rootDSE); a read of more entries than its size limit would fail"
                    .to_owned(),
            ));
        }
        let found = self.read_base(base, &["objectClass"])?;
        if found.attrs.is_empty() {
            return Err(failure(
                &self.url,
                base,
                "base_dn is not there, or this account may not see it; check base_dn and the \
                 account's read permission"
                    .to_owned(),
            ));
        }
        Ok(Probe {
            first: self.first(base, filter)?,
        })
    }
}
