//! prune against a real slapd: dry run, removal of single values, the primary address kept,
//! the undo LDIF restoring everything with ldapmodify, and a refused change stopping cleanly.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use super::slapd::ldap_config;
use crate::fixture::slapd::{Slapd, mailbox, mailboxes};
use crate::fixture::{require, run};
use crate::support::rcptsync;

const ADMIN: &str = "CN=admin,DC=example,DC=com";

/// slapd with two entries that have addresses in the excluded domain legacy.example.com,
/// plus `more` entries and `config` for slapd.conf's database section.
fn directory_with(more: &str, config: &str) -> Slapd {
    let entries = format!(
        "{}{}{}{more}",
        mailboxes(3),
        mailbox(
            "Bob",
            &[
                "SMTP:bob@example.com",
                "smtp:bob@legacy.example.com",
                "smtp:Bob2@LEGACY.example.com"
            ]
        ),
        mailbox(
            "Old",
            &["SMTP:old@legacy.example.com", "smtp:old@example.com"]
        ),
    );
    Slapd::start_with(&entries, config)
}

fn directory() -> Slapd {
    directory_with("", "")
}

/// A config for slapd, binding as `bind_dn` with `password`.
fn config(slapd: &Slapd, bind_dn: &str, password: &str) {
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\"]",
    );
    let pw = slapd.path("bind.pw");
    fs_err::write(&pw, password).unwrap();
    fs_err::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = slapd.path("rcptsync.toml");
    let text = fs_err::read_to_string(&path)
        .unwrap()
        .replace(Slapd::BIND_DN, bind_dn);
    fs_err::write(path, text).unwrap();
}

/// Bob's proxyAddresses as the server has them, sorted.
fn bobs_addresses(slapd: &Slapd) -> Vec<String> {
    addresses(slapd, "Bob")
}

/// The proxyAddresses of the entry named `cn`, as the server has them, sorted.
fn addresses(slapd: &Slapd, cn: &str) -> Vec<String> {
    let out = run(Command::new(require("ldapsearch", "ldap-utils")).args([
        "-x",
        "-LLL",
        "-H",
        &slapd.url(),
        "-b",
        Slapd::BASE_DN,
        &format!("(cn={cn})"),
        "proxyAddresses",
    ]));
    let mut values: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("proxyAddresses: ").map(str::to_owned))
        .collect();
    values.sort();
    values
}

/// What an undo LDIF adds back, as (DN, value) pairs in file order; every entry must be a
/// `changetype: modify` that adds proxyAddresses values (never replaces the attribute).
fn undo_values(ldif: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for block in ldif.split("\n\n").filter(|b| b.contains("dn: ")) {
        let dn = block
            .lines()
            .find_map(|l| l.strip_prefix("dn: "))
            .unwrap()
            .to_owned();
        assert!(
            block.contains("\nchangetype: modify\nadd: proxyAddresses\n"),
            "{block}"
        );
        assert!(
            !block.contains("replace:") && !block.contains("delete:"),
            "{block}"
        );
        for value in block
            .lines()
            .filter_map(|l| l.strip_prefix("proxyAddresses: "))
        {
            pairs.push((dn.clone(), value.to_owned()));
        }
    }
    pairs
}

/// `(DN, value)` pairs for Bob's two excluded addresses, as prune removes them.
fn bobs_excluded() -> Vec<(String, String)> {
    let dn = "cn=Bob,ou=Staff,dc=example,dc=com";
    [
        "smtp:bob@legacy.example.com",
        "smtp:Bob2@LEGACY.example.com",
    ]
    .map(|v| (dn.to_owned(), v.to_owned()))
    .into()
}

#[test]
fn directory_values_are_listed_escaped() {
    // A value whose newline would forge a line of the listing (or of the cron mail) and whose
    // escape sequence would reach the admin's terminal.
    use base64::Engine as _;
    let forged = "smtp:eve@x\nrcptsync: error: forged\u{1b}[2J@legacy.example.com";
    let primary = "SMTP:e\nrcptsync: error: forged primary@legacy.example.com";
    let eve = mailbox("Eve", &["smtp:eve@example.com"]).replace(
        "proxyAddresses: smtp:eve@example.com\n",
        &format!(
            "proxyAddresses: smtp:eve@example.com\nproxyAddresses:: {}\nproxyAddresses:: {}\n",
            base64::engine::general_purpose::STANDARD.encode(forged),
            base64::engine::general_purpose::STANDARD.encode(primary)
        ),
    );
    let slapd = directory_with(&eve, "");
    config(&slapd, ADMIN, "admin-secret");
    let dry = rcptsync(slapd.dir(), &["prune", "-c", "rcptsync.toml"]).ok();
    for output in [&dry.stdout, &dry.stderr] {
        assert!(
            !output
                .lines()
                .any(|l| l.starts_with("rcptsync: error: forged")),
            "{output}"
        );
        assert!(!output.contains('\u{1b}'), "{output}");
    }
    assert!(
        dry.stdout.contains(
            "\"cn=Eve,ou=Staff,dc=example,dc=com\": \"smtp:eve@x\\nrcptsync: error: forged\\u{1b}[2J@legacy.example.com\"\n"
        ),
        "{}",
        dry.stdout
    );
    // The primary address is kept, and named escaped too.
    assert!(
        dry.stderr.contains(
            "\"SMTP:e\\nrcptsync: error: forged primary@legacy.example.com\" is the primary address"
        ),
        "{}",
        dry.stderr
    );
}

#[test]
fn dry_run_then_apply_then_undo() {
    let slapd = directory();
    config(&slapd, ADMIN, "admin-secret");
    let all = bobs_addresses(&slapd);
    assert_eq!(all.len(), 3);

    let dry = rcptsync(slapd.dir(), &["prune", "-c", "rcptsync.toml"]).ok();
    assert_eq!(
        dry.stdout,
        "\"cn=Bob,ou=Staff,dc=example,dc=com\": \"smtp:bob@legacy.example.com\"\n\
         \"cn=Bob,ou=Staff,dc=example,dc=com\": \"smtp:Bob2@LEGACY.example.com\"\n\
         2 value(s) in excluded domains would be removed (dry run; run with --apply to remove them)\n"
    );
    assert!(
        dry.stderr.contains("\"cn=Old,ou=Staff,dc=example,dc=com\": \"SMTP:old@legacy.example.com\" is the primary address and is not removed"),
        "{}",
        dry.stderr
    );
    assert_eq!(
        bobs_addresses(&slapd),
        all,
        "a dry run changed the directory"
    );

    let applied = rcptsync(
        slapd.dir(),
        &[
            "prune",
            "--apply",
            "--undo",
            "undo.ldif",
            "-c",
            "rcptsync.toml",
        ],
    )
    .ok();
    assert!(
        applied
            .stdout
            .contains("removed 2 value(s); to undo: ldapmodify"),
        "{}",
        applied.stdout
    );
    assert_eq!(bobs_addresses(&slapd), ["SMTP:bob@example.com"]);
    let undo = slapd.path("undo.ldif");
    assert_eq!(
        fs_err::metadata(&undo).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The undo LDIF holds exactly the removed values: not the kept primary, nothing else.
    let text = fs_err::read_to_string(&undo).unwrap();
    assert_eq!(undo_values(&text), bobs_excluded(), "{text}");

    slapd.modify("ldapmodify", &fs_err::read_to_string(&undo).unwrap());
    assert_eq!(
        bobs_addresses(&slapd),
        all,
        "the undo LDIF did not restore the values"
    );
}

#[test]
fn a_refused_change_stops_and_the_undo_file_holds_only_what_was_done() {
    // The service account may remove proxyAddresses values, except Zed's. Zed comes after
    // Bob in the directory, so Bob's two values are removed before the refusal stops the run.
    let zed = mailbox(
        "Zed",
        &["SMTP:zed@example.com", "smtp:zed@legacy.example.com"],
    );
    let slapd = directory_with(
        &zed,
        &format!(
            "access to dn.exact=\"CN=Zed,OU=Staff,{base}\" attrs=proxyAddresses by * read\n\
             access to attrs=proxyAddresses by dn.exact=\"{bind}\" write by * read",
            base = Slapd::BASE_DN,
            bind = Slapd::BIND_DN
        ),
    );
    config(&slapd, Slapd::BIND_DN, Slapd::BIND_PW);
    let all = bobs_addresses(&slapd);
    let zeds = addresses(&slapd, "Zed");
    let r = rcptsync(
        slapd.dir(),
        &[
            "prune",
            "--apply",
            "--undo",
            "undo.ldif",
            "-c",
            "rcptsync.toml",
        ],
    )
    .code(1);
    assert!(
        r.stderr.contains("insufficientAccessRights"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("stopped after removing 2 of 3 value(s)"),
        "{}",
        r.stderr
    );
    assert_eq!(bobs_addresses(&slapd), ["SMTP:bob@example.com"]);
    assert_eq!(addresses(&slapd, "Zed"), zeds);

    // The undo file holds exactly the two values that were removed, not Zed's, and restores
    // them.
    let undo = fs_err::read_to_string(slapd.path("undo.ldif")).unwrap();
    assert_eq!(undo_values(&undo), bobs_excluded(), "{undo}");
    slapd.modify("ldapmodify", &undo);
    assert_eq!(bobs_addresses(&slapd), all);
    assert_eq!(addresses(&slapd, "Zed"), zeds);
}
