//! The one change rcptsync makes to a directory: deleting a single attribute value, for
//! `rcptsync prune`. Everything else in this module only reads.
//!
//! Security: needs a bind account with write access to the attribute; reading does not.

use super::{Connection, Error, describe_result, self_error};

impl Connection {
    /// Deletes one value of one attribute (an LDAP modify `delete` naming the value, so other
    /// values and concurrent changes to them are left alone).
    pub fn delete_value(&mut self, dn: &str, attribute: &str, value: &str) -> Result<(), Error> {
        let values = std::collections::HashSet::from([value]);
        let result = self
            .rt
            .block_on(
                self.ldap
                    .with_timeout(self.timeout)
                    .modify(dn, vec![ldap3::Mod::Delete(attribute, values)]),
            )
            .map_err(|e| self_error(&self.url, dn, &e))?;
        if result.rc == 0 {
            Ok(())
        } else {
            Err(Error::Modify {
                server: self.url.clone(),
                dn: dn.to_owned(),
                reason: describe_result(result.rc, &result.text),
            })
        }
    }
}
