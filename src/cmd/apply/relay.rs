//! apply's part in the relay domains table ([`crate::install::relay`]): the domains the
//! payload carried, checked against the gateway's own allowed patterns, measured against the
//! live table, and installed beside the map by the same swap.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use tracing::warn;

use crate::install::build;
use crate::postfix::settings::{RelayDomains, unrelayed};

use super::{Next, refuse};
use crate::install::build::Built;
use crate::install::relay::Domains;
use crate::install::spool::Spooled;
use crate::install::swap::Installer;
use crate::install::{CdbWriter, RelayTable};
use crate::map::atomic::Replacement;
use crate::postfix::{MapType, Postfix};

/// A change of the relay domains table that the payload asks for.
pub(super) struct Pending {
    /// The new table's text and its digest.
    text: String,
    sha256: String,
    /// How many domains the payload carried.
    count: usize,
    /// What Postfix relays with the live table, and with the new one.
    live: Domains,
    new: Domains,
    /// The table's keys that come, and those that go.
    added: Vec<String>,
    removed: Vec<String>,
}

/// The change of the relay domains table that `spooled` brings, if any: None without
/// `[install].relay_domains_map`, for a payload without domains (said: an older rcptsync
/// sent it), and when the live table is already what the payload says. A domain outside the
/// allowed patterns refuses the payload (exit 3).
pub(super) fn pending(
    table: Option<&RelayTable>,
    spooled: &Spooled,
    postfix: &Postfix,
) -> super::Result<Next<Option<Pending>>> {
    let Some(table) = table else {
        return Ok(Next::Go(None));
    };
    let shown = spooled.path.display().to_string();
    let Some(bytes) = spooled.domains() else {
        // Each run says it (the timer's too): at info, not to mail it every quarter hour.
        tracing::info!(
            "{shown} carries no relay domains (the pushing rcptsync is older, or this is a \
             plain map); {} is left as it is",
            table.map
        );
        return Ok(Next::Go(None));
    };
    let carried = match Domains::from_payload(bytes, &table.allowed) {
        Ok(carried) => carried,
        Err(e) => return Ok(Next::End(refuse(&e.to_string(), &shown))),
    };
    let failure = |e: anyhow::Error| super::super::Error::Failure(e);
    let parent = postfix
        .param("parent_domain_matches_subdomains")
        .map_err(|e| failure(e.into()))?
        .split([',', ' ', '\t'])
        .any(|feature| feature == "relay_domains");
    if parent && let Err(e) = carried.parent_allowed(&table.allowed) {
        return Ok(Next::End(refuse(&e.to_string(), &shown)));
    }
    let text = carried.render(parent);
    let sha256 = crate::map::digest::sha256_hex(text.as_bytes());
    if installer(table, postfix).has_text(&sha256)? {
        return Ok(Next::Go(None));
    }
    let live_keys = Domains::live_keys(&table.map.path).map_err(|e| {
        failure(anyhow::anyhow!(
            "read the live relay domains {}: {e}",
            table.map
        ))
    })?;
    let new_keys: BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    Ok(Next::Go(Some(Pending {
        count: carried.len(),
        live: Domains::from_keys(&live_keys).as_relayed(parent),
        new: carried.as_relayed(parent),
        added: new_keys.difference(&live_keys).cloned().collect(),
        removed: live_keys.difference(&new_keys).cloned().collect(),
        text,
        sha256,
    })))
}

/// The installer of the table: postmap builds it (it is small, and any type is fine).
pub(super) fn installer<'a>(table: &'a RelayTable, postfix: &'a Postfix) -> Installer<'a> {
    Installer::new(&table.map, postfix, CdbWriter::Postmap)
}

impl Pending {
    /// What Postfix relays now and after this change: the build counts the map's addresses
    /// the change stops relaying ([`Built::lost`]).
    pub(super) fn relay(&self) -> (&Domains, &Domains) {
        (&self.live, &self.new)
    }

    /// What Postfix will relay: for the report of addresses outside it.
    pub(super) fn relayed(&self) -> &Domains {
        &self.new
    }

    /// The change in a line: the table's keys that come and go.
    pub(super) fn line(&self, table: &RelayTable) -> String {
        let list = |keys: &[String]| match keys {
            [] => "none".to_owned(),
            keys => keys.join(", "),
        };
        format!(
            "{}: {} relay domains (added: {}; removed: {})",
            table.map,
            self.count,
            list(&self.added),
            list(&self.removed)
        )
    }

    /// Writes the table beside the live one and swaps it in (postmap, a lookup, renames).
    pub(super) fn install(self, table: &RelayTable, postfix: &Postfix) -> anyhow::Result<()> {
        let mut text = Replacement::new(&table.map.path, 0o644)?;
        text.file().write_all(self.text.as_bytes())?;
        if table.map.kind == MapType::Texthash {
            // As for the map: Postfix waits for a texthash file younger than two seconds.
            let cooled = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
            text.file().set_modified(cooled)?;
        }
        let probe = self.text.lines().next().and_then(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_owned(), value.to_owned()))
        });
        let built = Built {
            text: text.into_temp_path()?,
            indexed: None,
            sha256: self.sha256.clone(),
            count: self.count,
            summary: None,
            uncovered: 0,
            approvals_hit: Vec::new(),
            missing_canaries: Vec::new(),
            domains: BTreeMap::new(),
            more_domains: 0,
            lost: 0,
            probe,
        };
        installer(table, postfix).install(built, &self.sha256)?;
        Ok(())
    }
}

/// Warns about addresses in domains the gateway does not relay: they are harmless in the map
/// but point at a mismatch between the directory and the gateway's relay_domains (or the
/// relay domains table about to be installed, `table`).
pub(super) fn report_unrelayed(
    postfix: &Postfix,
    built: &Built,
    table: Option<&crate::install::relay::Domains>,
) -> anyhow::Result<()> {
    let missing = match table {
        Some(table) => unrelayed(&built.domains, |domain| {
            Ok::<_, anyhow::Error>(table.covers(domain))
        })?,
        None => {
            let relay = RelayDomains::read(postfix)?;
            unrelayed(&built.domains, |domain| relay.covers(postfix, domain))?
        }
    };
    if !missing.is_empty() {
        let listed: Vec<String> = missing
            .iter()
            .map(|(domain, count)| format!("{domain} ({count})"))
            .collect();
        warn!(
            "the map has addresses in domains this gateway does not relay (not in relay_domains): {}",
            listed.join(", ")
        );
    }
    if built.more_domains > 0 {
        warn!(
            "the map has addresses in {} more domains, not compared with relay_domains (at most {} are)",
            built.more_domains,
            build::MAX_DOMAINS
        );
    }
    Ok(())
}
