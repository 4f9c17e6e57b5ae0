//! `rcptsync check --connect` against the real slapd (syncprov) and the sshd gateway: with all
//! well, one line per thing found (-v) and exit 0, and nothing written on the gateway; each
//! kind of failure (a refused bind, a base DN that is not there, a filter nothing matches, a
//! server that is down, an unknown host key, a refused key, a gateway that is down) named,
//! the others still tried, exit 1. The Samba AD DC's case is in `samba.rs`.

use std::path::Path;

use super::slapd::ldap_config;
use crate::fixture::slapd::{Slapd, mailboxes};
use crate::fixture::sshd::Sshd;
use crate::support::{Run, rcptsync};

/// slapd with 5 mailboxes and an sshd gateway, and a config for both in slapd's directory.
fn serving() -> (Slapd, Sshd) {
    let slapd = Slapd::start(&mailboxes(5));
    let sshd = Sshd::start(None);
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\"]",
    );
    edit(slapd.dir(), |config| {
        format!("{config}\n{}", sshd.gateway_toml("mx1"))
    });
    (slapd, sshd)
}

fn edit(dir: &Path, change: impl FnOnce(String) -> String) {
    let path = dir.join("rcptsync.toml");
    let config = fs_err::read_to_string(&path).unwrap();
    fs_err::write(&path, change(config)).unwrap();
}

fn check(dir: &Path) -> Run {
    rcptsync(dir, &["-v", "check", "--connect", "-c", "rcptsync.toml"])
}

#[test]
fn everything_reachable_is_said_line_by_line_and_nothing_is_sent() {
    let (slapd, sshd) = serving();
    let run = check(slapd.dir()).ok();
    for line in [
        "ok: source ad: bound to ldap://localhost:",
        &format!(
            "ok: source ad: base_dn {} is there; the server pages searches",
            Slapd::BASE_DN
        ),
        "ok: source ad: an entry matches the filter: cn=user",
        "ok: source ad: change feed: syncrepl",
        "ok: gateway mx1: ssh to ",
    ] {
        // slapd gives DNs as it normalizes them.
        assert!(
            run.stdout.to_lowercase().contains(&line.to_lowercase()),
            "{line}: {run}"
        );
    }
    // The gateway's spool holds nothing: the check carried no map.
    let spooled: Vec<_> = fs_err::read_dir(&sshd.spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(spooled.is_empty(), "{spooled:?}");
}

#[test]
fn each_kind_of_failure_is_named_and_the_others_are_still_tried() {
    let (mut slapd, mut sshd) = serving();
    let dir = slapd.dir().to_owned();
    let failing = |said: &[&str]| {
        let run = check(&dir).code(1);
        for text in said {
            assert!(run.stderr.contains(text), "{text}: {run}");
        }
        run
    };
    // A refused bind; the gateway is still tried, and reached.
    fs_err::write(dir.join("bind.pw"), "wrong\n").unwrap();
    let run = failing(&["source ad", "1 of 2 connection(s) failed"]);
    assert!(run.stdout.contains("ok: gateway mx1"), "{run}");
    fs_err::write(dir.join("bind.pw"), format!("{}\n", Slapd::BIND_PW)).unwrap();

    // A base DN that is not there.
    let base = format!("base_dn = \"{}\"", Slapd::BASE_DN);
    let gone = "base_dn = \"OU=Gone,DC=example,DC=com\"";
    edit(&dir, |c| c.replace(&base, gone));
    failing(&["search of \"OU=Gone,DC=example,DC=com\" failed"]);
    edit(&dir, |c| c.replace(gone, &base));

    // A filter that matches nothing.
    edit(&dir, |c| {
        c.replace(
            "kind = \"ldap\"\n",
            "kind = \"ldap\"\nfilter = \"(mailNickname=nobody-has-this)\"\n",
        )
    });
    failing(&["no entry under base_dn matches the filter"]);
    edit(&dir, |c| {
        c.replace("filter = \"(mailNickname=nobody-has-this)\"\n", "")
    });
    check(&dir).ok();

    // The gateway's host key unknown, then our key refused, then the gateway down.
    let known_hosts = sshd.path("known_hosts");
    let keys = fs_err::read(&known_hosts).unwrap();
    fs_err::write(&known_hosts, "").unwrap();
    failing(&["gateway mx1", "host key"]);
    fs_err::write(&known_hosts, &keys).unwrap();
    let authorized = sshd.path("authorized_keys");
    let allowed = fs_err::read(&authorized).unwrap();
    fs_err::write(&authorized, "").unwrap();
    failing(&["gateway mx1"]);
    fs_err::write(&authorized, &allowed).unwrap();
    check(&dir).ok();
    sshd.stop();
    // And the directory down as well: both named.
    slapd.stop();
    failing(&["source ad", "gateway mx1", "2 of 2 connection(s) failed"]);
    // Without --connect nothing connects: the same config is still fine.
    rcptsync(&dir, &["check", "-c", "rcptsync.toml"]).ok();
}
