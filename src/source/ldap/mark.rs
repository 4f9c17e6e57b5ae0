//! The change mark: what tells an incremental run that the directory has not changed since the
//! last full search, read with one or two cheap requests instead of the search itself.
//!
//! On Active Directory it is the DC's `highestCommittedUSN`, tied to the DC by `dsServiceName`
//! and `invocationId`; on OpenLDAP it is the suffix's `contextCSN`, trusted only where the
//! syncprov overlay maintains it. The snapshot logic that compares marks is in
//! [`crate::source::snapshot`].

use super::{Connection, Error};

impl Connection {
    /// What identifies the directory's state, read with one or two cheap requests: on Active
    /// Directory the DC's `highestCommittedUSN` (rootDSE), tied to the DC by its
    /// `dsServiceName` and `invocationId` (which changes when the DC is restored from a
    /// backup); on OpenLDAP with syncprov, the `contextCSN` of `base_dn`. None when the server
    /// offers neither: every run is then a full run.
    ///
    /// Any change anywhere in the directory moves the mark, so an unchanged mark on the same
    /// server means the last full search is still the directory's content.
    pub fn change_mark(&mut self, base_dn: &str) -> Result<Option<String>, Error> {
        let root = self.read_base(
            "",
            &[
                "highestCommittedUSN",
                "dsServiceName",
                "supportedControl",
                "namingContexts",
            ],
        )?;
        let usn = root
            .attrs
            .get("highestCommittedUSN")
            .and_then(|v| v.first());
        let service = root.attrs.get("dsServiceName").and_then(|v| v.first());
        if let (Some(usn), Some(service)) = (usn, service) {
            let (usn, service) = (usn.clone(), service.clone());
            let invocation = self.invocation_id(&service)?;
            return Ok(Some(format!("ad {service} {invocation} usn={usn}")));
        }
        // contextCSN moves with every change only where syncprov maintains it; a database
        // loaded with slapadd (or copied from a replica) may carry one that never moves.
        // The LDAP Content Synchronization control in the rootDSE says syncprov is there.
        let syncprov = root
            .attrs
            .get("supportedControl")
            .is_some_and(|c| c.iter().any(|oid| oid == "1.3.6.1.4.1.4203.1.9.1.1"));
        if !syncprov {
            return Ok(None);
        }
        // contextCSN is kept on the suffix: the naming context the base is in.
        let context = super::sync::naming_context(&root, base_dn).unwrap_or(base_dn);
        let suffix = self.read_base(context, &["contextCSN"])?;
        Ok(suffix.attrs.get("contextCSN").map(|csns| {
            let mut csns = csns.clone();
            csns.sort();
            format!("openldap {} {base_dn} csn={}", self.url, csns.join(","))
        }))
    }
}

impl Connection {
    /// The `invocationId` of the DC's database (NTDS Settings object `service`), in hex: a
    /// restore from a backup changes it, and the DC's USNs with it.
    pub(super) fn invocation_id(&mut self, service: &str) -> Result<String, Error> {
        let ntds = self.read_base(service, &["invocationId"])?;
        Ok(ntds
            .bin_attrs
            .get("invocationId")
            .and_then(|v| v.first())
            .map(|id| id.iter().map(|b| format!("{b:02x}")).collect())
            .or_else(|| ntds.attrs.get("invocationId")?.first().cloned())
            .unwrap_or_default())
    }
}
