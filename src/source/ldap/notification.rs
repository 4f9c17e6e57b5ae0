//! Learning of an Active Directory DC's changes as it makes them, for `watch`: a search with
//! the change notification control (LDAP_SERVER_NOTIFICATION_OID, MS-ADTS 3.1.1.3.4.1.9),
//! which the DC answers with an entry each time an object in its scope changes, and never
//! ends on its own.
//!
//! As Microsoft's documentation requires: the filter is `(objectClass=*)`, and a subtree is
//! watched from the root of a naming context only (the one the base is in: a move out of the
//! base, or a deletion into Deleted Objects, is then seen too). Like OpenLDAP's feed
//! ([`super::sync`]) this only tells *that* something changed: it asks for no attributes, and
//! each change wakes the watch, which reads what changed with the incremental read (from the
//! store's `highestCommittedUSN`). The registration comes first and the read after, as in
//! Microsoft's sample, so that a change is either before the read or notified. The search
//! carries the Show Deleted control as well, so that a deletion (a move into Deleted Objects)
//! is notified like any change. Samba answers by looking for changes every 5 s, which is late
//! but not wrong.
//!
//! A DC that refuses the control (a policy, an account it will not notify, a sixth
//! registration) ends the search before it notified anything; watch then asks for its change
//! mark every `[watch].poll`.

use std::sync::atomic::AtomicBool;

use ldap3::Scope;
use ldap3::controls::RawControl;

use super::waiting::{self, Next};
use super::{Connection, Error, failure, self_error};

/// LDAP_SERVER_NOTIFICATION_OID.
const NOTIFICATION: &str = "1.2.840.113556.1.4.528";

/// How [`Connection::notify`] ended without an error.
#[derive(Debug)]
pub enum Notified {
    /// `stop` was set.
    Stopped,
    /// The DC does not offer the control, or refused the registration (why).
    Refused(String),
}

impl Connection {
    /// Wakes `wake` once the DC notifies this connection of the changes in naming context
    /// `context`, then for each change, until `stop` is set; an error when the connection
    /// fails or the DC ends the search after it took it (watch then connects again and reads
    /// what it missed).
    pub fn notify(
        &mut self,
        context: &str,
        stop: &AtomicBool,
        wake: &mut dyn FnMut(),
    ) -> Result<Notified, Error> {
        let root = self.read_base("", &["supportedControl"])?;
        let offered = root
            .attrs
            .get("supportedControl")
            .is_some_and(|v| v.iter().any(|o| o == NOTIFICATION));
        if !offered {
            return Ok(Notified::Refused(
                "its rootDSE does not list the change notification control".to_owned(),
            ));
        }
        let result = self.registered(context, stop, wake);
        result.map_err(|e| self.explain(e))
    }

    fn registered(
        &mut self,
        context: &str,
        stop: &AtomicBool,
        wake: &mut dyn FnMut(),
    ) -> Result<Notified, Error> {
        let Connection {
            rt,
            ldap,
            url,
            timeout,
            tripwire,
            ..
        } = self;
        let url = url.as_str();
        let control = RawControl {
            ctype: NOTIFICATION.to_owned(),
            crit: true,
            val: None,
        };
        // Tombstones too: a deletion moves the object into Deleted Objects, which a search
        // without this control does not see (Samba runs the registered search again every
        // 5 s with its controls, and without it never notifies a deletion).
        let show_deleted = RawControl {
            ctype: super::usn::SHOW_DELETED.to_owned(),
            crit: false,
            val: None,
        };
        let mut probe = ldap.clone();
        rt.block_on(async {
            // Counted from the request on, so that every message the relay passes is one
            // the stream (or the probe, below) takes.
            let streaming = tripwire.streaming();
            let mut stream = ldap
                .with_controls(vec![control, show_deleted])
                .streaming_search(context, Scope::Subtree, "(objectClass=*)", vec!["1.1"])
                .await
                .map_err(|e| self_error(url, context, &e))?;
            // The answer to a request sent after the registration shows that the DC has taken
            // the registration in (it ends at once if it refuses it): only then may the read
            // that catches up start.
            let answered = probe
                .with_timeout(*timeout)
                .search("", Scope::Base, "(objectClass=*)", vec!["1.1"])
                .await
                .map_err(|e| self_error(url, "", &e))?;
            // Its entry and its result went through the relay, and are taken.
            for _ in 0..=answered.0.len() {
                streaming.took();
            }
            // The read that catches up may start: changes from now on are notified.
            wake();
            // A search the DC ends before it notified anything is a refusal (whenever the
            // answer comes): polling takes over. One it ends later is a failure: follow again.
            let mut notified = false;
            loop {
                let next = waiting::next(&mut stream, stop).await;
                match next.map_err(|e| self_error(url, context, &e))? {
                    Next::Stopped => return Ok(Notified::Stopped),
                    Next::Ended(result) => {
                        let why = super::describe_result(result.rc, &result.text);
                        if !notified {
                            return Ok(Notified::Refused(format!("it refused to notify: {why}")));
                        }
                        return Err(failure(
                            url,
                            context,
                            format!(
                                "the DC ended the search that notifies its changes, with {why}"
                            ),
                        ));
                    }
                    Next::Message(_) => {
                        streaming.took();
                        notified = true;
                        wake();
                    }
                }
            }
        })
    }
}
