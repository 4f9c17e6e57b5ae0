//! Which domains a full run exports and which it opens: the config's list, or Exchange's
//! accepted domains (read from the first LDAP or Graph source), with `internal_relay` added
//! and the excluded domains taken out of the open ones.

use std::collections::BTreeSet;

use tracing::info;

use super::Settings;
use crate::cmd::Result;
use crate::config::DomainSetting;
use crate::rules::domains::AcceptedDomains;
use crate::source::Reader;

/// The accepted domains and the open ones (each an `@domain` line), for `settings`;
/// `readers` are the sources' (opened, in source order), for `domains = "exchange"`.
pub(super) fn resolve(
    settings: &Settings,
    readers: &mut [Box<dyn Reader + '_>],
) -> Result<(AcceptedDomains, BTreeSet<String>)> {
    // With domains = "exchange" the first LDAP or Graph source also tells the accepted domains
    // (and an LDAP source which of them are open).
    let (accepted, mut open) = match &settings.recipients.domains {
        DomainSetting::Listed(accepted) => (accepted.clone(), BTreeSet::new()),
        DomainSetting::Exchange => {
            // The config check guarantees a source that can tell them: the first one does.
            let Some(domains) = readers.iter_mut().find_map(|r| r.accepted_domains()) else {
                return Err(crate::cmd::Error::Failure(anyhow::anyhow!(
                    "recipients.domains = \"exchange\" needs a kind = \"ldap\" or \"graph\" source"
                )));
            };
            let domains = domains?;
            let open = domains.open.into_iter().collect();
            (AcceptedDomains::new(domains.accepted), open)
        }
    };
    // The config checked internal_relay against listed domains; Exchange's are known now.
    if let Some(domain) = settings
        .recipients
        .internal_relay
        .iter()
        .find(|d| !accepted.contains(d))
    {
        return Err(crate::cmd::Error::Usage(anyhow::anyhow!(
            "recipients.internal_relay: {domain} is not one of Exchange's accepted domains; \
             remove it, or add it as an accepted domain in Exchange"
        )));
    }
    open.extend(settings.recipients.internal_relay.iter().cloned());
    // An excluded domain exports nothing, its wild-card included.
    open.retain(|domain| {
        let excluded = settings.recipients.excluded.matches(domain);
        if excluded {
            info!("{domain} is open in Exchange but excluded (exclude_domains): not opened");
        }
        !excluded
    });

    Ok((accepted, open))
}
