//! `rcptsync review [--json]`: the change a removal guard holds back ([`crate::hold`]), for
//! the admin who decides whether to approve it: its ID, since when, which guard, how many
//! removals, their split by domain and by source (and the OU for LDAP objects), and the
//! addresses (a sample; all with `-v`). Nothing held: nothing printed, exit 0.
//!
//! Security: reads the held record (`PATH.held`) without following a link, bounded; runs as
//! any user that can read it and changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::{ExitStatus, Failure as _, Printer, Result};
use crate::hold::{self, approval::Approval, held::Held};

/// Addresses listed without `-v`.
const SAMPLE: usize = 20;

/// What review reads, resolved from the config (`cli/settings.rs`).
#[derive(Debug)]
pub struct Settings {
    /// The config file, for the approve command it suggests.
    pub config: PathBuf,
    /// `[output].path`: the held record and the approval are beside it.
    pub map: PathBuf,
    /// How to show it.
    pub options: Options,
}

/// How to show it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// JSON on stdout instead of lines of text.
    pub json: bool,
}

/// `--json`: every held change (at most one today; a list, so that a script need not
/// change when there can be more).
#[derive(Debug, Serialize)]
struct Report {
    held: Vec<Change>,
}

#[derive(Debug, Serialize)]
struct Change {
    id: String,
    since: String,
    guard: String,
    removals: usize,
    by_domain: BTreeMap<String, usize>,
    /// `SOURCE` or `SOURCE OU` → removals, where the run that held them knew (`unknown`
    /// for the others; empty when it knew none).
    by_source: BTreeMap<String, usize>,
    /// A sample of the addresses (all of them with `-v`).
    sample: Vec<String>,
    /// Until when an approval of exactly this change is valid, if there is one.
    approved_until: Option<String>,
}

/// Runs review.
pub fn run(settings: &Settings, printer: Printer) -> Result {
    let held = Held::read(&hold::held_path(&settings.map)).failure()?;
    let approval = Approval::read_all(&hold::approval_path(&settings.map))
        .unwrap_or_default()
        .into_iter()
        .find(|a| held.as_ref().is_some_and(|h| a.removals == h.removals));
    let changes: Vec<Change> = held
        .iter()
        .map(|held| {
            let mut by_domain = BTreeMap::new();
            for address in held.removals.addresses() {
                let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
                *by_domain.entry(domain.to_owned()).or_default() += 1;
            }
            let mut by_source = BTreeMap::new();
            if !held.origins.is_empty() {
                for address in held.removals.addresses() {
                    let origin = held.origins.get(address).map_or("unknown", String::as_str);
                    *by_source.entry(origin.to_owned()).or_default() += 1;
                }
            }
            let take = if printer.verbose() {
                usize::MAX
            } else {
                SAMPLE
            };
            Change {
                id: held.removals.id().to_owned(),
                since: super::printer::rfc3339_seconds(held.since),
                guard: held.guard.clone(),
                removals: held.removals.len(),
                by_domain,
                by_source,
                sample: held
                    .removals
                    .addresses()
                    .iter()
                    .take(take)
                    .cloned()
                    .collect(),
                approved_until: approval.as_ref().map(Approval::not_after_text),
            }
        })
        .collect();
    if settings.options.json {
        let text = serde_json::to_string_pretty(&Report { held: changes }).failure()?;
        printer.line(text)?;
        return Ok(ExitStatus::Success);
    }
    let config = settings.config.display();
    for change in changes {
        printer.line(format_args!(
            "change {}: {} removal(s) held since {}",
            change.id, change.removals, change.since
        ))?;
        printer.line(format_args!("  guard: {}", change.guard))?;
        printer.line("  by domain:")?;
        for (domain, count) in &change.by_domain {
            printer.line(format_args!("    {count:>8}  {domain}"))?;
        }
        if !change.by_source.is_empty() {
            printer.line("  by source:")?;
            for (source, count) in &change.by_source {
                printer.line(format_args!("    {count:>8}  {source}"))?;
            }
        }
        let shown = change.sample.len();
        match shown < change.removals {
            true => printer.line(format_args!(
                "  addresses ({shown} of {}; -v lists all):",
                change.removals
            ))?,
            false => printer.line("  addresses:")?,
        }
        for address in &change.sample {
            printer.line(format_args!("    {address}"))?;
        }
        match &change.approved_until {
            Some(until) => printer.line(format_args!(
                "  approved until {until}: the next sync applies it"
            ))?,
            None => printer.line(format_args!(
                "  to let it through: rcptsync approve {} -c {config}",
                change.id
            ))?,
        }
    }
    Ok(ExitStatus::Success)
}
