//! The `opensmtpd` and `exim` exports on the real daemons from Debian (unpacked, run privately
//! on loopback: [`crate::fixture::mta`]): each accepts a listed recipient and any recipient of
//! an open domain, and refuses an unlisted one; Exim, which reads its file at each lookup,
//! follows the next run's export.

use std::os::unix::fs::PermissionsExt as _;

use crate::cli::util::{Env, LOOSE, user, users};
use crate::fixture::mta::{Exim, OpenSmtpd};
use crate::fixture::postfix::Smtp;

/// Users u0..u2 and an open domain, exported for both MTAs, in a directory their
/// unprivileged processes can read.
fn exported() -> Env {
    let env = Env::new(&users(3), "");
    fs_err::set_permissions(env.path(""), std::fs::Permissions::from_mode(0o755)).unwrap();
    env.write(
        "rcptsync.toml",
        &format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldif\"\npath = \"directory.ldif\"\n\n\
             [recipients]\ndomains = [\"example.com\", \"open.example.com\"]\n\
             internal_relay = [\"open.example.com\"]\n\n\
             [output]\npath = \"out/relay_recipients\"\n\n{LOOSE}\n\
             [[export]]\npath = \"smtpd.table\"\nformat = \"opensmtpd\"\n\n\
             [[export]]\npath = \"exim.lsearch\"\nformat = \"exim\"\n"
        ),
    );
    env.run(&["extract"]).ok();
    env
}

fn replies(port: u16, addresses: &[&str]) -> Vec<u16> {
    let mut smtp = Smtp::connect(port);
    let codes = addresses.iter().map(|a| smtp.rcpt(a).0).collect();
    smtp.quit();
    codes
}

const DOMAINS: &[&str] = &["example.com", "open.example.com"];

#[test]
fn opensmtpd_accepts_the_exported_recipients_and_refuses_the_rest() {
    let env = exported();
    let smtpd = OpenSmtpd::start(&env.path("smtpd.table"), DOMAINS);
    assert_eq!(
        replies(
            smtpd.port,
            &[
                "u1@example.com",
                "U2@Example.COM",
                "nobody@example.com",
                "anyone@open.example.com"
            ]
        ),
        [250, 250, 550, 250]
    );
}

#[test]
fn exim_accepts_the_exported_recipients_refuses_the_rest_and_follows_the_next_run() {
    let env = exported();
    let exim = Exim::start(&env.path("exim.lsearch"), DOMAINS);
    let probe = [
        "u1@example.com",
        "U2@Example.COM",
        "nobody@example.com",
        "anyone@open.example.com",
    ];
    assert_eq!(replies(exim.port, &probe), [250, 250, 550, 250]);
    // u1 leaves, a new mailbox comes: Exim follows the next run's export.
    env.write(
        "directory.ldif",
        &(user("U0", &["SMTP:u0@example.com"])
            + &user("U2", &["SMTP:u2@example.com"])
            + &user("Nobody", &["SMTP:nobody@example.com"])),
    );
    env.run(&["extract"]).ok();
    assert_eq!(replies(exim.port, &probe), [550, 250, 250, 250]);
}
