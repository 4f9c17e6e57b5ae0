//! The one change rcptsync makes to a directory: deleting a single attribute value.

use super::Error;
use crate::source::ldap::{self, Connection};

/// Deletes one value of one attribute (an LDAP modify `delete` naming the value, so other
/// values and concurrent changes to them are left alone).
pub fn delete_value(
    connection: &mut Connection,
    dn: &str,
    attribute: &str,
    value: &str,
) -> Result<(), Error> {
    let values = std::collections::HashSet::from([value]);
    let server = connection.url().to_owned();
    let (rt, session, timeout) = connection.session();
    let result = rt
        .block_on(
            session
                .with_timeout(timeout)
                .modify(dn, vec![ldap3::Mod::Delete(attribute, values)]),
        )
        .map_err(|e| Error::Modify {
            server: server.clone(),
            dn: dn.to_owned(),
            reason: ldap::describe_error(&e),
        })?;
    if result.rc == 0 {
        Ok(())
    } else {
        Err(Error::Modify {
            server,
            dn: dn.to_owned(),
            reason: ldap::describe_result(result.rc, &result.text),
        })
    }
}
