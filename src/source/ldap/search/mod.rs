//! The paged subtree search and the reads it needs, on a bound [`Connection`].
//!
//! The search is paged (RFC 2696, what AD's MaxPageSize of 1000 requires). Every page's result
//! code is checked and the search is complete only when the server ends it with success and an
//! empty cookie; anything else (size or time limit, busy, unavailable, a dropped connection)
//! is an error and nothing is written. Multi-valued attributes that AD returns in ranges
//! (`proxyAddresses;range=0-1499`) are completed with follow-up reads before the entry is
//! used (`values`, with the bounds on an entry's values). Referrals (continuation references
//! to other naming contexts) are not chased.

mod entry;
mod values;

use std::time::Duration;

use ldap3::controls::{Control, ControlType, PagedResults, RawControl};
use ldap3::{Ldap, LdapResult, Scope, SearchEntry};
use tracing::debug;

use super::{Bounds, Connection, Error, Reason, describe_result, failure, self_error};
use values::{Pending, check_values, fetch_ranges, ranged, read_base};

pub use entry::Attributes;
pub(super) use entry::{MALFORMED, attributes as decode};
pub(super) use values::ValueBound;
pub use values::is_attribute;

/// What one complete search found besides the entries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SearchStats {
    /// Entries passed on.
    pub entries: usize,
    /// Pages fetched.
    pub pages: usize,
    /// Continuation references seen and not followed.
    pub referrals: usize,
    /// Entries whose ranged attributes needed follow-up reads.
    pub ranged: usize,
}

/// What every page of one search asks, and of whom.
struct Query<'a> {
    url: &'a str,
    base: &'a str,
    filter: &'a str,
    attrs: &'a [&'a str],
    controls: &'a [RawControl],
    timeout: Duration,
    bounds: Bounds,
    /// The relay, which holds back what the page's stream has not taken yet.
    tripwire: &'a super::wire::Tripwire,
}

impl Connection {
    /// Runs a complete paged subtree search and calls `each` for every entry (DN and
    /// attributes, handed over without copying). Ranged attributes are completed first.
    pub fn search(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        page_size: i32,
        each: impl FnMut(String, Attributes),
    ) -> Result<SearchStats, Error> {
        self.search_with(base, filter, attrs, page_size, &[], each)
    }

    /// [`Connection::search`] with more request controls on every page (AD's Show Deleted).
    pub fn search_with(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        page_size: i32,
        controls: &[RawControl],
        each: impl FnMut(String, Attributes),
    ) -> Result<SearchStats, Error> {
        let result = self.pages(base, filter, attrs, page_size, controls, each);
        result.map_err(|e| self.explain(e))
    }

    /// An error as the admin should read it: when the wire cut the connection (a bound
    /// reached, a failed TLS session), or ldap3's driver panicked on what the server sent,
    /// that is the cause, not ldap3's closed connection.
    pub(super) fn explain(&mut self, error: Error) -> Error {
        let Error::Search {
            server,
            base,
            reason,
        } = error
        else {
            return error;
        };
        let reason = match self.tripwire.reason() {
            Some(cut) => cut.into(),
            None => self.driver.panic(&self.rt).map_or(reason, Reason::from),
        };
        Error::Search {
            server,
            base,
            reason,
        }
    }

    /// The pages of the search, one after the other, each within what is left of the
    /// source's `read_timeout`, until the server's cookie says the search is complete.
    fn pages(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        page_size: i32,
        controls: &[RawControl],
        mut each: impl FnMut(String, Attributes),
    ) -> Result<SearchStats, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            deadline,
            read_timeout,
            bounds,
            tripwire,
            ..
        } = self;
        let query = Query {
            url,
            base,
            filter,
            attrs,
            controls,
            timeout: *timeout,
            bounds: *bounds,
            tripwire,
        };
        let (url, deadline) = (url.as_str(), *deadline);
        let late = late(url, base, *read_timeout);
        let mut stats = SearchStats::default();
        let mut paging = Paging::default();
        let mut cookie = Vec::new();
        loop {
            let control = PagedResults {
                size: page_size,
                cookie: std::mem::take(&mut cookie),
            };
            let entries_before = stats.entries + stats.referrals;
            let page = one_page(ldap, &query, control, &mut stats, &mut each);
            let result = rt.block_on(async {
                ldap3::tokio::time::timeout_at(deadline, page)
                    .await
                    .unwrap_or_else(|_| Err(late()))
            })?;
            match paging.next(&result, &stats, entries_before, url, base)? {
                Some(next) => cookie = next,
                None => break,
            }
        }
        debug!(
            server = %url,
            pages = stats.pages,
            referrals = stats.referrals,
            "search complete"
        );
        Ok(stats)
    }

    /// The DN of one entry under `base` that matches `filter`, for `check --connect`: a size
    /// limit of 1 ("size limit exceeded" is the answer, not an error), the first entry taken
    /// as the read takes entries (a malformed one is an error) and the rest abandoned, so
    /// that a server that ignores the limit costs one entry.
    pub(in crate::source::ldap) fn first(
        &mut self,
        base: &str,
        filter: &str,
    ) -> Result<Option<String>, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            deadline,
            read_timeout,
            ..
        } = self;
        let search = async {
            let mut stream = ldap
                .with_search_options(ldap3::SearchOptions::new().sizelimit(1))
                .with_timeout(*timeout)
                .streaming_search(base, Scope::Subtree, filter, vec!["1.1"])
                .await
                .map_err(|e| self_error(url, base, &e))?;
            while let Some(raw) = stream.next().await.map_err(|e| self_error(url, base, &e))? {
                if raw.is_intermediate() || raw.is_ref() {
                    continue;
                }
                let (dn, _) = entry::attributes(raw.0)
                    .ok_or_else(|| failure(url, base, entry::MALFORMED.to_owned()))?;
                let id = stream.ldap_handle().last_id();
                let _ = stream.ldap_handle().abandon(id).await;
                return Ok(Some(dn));
            }
            let result = stream.finish().await;
            // 4: sizeLimitExceeded, the one entry asked for and more.
            match result.rc {
                0 | 4 => Ok(None),
                rc => Err(failure(url, base, describe_result(rc, &result.text))),
            }
        };
        let found = {
            let late = late(url, base, *read_timeout);
            rt.block_on(async {
                ldap3::tokio::time::timeout_at(*deadline, search)
                    .await
                    .unwrap_or_else(|_| Err(late()))
            })
        };
        found.map_err(|e| self.explain(e))
    }

    /// One entry by DN (scope base); an entry that is not there is an empty entry.
    pub(super) fn read_base(&mut self, dn: &str, attrs: &[&str]) -> Result<SearchEntry, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            deadline,
            read_timeout,
            ..
        } = self;
        let result = {
            let late = late(url, dn, *read_timeout);
            let read = read_base(ldap, url, *timeout, dn, attrs, entry::search_entry);
            rt.block_on(async {
                ldap3::tokio::time::timeout_at(*deadline, read)
                    .await
                    .unwrap_or_else(|_| Err(late()))
            })
        };
        result
            .map(|found| {
                found.unwrap_or_else(|| SearchEntry {
                    dn: dn.to_owned(),
                    attrs: Default::default(),
                    bin_attrs: Default::default(),
                })
            })
            .map_err(|e| self.explain(e))
    }
}

/// One page of the search (asked for with the paging `control`): its entries checked and
/// passed to `each`, those with ranged attributes once these are complete; its result
/// checked to be success. Counts what it sees in `stats`.
async fn one_page(
    ldap: &mut Ldap,
    query: &Query<'_>,
    control: PagedResults,
    stats: &mut SearchStats,
    each: &mut impl FnMut(String, Attributes),
) -> Result<LdapResult, Error> {
    let Query {
        url,
        base,
        filter,
        attrs,
        controls,
        timeout,
        bounds,
        tripwire,
    } = *query;
    let mut partial: Vec<(String, Attributes, Pending)> = Vec::new();
    let mut all = vec![RawControl::from(control)];
    all.extend(controls.iter().cloned());
    let streaming = tripwire.streaming();
    let mut stream = ldap
        .with_controls(all)
        .with_timeout(timeout)
        .streaming_search(base, Scope::Subtree, filter, attrs)
        .await
        .map_err(|e| self_error(url, base, &e))?;
    while let Some(raw) = stream.next().await.map_err(|e| self_error(url, base, &e))? {
        streaming.took();
        if raw.is_intermediate() {
            continue;
        }
        if raw.is_ref() {
            stats.referrals += 1;
        } else {
            stats.entries += 1;
        }
        // Referrals count: a server could page them for ever.
        if (stats.entries + stats.referrals) as u64 > bounds.entries {
            return Err(failure(
                url,
                base,
                format!(
                    "the search returned more than {} entries or referrals (max_entries); if the \
                     directory really is that large, raise max_entries in this [[source]]",
                    bounds.entries
                ),
            ));
        }
        if raw.is_ref() {
            continue;
        }
        let (dn, attrs) = entry::attributes(raw.0)
            .ok_or_else(|| failure(url, base, entry::MALFORMED.to_owned()))?;
        check_values(&bounds, &dn, &attrs).map_err(|e| failure(url, base, e))?;
        let pending = ranged(&attrs);
        if pending.is_empty() {
            each(dn, attrs);
        } else {
            partial.push((dn, attrs, pending));
        }
    }
    let result = stream.finish().await;
    drop(streaming);
    stats.pages += 1;
    if result.rc == 10 {
        return Err(failure(
            url,
            base,
            super::diagnose::referral(base, &result.refs, &result.text),
        ));
    }
    if result.rc != 0 {
        return Err(failure(
            url,
            base,
            format!(
                "the server ended page {} with {}",
                stats.pages,
                describe_result(result.rc, &result.text)
            ),
        ));
    }
    for (dn, mut attrs, pending) in partial {
        stats.ranged += 1;
        for (name, start) in pending {
            let have = attrs
                .iter()
                .filter(|(n, _)| is_attribute(n, &name))
                .map(|(_, v)| v.len() as u64)
                .sum();
            let rest = fetch_ranges(ldap, url, timeout, &bounds, &dn, &name, start, have).await?;
            attrs.push((name, rest));
        }
        each(dn, attrs);
    }
    Ok(result)
}

/// Pages that may bring no entry before the search counts as stuck: counted over the whole
/// search, not in a row, so that a server cannot go on for ever by putting an entry between
/// every hundred empty pages.
const MAX_EMPTY_PAGES: usize = 100;

/// What the paging has seen so far, to tell a search that ends from one that would not.
///
/// A cookie that comes back is not a sign of a loop: RFC 2696 makes the cookie opaque, and
/// Samba sends the same one for every page of a search (the id of its stored result). A
/// server that pages for ever is stopped by `max_entries` and `read_timeout` when its pages
/// bring entries, and by [`MAX_EMPTY_PAGES`] when they do not.
#[derive(Debug, Default)]
struct Paging {
    /// Pages without an entry so far.
    empty_pages: usize,
}

impl Paging {
    /// The cookie to ask for the next page with, from the paging control of the page that
    /// brought `result` (`stats` counted it; before it, `entries_before` entries and
    /// referrals); None when the search is complete.
    fn next(
        &mut self,
        result: &LdapResult,
        stats: &SearchStats,
        entries_before: usize,
        url: &str,
        base: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let paging = result.ctrls.iter().find_map(|c| match c {
            Control(Some(ControlType::PagedResults), raw) => Some(raw.val.as_deref()),
            _ => None,
        });
        let incomplete = |why: String| failure(url, base, why);
        let value = match paging {
            // No paging control in the first answer: the server returned the whole result
            // in one go (success was checked above).
            None if stats.pages == 1 => return Ok(None),
            // On a later page the server forgot where it was: the pages so far are not
            // the whole directory.
            None => {
                return Err(incomplete(format!(
                    "page {} came back without the paged-results control, so the search did \
                     not end; the result is incomplete",
                    stats.pages
                )));
            }
            Some(value) => value,
        };
        let next = match super::super::ber::paged_cookie(value.unwrap_or_default()) {
            None => {
                return Err(incomplete(format!(
                    "the paged-results control of page {} is malformed",
                    stats.pages
                )));
            }
            Some([]) => return Ok(None),
            Some(next) => next,
        };
        // A real server fills its pages; one that keeps paging without sending anything is
        // not getting anywhere.
        if stats.entries + stats.referrals == entries_before {
            self.empty_pages += 1;
            if self.empty_pages > MAX_EMPTY_PAGES {
                return Err(incomplete(format!(
                    "the server sent {MAX_EMPTY_PAGES} pages without entries, \
                     each asking for one more; the search is not progressing"
                )));
            }
        }
        Ok(Some(next.to_vec()))
    }
}

/// The error for a read that outlived `read_timeout`.
fn late(url: &str, base: &str, read_timeout: Duration) -> impl Fn() -> Error {
    move || {
        failure(
            url,
            base,
            format!(
                "the read took longer than read_timeout = {}; if the directory is that slow, \
                 raise read_timeout in this [[source]]",
                humantime::format_duration(read_timeout)
            ),
        )
    }
}
