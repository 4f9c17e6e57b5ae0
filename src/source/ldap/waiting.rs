//! Waiting on a search that stays open, watch's change feeds (OpenLDAP's refreshAndPersist,
//! Active Directory's change notifications): the next message, or the end of the search, or
//! the flag that ends the watching, whichever comes first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ldap3::{LdapResult, ResultEntry, SearchStream, tokio};

/// How often a quiet search looks at `stop`.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// What came of waiting on an open search.
pub(super) enum Next {
    /// `stop` was set.
    Stopped,
    /// A message of the search (an entry, a reference, an intermediate message).
    Message(ResultEntry),
    /// The server ended the search, with this result.
    Ended(LdapResult),
}

/// Waits for what `stream` brings next, looking at `stop` every [`STOP_CHECK`]; an error when
/// the connection fails.
pub(super) async fn next<'a, S, A>(
    stream: &mut SearchStream<'a, S, A>,
    stop: &AtomicBool,
) -> ldap3::result::Result<Next>
where
    S: AsRef<str> + Send + Sync + 'a,
    A: AsRef<[S]> + Send + Sync + 'a,
{
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Next::Stopped);
        }
        if let Ok(next) = tokio::time::timeout(STOP_CHECK, stream.next()).await {
            return Ok(match next? {
                Some(message) => Next::Message(message),
                None => Next::Ended(stream.finish().await),
            });
        }
    }
}
