//! What Active Directory's bind and search failures mean, and what to do about them.
//!
//! AD answers a failed simple bind with result 49 (invalidCredentials) whatever the cause,
//! and puts the cause in the diagnostic text as a Windows error code
//! (`80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563`):
//! a wrong password, a disabled or locked account and an expired password all look alike
//! without it. Samba AD sends the same codes. The admin gets the meaning and the fix; the
//! server's text follows in brackets, so nothing is hidden.

/// One `data NNN` sub-code of result 49: what it means and how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BindFailure {
    /// The code as AD writes it (hexadecimal, lower case).
    pub code: &'static str,
    /// What happened.
    pub meaning: &'static str,
    /// What the admin does about it.
    pub fix: &'static str,
}

/// The sub-codes AD uses for a refused simple bind (MS-ADTS, and the Win32 errors behind them).
const BIND_FAILURES: &[BindFailure] = &[
    BindFailure {
        code: "525",
        meaning: "no such user",
        fix: "check bind_dn: a DN must name the account exactly, a UPN must be the account's userPrincipalName",
    },
    BindFailure {
        code: "52e",
        meaning: "wrong password",
        fix: "put the account's current password in bind_password_file (one line)",
    },
    BindFailure {
        code: "530",
        meaning: "the account may not log on at this time",
        fix: "allow the account to log on at all hours (Logon Hours in the account's properties)",
    },
    BindFailure {
        code: "531",
        meaning: "the account may not log on from this workstation",
        fix: "clear the account's \"Log On To\" list (userWorkstations) or add this host to it",
    },
    BindFailure {
        code: "532",
        meaning: "the account's password has expired",
        fix: "set a new password and put it in bind_password_file; for a service account, consider a fine-grained password policy",
    },
    BindFailure {
        code: "533",
        meaning: "the account is disabled",
        fix: "enable the account (Enable-ADAccount, or samba-tool user enable)",
    },
    BindFailure {
        code: "701",
        meaning: "the account has expired",
        fix: "extend or clear the account's expiry date (accountExpires; Set-ADAccountExpiration)",
    },
    BindFailure {
        code: "773",
        meaning: "the account must change its password before it can log on",
        fix: "set a new password, clear \"User must change password at next logon\", and put it in bind_password_file",
    },
    BindFailure {
        code: "775",
        meaning: "the account is locked out",
        fix: "fix the password in bind_password_file (wrong attempts, maybe rcptsync's own, lock it), then unlock the account (Unlock-ADAccount, or samba-tool user unlock)",
    },
];

/// The `data NNN` sub-code in AD's diagnostic text, when it is one of [`BIND_FAILURES`].
pub(super) fn bind_failure(text: &str) -> Option<&'static BindFailure> {
    let (_, rest) = text.split_once("data ")?;
    let code: String = rest
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase();
    BIND_FAILURES.iter().find(|f| f.code == code)
}

/// The longest part of a server's diagnostic text shown (AD's are under 100 characters).
const SAID: usize = 300;

/// A server's diagnostic text as messages show it: trimmed (AD ends it with a NUL), always
/// quoted and escaped, and cut after [`SAID`] characters with its length. It is the server's
/// own words: a newline in it must not forge a line of the cron mail, nor an ESC reach the
/// admin's terminal. Empty when the server said nothing.
pub(super) fn said(text: &str) -> String {
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if text.is_empty() {
        String::new()
    } else {
        crate::rules::address::quote_at_most(text, SAID)
    }
}

/// The sentence for a refused bind (result 49) as `dn`, with AD's sub-code explained.
pub(super) fn invalid_credentials(dn: &str, text: &str) -> String {
    let shown = said(text);
    match bind_failure(text) {
        Some(f) => format!(
            "bind as {dn} failed: {} (AD code {}); {} [{shown}]",
            f.meaning, f.code, f.fix
        ),
        None if shown.is_empty() => format!("bind as {dn} failed: invalid credentials"),
        None => format!("bind as {dn} failed: invalid credentials ({shown})"),
    }
}

/// The sentence for result 8 (strongerAuthRequired) on a simple bind.
pub(super) fn stronger_auth_required(text: &str) -> String {
    format!(
        "the server refuses a simple bind without TLS (\"Strong(er) authentication required\"); use an \
         ldaps:// URL or starttls = true (result 8, strongerAuthRequired: the DC requires signing or TLS \
         for a simple bind, AD's \"LDAP server signing requirements\" and Samba's default; ldaps:// is \
         port 636) [{}]",
        said(text)
    )
}

/// The sentence for a search of `base` answered with a referral (result 10): the base is in
/// another naming context than this server holds, typically another domain of the forest,
/// which only that domain's DCs or a Global Catalog serve. The referral URLs and the
/// diagnostic text are the server's own words, so they are quoted (`{:?}`): a newline or an
/// ESC in them cannot forge a log line or reach the terminal. They are only shown, never
/// followed.
pub(super) fn referral(base: &str, refs: &[String], text: &str) -> String {
    let to = if refs.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = refs.iter().map(|r| format!("{r:?}")).collect();
        format!(" (to {})", quoted.join(", "))
    };
    format!(
        "the server answered with a referral{to}: {base:?} is not held by this server, probably it is \
         in another domain of the forest; rcptsync does not follow referrals. Either list that domain's \
         DCs in servers, or search the forest's Global Catalog: servers = [\"ldaps://DC:3269\"] (or \
         \"ldap://DC:3268\" with starttls = true) with base_dn = {base:?} or the forest root's DN, \
         which covers every domain (a GC holds the recipient attributes: proxyAddresses and mailNickname \
         are in the partial attribute set){}",
        match said(text) {
            shown if shown.is_empty() => shown,
            shown => format!(" [{shown}]"),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AD_52E: &str =
        "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563\0";

    #[test]
    fn every_sub_code_is_found_in_ad_text() {
        assert_eq!(bind_failure(AD_52E).map(|f| f.code), Some("52e"));
        for f in BIND_FAILURES {
            let text = format!(
                "80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data {}, v3839",
                f.code.to_ascii_uppercase()
            );
            assert_eq!(bind_failure(&text), Some(f), "{text}");
        }
        assert_eq!(bind_failure("data 999, v1"), None);
        assert_eq!(bind_failure("Invalid credentials"), None);
        assert_eq!(bind_failure(""), None);
    }

    #[test]
    fn messages_give_meaning_fix_and_the_server_text() {
        let m = invalid_credentials("svc@example.com", AD_52E);
        assert!(m.starts_with("bind as svc@example.com failed: wrong password (AD code 52e); put the account's current password in bind_password_file"), "{m}");
        assert!(
            m.ends_with("[\"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563\"]"),
            "{m}"
        );
        let m = invalid_credentials("svc@example.com", "data 533, v893");
        assert!(
            m.contains("the account is disabled") && m.contains("Enable-ADAccount"),
            "{m}"
        );
        let m = invalid_credentials("cn=x", "");
        assert_eq!(m, "bind as cn=x failed: invalid credentials");
        let m = stronger_auth_required("00002028: LdapErr: DSID-0C090259");
        assert!(
            m.contains("ldaps://") && m.contains("starttls = true"),
            "{m}"
        );
        let m = referral(
            "DC=emea,DC=example,DC=com",
            &["ldap://emea.example.com/DC=emea,DC=example,DC=com".into()],
            "0000202B: RefErr: DSID-0310082F, data 0, 1 access points",
        );
        assert!(
            m.contains("(to \"ldap://emea.example.com/DC=emea,DC=example,DC=com\")"),
            "{m}"
        );
        assert!(
            m.ends_with("[\"0000202B: RefErr: DSID-0310082F, data 0, 1 access points\"]"),
            "{m}"
        );
        assert!(m.contains("3269") && m.contains("3268"), "{m}");
        assert!(m.contains("base_dn = \"DC=emea,DC=example,DC=com\""), "{m}");
        // The server's words cannot start a line of their own or send an escape sequence.
        let m = referral(
            "DC=example,DC=com",
            &[
                "ldap://a.example.com/\nrcptsync: error: forged".into(),
                "ldap://b.example.com/\u{1b}[2J".into(),
            ],
            "text\r\nrcptsync: error: forged too\u{1b}]0;title\u{7}",
        );
        assert!(!m.contains(['\n', '\r', '\u{1b}', '\u{7}']), "{m}");
        assert!(
            m.contains(
                "(to \"ldap://a.example.com/\\nrcptsync: error: forged\", \
                 \"ldap://b.example.com/\\u{1b}[2J\")"
            ),
            "{m}"
        );
        assert!(
            m.contains("[\"text\\r\\nrcptsync: error: forged too\\u{1b}]0;title\\u{7}\"]"),
            "{m}"
        );
    }

    #[test]
    fn a_bind_refusal_quotes_the_servers_words_and_cuts_them() {
        let forged = "data 52e\nrcptsync: error: forged\u{1b}[2J";
        for m in [
            invalid_credentials("cn=x", forged),
            invalid_credentials("cn=x", "no code\nrcptsync: error: forged"),
            stronger_auth_required(forged),
        ] {
            assert!(!m.contains(['\n', '\u{1b}']), "{m}");
            assert!(m.contains("\\nrcptsync: error: forged"), "{m}");
        }
        let m = invalid_credentials("cn=x", &"x".repeat(100_000));
        assert!(m.len() < 1_000, "{}", m.len());
        assert!(m.ends_with("... (100000 bytes))"), "{m}");
    }
}
