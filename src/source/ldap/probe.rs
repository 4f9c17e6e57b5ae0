//! What `check --connect` asks an LDAP server, beyond the bind: that the base DN is there,
//! that one entry under it matches the filter, and that the server pages a search, each with
//! one small request, so that a check costs the directory almost nothing however big it is.

use ldap3::{Scope, SearchOptions};

use super::{Connection, Error, failure, self_error};

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
        let first = self.first(base, filter);
        Ok(Probe {
            first: first.map_err(|e| self.explain(e))?,
        })
    }

    /// The DN of one entry under `base` that matches `filter` (a size limit of 1: the
    /// server's "size limit exceeded" is the answer, not an error).
    fn first(&mut self, base: &str, filter: &str) -> Result<Option<String>, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            deadline,
            ..
        } = self;
        let search = async {
            let result = ldap
                .with_search_options(SearchOptions::new().sizelimit(1))
                .with_timeout(*timeout)
                .search(base, Scope::Subtree, filter, vec!["1.1"])
                .await
                .map_err(|e| self_error(url, base, &e))?;
            let (entries, outcome) = (result.0, result.1);
            // 4: sizeLimitExceeded, the one entry asked for and more.
            if outcome.rc != 0 && outcome.rc != 4 {
                return Err(failure(
                    url,
                    base,
                    super::describe_result(outcome.rc, &outcome.text),
                ));
            }
            Ok(entries
                .into_iter()
                .next()
                .map(|entry| ldap3::SearchEntry::construct(entry).dn))
        };
        rt.block_on(async {
            ldap3::tokio::time::timeout_at(*deadline, search)
                .await
                .unwrap_or_else(|_| {
                    Err(failure(
                        url,
                        base,
                        "the server did not answer in time".to_owned(),
                    ))
                })
        })
    }
}
