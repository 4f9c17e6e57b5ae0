//! The LDAP source against a real slapd: paging past AD's 1000-entry limit, failover, TLS,
//! binds, referrals, accepted domains, and failures that must leave the map untouched.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use crate::fixture::slapd::{Slapd, mailbox, mailboxes};

/// What a run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs rcptsync with `args` in `dir`.
pub fn rcptsync(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_rcptsync"))
        .args(args)
        .current_dir(dir)
        .env_remove("RCPTSYNC_BIND_PASSWORD")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Writes `bind.pw` (mode 0600) and `rcptsync.toml` for an LDAP source with `source` keys
/// (servers etc.) and `rest` (recipients/safety tables after the defaults) into `dir`.
pub fn ldap_config(dir: &Path, source: &str, domains: &str, rest: &str) {
    let pw = dir.join("bind.pw");
    fs_err::write(&pw, format!("{}\n", Slapd::BIND_PW)).unwrap();
    fs_err::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nbase_dn = \"{base}\"\n\
             bind_dn = \"{bind}\"\nbind_password_file = \"bind.pw\"\ntimeout = \"3s\"\n{source}\n\n\
             [recipients]\ndomains = {domains}\nexclude_domains = ['legacy\\.example\\.com']\n\n\
             [output]\npath = \"out/relay_recipients\"\n\n{rest}",
            base = Slapd::BASE_DN,
            bind = Slapd::BIND_DN,
        ),
    )
    .unwrap();
}

fn map(dir: &Path) -> Option<String> {
    fs_err::read_to_string(dir.join("out/relay_recipients")).ok()
}

fn keys(dir: &Path) -> BTreeSet<String> {
    map(dir)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

/// 2600 generated mailboxes plus the special cases: an auth-required group, an external
/// contact, a disabled shared mailbox, an address in an excluded domain.
fn directory() -> String {
    let base = Slapd::BASE_DN;
    format!(
        "{}{}{}\
         dn: CN=All Staff,OU=Staff,{base}\nobjectClass: group\nobjectClass: exchangeRecipient\ncn: All Staff\n\
         objectCategory: group\nmailNickname: allstaff\nmsExchRequireAuthToSendTo: TRUE\nproxyAddresses: SMTP:all-staff@example.com\n\n\
         dn: CN=Carol,OU=Staff,{base}\nobjectClass: contact\nobjectClass: exchangeRecipient\ncn: Carol\nsn: Carol\n\
         objectCategory: person\nmailNickname: carol\ntargetAddress: SMTP:carol@partner.example.org\n\
         proxyAddresses: SMTP:carol@partner.example.org\nproxyAddresses: smtp:carol@example.com\n\n\
         dn: CN=No Mail,OU=Staff,{base}\nobjectClass: user\nobjectClass: exchangeRecipient\ncn: No Mail\nsn: x\nobjectCategory: person\n\n",
        mailboxes(2600),
        mailbox("Sales", &["SMTP:sales@example.com"])
            .replace("userAccountControl: 512", "userAccountControl: 514"),
        mailbox(
            "Bob",
            &["SMTP:bob@example.com", "smtp:bob@legacy.example.com"]
        ),
    )
}

/// The keys the generated directory must give for accepted domains example.com (and, with
/// `corp`, *.corp.example.com).
fn expected(corp: bool) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for i in 0..2600 {
        keys.insert(format!("user{i}@example.com"));
        keys.insert(format!("u{i}@example.com"));
        if corp && i % 3 == 0 {
            keys.insert(format!("user{i}@eu.corp.example.com"));
        }
    }
    for k in ["sales@example.com", "bob@example.com", "carol@example.com"] {
        keys.insert(k.to_owned());
    }
    keys
}

#[test]
fn pages_through_more_than_the_size_limit() {
    let slapd = Slapd::start(&directory());
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\"]",
        "",
    );
    let r = rcptsync(slapd.dir(), &["-v", "extract", "-c", "rcptsync.toml"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(keys(slapd.dir()), expected(false));
    assert!(r.stderr.contains("pages=3"), "{}", r.stderr);
    assert!(!r.stderr.contains(Slapd::BIND_PW) && !r.stdout.contains(Slapd::BIND_PW));
}
