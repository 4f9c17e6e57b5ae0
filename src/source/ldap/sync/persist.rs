//! Learning of an OpenLDAP server's changes as they are made, for `watch`: the Content
//! Synchronization operation in refreshAndPersist mode (RFC 4533 3.3), from the cookie of now.
//!
//! This search only tells *that* something changed: each change wakes the watch, which reads
//! what changed with the incremental read (refreshOnly from the store's cookie, [`super`]), so
//! that there is one way of reading changes and this one may miss nothing by design. It asks
//! for no attributes and keeps nothing; every change in the naming context wakes (an entry
//! moved out of the base is named by its new DN, outside it). An idle directory costs one open
//! search and no traffic. Each message is bounded by the wire like any other, and the search
//! holds back what it has not taken yet ([`super::super::wire::Tripwire`]).

use std::sync::atomic::AtomicBool;

use ldap3::Scope;
use ldap3::controls::RawControl;
use ldap3::tokio;

use super::super::waiting::{self, Next};
use super::super::{Connection, Error, failure, self_error};
use super::message::{self, Info, State};

impl Connection {
    /// Follows the changes of naming context `context` until `stop` is set (then Ok), calling
    /// `wake` once the changes are followed and then for each change; an error when the
    /// server ends the search or the connection fails (watch then connects again and reads
    /// what it missed).
    pub fn follow(
        &mut self,
        context: &str,
        stop: &AtomicBool,
        wake: &mut dyn FnMut(),
    ) -> Result<(), Error> {
        self.deadline = tokio::time::Instant::now() + self.read_timeout;
        let cookie = match self.refresh(context, None)? {
            Some(refresh) => refresh.cookie,
            None => {
                return Err(failure(
                    &self.url,
                    context,
                    "the server gave no sync cookie to follow its changes from".to_owned(),
                ));
            }
        };
        // What changed before the cookie, since the last read, is not announced: the read this
        // wakes catches up with it (it starts from the store's cursor, older than the cookie).
        wake();
        let result = self.persist(context, &cookie, stop, wake);
        result.map_err(|e| self.explain(e))
    }

    fn persist(
        &mut self,
        context: &str,
        cookie: &[u8],
        stop: &AtomicBool,
        wake: &mut dyn FnMut(),
    ) -> Result<(), Error> {
        let Connection {
            rt,
            ldap,
            url,
            tripwire,
            ..
        } = self;
        let url = url.as_str();
        let control = RawControl {
            ctype: message::REQUEST.to_owned(),
            crit: true,
            val: Some(message::request(Some(cookie), true)),
        };
        let fail = |why: String| failure(url, context, why);
        rt.block_on(async {
            // Counted from the request on, so that every message the relay passes is one
            // the stream takes.
            let streaming = tripwire.streaming();
            let mut stream = ldap
                .with_controls(control)
                .streaming_search(context, Scope::Subtree, "(objectClass=*)", vec!["1.1"])
                .await
                .map_err(|e| self_error(url, context, &e))?;
            loop {
                let next = waiting::next(&mut stream, stop).await;
                let raw = match next.map_err(|e| self_error(url, context, &e))? {
                    Next::Stopped => return Ok(()),
                    Next::Message(raw) => raw,
                    Next::Ended(result) => {
                        return Err(fail(format!(
                            "the server ended the search that follows its changes, with {}",
                            super::super::describe_result(result.rc, &result.text)
                        )));
                    }
                };
                streaming.took();
                let changed = if raw.is_intermediate() {
                    // A set of deleted (or, after a gap, present) entries is a change, and so
                    // is the end of the refresh, which may have implied deletions it did not
                    // name; a new cookie is not.
                    match super::intermediate(&raw.0) {
                        Some(Info::IdSet { uuids, .. }) => !uuids.is_empty(),
                        Some(Info::PhaseEnd { .. }) => true,
                        Some(Info::NewCookie(_)) => false,
                        None => {
                            return Err(fail(
                                "the server sent a malformed Sync Info message".into(),
                            ));
                        }
                    }
                } else if raw.is_ref() {
                    false
                } else {
                    let state = raw
                        .1
                        .iter()
                        .find(|c| c.1.ctype == message::STATE)
                        .and_then(|c| c.1.val.as_deref())
                        .and_then(message::state)
                        .ok_or_else(|| {
                            fail(
                                "the server sent an entry without a valid Sync State control"
                                    .into(),
                            )
                        })?;
                    // Present: the refresh names an unchanged entry (its session log did not
                    // reach back to the cookie); the changes it could not name come as adds.
                    state.state != State::Present
                };
                if changed {
                    wake();
                }
            }
        })
    }
}
