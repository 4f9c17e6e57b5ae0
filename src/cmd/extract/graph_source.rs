//! A Graph source's part of extract: its credentials, read before anything connects, and its
//! change mark, from the delta rounds the last full read left.

use tracing::{info, warn};

use crate::cmd::Result;
use crate::source::graph::{self, GraphSourceConfig};

/// Reads the client secret or certificate of Graph source `name`; a refusal is the admin's
/// to fix (exit 2), as for the bind password.
pub(super) fn credentials(name: &str, source: &GraphSourceConfig) -> Result<graph::Credentials> {
    source.credentials().map_err(|e| {
        let e = anyhow::Error::new(e).context(format!("source {name}"));
        crate::cmd::Error::Usage(e)
    })
}

/// The mark of a Graph source: its constant mark when the delta rounds from `links` saw no
/// change, None (a full read) otherwise. A failing round only costs the shortcut.
pub(super) fn mark(
    name: &str,
    config: &GraphSourceConfig,
    client: &mut graph::Client,
    links: &graph::DeltaLinks,
) -> Option<String> {
    match client.changes(links) {
        Ok(graph::Delta::Unchanged) => Some(config.mark()),
        Ok(graph::Delta::Changed(collection)) => {
            info!("source {name}: {collection} changed since the last full read; reading in full");
            None
        }
        Ok(graph::Delta::Expired) => {
            info!("source {name}: the delta token expired; reading in full");
            None
        }
        Err(e) => {
            warn!("source {name}: the delta round failed ({e}); reading in full");
            None
        }
    }
}
