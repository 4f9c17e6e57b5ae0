//! The GSSAPI failures admins meet, each with its fix: krb5's error codes (as GSSAPI's minor
//! status) turned into sentences that say what to change (the clock, krb5.conf, the URL's
//! host name, the keytab).

use std::path::PathBuf;

/// A GSSAPI failure while logging in or binding: it carries the principal, the keytab and
/// the host, because the fix for each failure admins meet names one of them.
#[derive(Debug)]
pub struct Failure {
    principal: String,
    keytab: PathBuf,
    /// The server bound to ("" for the login).
    host: String,
    cause: libgssapi::error::Error,
}

impl Failure {
    /// GSSAPI's `cause` for `principal` (from `keytab`), logging in, or binding to `host`.
    pub(super) fn new(
        principal: &str,
        keytab: &std::path::Path,
        host: &str,
        cause: libgssapi::error::Error,
    ) -> Self {
        Self {
            principal: principal.to_owned(),
            keytab: keytab.to_owned(),
            host: host.to_owned(),
            cause,
        }
    }

    /// The fix for the failures admins meet; None for the others.
    fn advice(&self) -> Option<String> {
        let Self {
            principal,
            keytab,
            host,
            cause,
        } = self;
        let keytab = keytab.display();
        let advice = match cause.minor as i32 {
            KRB5KRB_AP_ERR_SKEW => {
                "this machine's clock and the KDC's differ by more than Kerberos \
                allows (5 minutes by default); synchronise the clock (chrony or systemd-timesyncd \
                against the DCs)"
                    .to_owned()
            }
            KRB5_KDC_UNREACH => format!(
                "no KDC of {principal}'s realm answered; check the realm's kdc lines in /etc/krb5.conf \
                 (or KRB5_CONFIG), DNS SRV _kerberos._udp, and that port 88 is open"
            ),
            KRB5_REALM_UNKNOWN | KRB5_REALM_CANT_RESOLVE => format!(
                "the realm of {principal} is not known; add it with its KDCs under [realms] in \
                 /etc/krb5.conf (or KRB5_CONFIG), or enable dns_lookup_kdc"
            ),
            KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN => format!(
                "the KDC knows no service principal ldap/{host} in the realm of {principal}; use the DC's \
                 own DNS name in the URL (the name its SPN ldap/... is registered for, see `setspn -L DC`), \
                 not an IP address or an alias: the name is used as written"
            ),
            KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN => format!(
                "the KDC does not know {principal}; check the principal's spelling and realm (the realm is \
                 in capitals)"
            ),
            KRB5KDC_ERR_PREAUTH_FAILED | KRB5KRB_AP_ERR_BAD_INTEGRITY | KRB5_KT_KVNONOTFOUND => {
                format!(
                    "the KDC refused the key in {keytab}: the account's password (and so its keys) changed \
                 since the keytab was exported; export a new keytab"
                )
            }
            KRB5KDC_ERR_CLIENT_REVOKED => {
                format!(
                    "the KDC refuses {principal}: the account is disabled, locked out or expired"
                )
            }
            KRB5KDC_ERR_KEY_EXP => format!(
                "the password of {principal} has expired; set a new one and export a new keytab"
            ),
            KRB5KDC_ERR_ETYPE_NOSUPP => format!(
                "the KDC and {keytab} have no encryption type in common; export the keytab with AES keys"
            ),
            _ => return None,
        };
        Some(advice)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            principal, cause, ..
        } = self;
        match self.advice() {
            None => write!(f, "Kerberos login or bind as {principal} failed: {cause}"),
            Some(advice) => write!(
                f,
                "Kerberos login or bind as {principal} failed: {advice} [{cause}]"
            ),
        }
    }
}

impl std::error::Error for Failure {}

// krb5 error codes (com_err table of krb5.h) as GSSAPI's minor status.
const KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1_765_328_378;
const KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1_765_328_377;
const KRB5KDC_ERR_ETYPE_NOSUPP: i32 = -1_765_328_370;
const KRB5KDC_ERR_CLIENT_REVOKED: i32 = -1_765_328_366;
const KRB5KDC_ERR_KEY_EXP: i32 = -1_765_328_361;
const KRB5KDC_ERR_PREAUTH_FAILED: i32 = -1_765_328_360;
const KRB5KRB_AP_ERR_BAD_INTEGRITY: i32 = -1_765_328_353;
const KRB5KRB_AP_ERR_SKEW: i32 = -1_765_328_347;
const KRB5_REALM_UNKNOWN: i32 = -1_765_328_230;
const KRB5_KDC_UNREACH: i32 = -1_765_328_228;
const KRB5_REALM_CANT_RESOLVE: i32 = -1_765_328_164;
const KRB5_KT_KVNONOTFOUND: i32 = -1_765_328_154;
