//! Every map type: installed, seen by smtpd, replaced without a restart, left alone when
//! unchanged, rolled back.

use super::util::Gateway;

/// The whole life of a map of one type on a running Postfix.
fn lifecycle(kind: &str, extra: &str) {
    let mut gw = Gateway::new(kind, extra);
    let first = gw.apply_keys(&[
        "alice@example.com",
        "bob@example.com",
        "postmaster@example.com",
    ]);
    assert!(
        first.stdout.ends_with("3 recipients, 3 added, 0 removed\n"),
        "{first}"
    );
    gw.postfix.start();
    gw.assert_answers(
        &["alice@example.com", "Bob@Example.COM"],
        &["mallory@example.com"],
    );

    // A change is seen by the running smtpd (texthash through the automatic reload).
    let second = gw.apply_keys(&[
        "alice@example.com",
        "carol@example.com",
        "postmaster@example.com",
    ]);
    assert!(
        second
            .stdout
            .ends_with("3 recipients, 1 added, 1 removed\n"),
        "{second}"
    );
    gw.assert_answers(
        &["carol@example.com", "alice@example.com"],
        &["bob@example.com", "mallory@example.com"],
    );
    if kind == "texthash" {
        // Through a reload, not merely a new smtpd process that read the new file (an smtpd
        // serves max_use clients, then another one starts).
        assert_eventually(|| gw.postfix.maillog().contains("reload -- version"));
    }

    // Unchanged: silent, and nothing is rebuilt or touched.
    let files = gw.live_files();
    let mtimes: Vec<_> = fs_err::read_dir(gw.postfix.path("maps"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = gw.apply(&[]);
    assert_eq!(
        (again.code, again.stdout.as_str(), again.stderr.as_str()),
        (0, "", "")
    );
    assert_eq!(gw.live_files(), files);
    let after: Vec<_> = fs_err::read_dir(gw.postfix.path("maps"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .collect();
    assert_eq!(mtimes, after);

    // Rollback restores the previous map, and rolling back again undoes it; each says what
    // it changed (a dry run first, which changes nothing).
    let dry = gw.apply(&["--rollback", "--dry-run"]).ok();
    assert!(
        dry.stdout.contains("+bob@example.com\n")
            && dry.stdout.contains("-carol@example.com\n")
            && dry
                .stdout
                .contains("1 added, 1 removed (dry run, nothing installed)\n"),
        "{dry}"
    );
    assert_eq!(gw.live_files(), files);
    let rolled = gw.apply(&["--rollback"]).ok();
    assert!(
        rolled.stdout.contains("+bob@example.com\n")
            && rolled.stdout.contains("-carol@example.com\n")
            && rolled.stdout.ends_with("1 added, 1 removed\n"),
        "{rolled}"
    );
    gw.assert_answers(&["bob@example.com"], &["carol@example.com"]);
    gw.apply(&["--rollback"]).ok();
    gw.assert_answers(&["carol@example.com"], &["bob@example.com"]);
    // And a rolled-back-to map is still "current" afterwards.
    let again = gw.apply(&[]);
    assert_eq!((again.code, again.stdout.as_str()), (0, ""), "{again}");
}

#[test]
fn hash() {
    lifecycle("hash", "");
}

#[test]
fn btree() {
    lifecycle("btree", "");
}

#[test]
fn cdb_native() {
    lifecycle("cdb", "");
}

#[test]
fn cdb_postmap() {
    lifecycle("cdb", "cdb_writer = \"postmap\"\n");
}

#[test]
fn lmdb() {
    lifecycle("lmdb", "");
}

/// Waits up to 10 s for `condition` (Postfix logs through postlogd, a moment later).
fn assert_eventually(condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "not within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn texthash() {
    lifecycle("texthash", "");
}

#[test]
fn addresses_outside_relay_domains_are_reported() {
    let gw = Gateway::new("hash", "");
    // relay_domains as admins write it: a parameter reference, a lookup table, a file.
    let etc = gw.postfix.config_dir();
    fs_err::write(etc.join("relay_table"), "example.net OK\n").unwrap();
    crate::fixture::run(
        std::process::Command::new("postmap")
            .arg("-c")
            .arg(&etc)
            .arg(format!("hash:{}/relay_table", etc.display())),
    );
    fs_err::write(etc.join("relay_file"), "# more\nexample.org\n").unwrap();
    crate::fixture::run(
        std::process::Command::new("postconf")
            .arg("-c")
            .arg(&etc)
            .args([
                "-e",
                "my_relays = example.com",
                &format!(
                    "relay_domains = $my_relays, hash:{0}/relay_table, {0}/relay_file",
                    etc.display()
                ),
            ]),
    );
    let r = gw.apply_keys(&[
        "a@example.com",
        "b@example.net",
        "c@example.org",
        "d@other.test",
        "e@other.test",
        "f@sub.example.com",
    ]);
    // sub.example.com is relayed: parent_domain_matches_subdomains includes relay_domains by default.
    assert!(
        r.stderr.contains(
            "the map has addresses in domains this gateway does not relay (not in relay_domains): other.test (2)\n"
        ),
        "{}",
        r.stderr
    );
    // They are installed all the same: harmless, and the mismatch is the admin's to resolve.
    assert!(
        r.stdout.ends_with("6 recipients, 6 added, 0 removed\n"),
        "{}",
        r.stdout
    );
    // Applying the same map again is silent: nothing to install, nothing to report.
    let again = gw.apply(&[]);
    assert_eq!(
        (again.code, again.stdout.as_str(), again.stderr.as_str()),
        (0, "", "")
    );

    crate::fixture::run(
        std::process::Command::new("postconf")
            .arg("-c")
            .arg(&etc)
            .args(["-e", "parent_domain_matches_subdomains ="]),
    );
    let r = gw.apply_keys(&["a@example.com", "b@example.net", "f@sub.example.com"]);
    assert!(
        r.stderr
            .contains("(not in relay_domains): sub.example.com (1)\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn reload_always_and_never() {
    // always: even a hash map change reloads Postfix.
    let mut gw = Gateway::new("hash", "reload = \"always\"\n");
    gw.apply_keys(&["alice@example.com"]);
    gw.postfix.start();
    let reloads = |gw: &Gateway| gw.postfix.maillog().matches("reload -- version").count();
    gw.apply_keys(&["alice@example.com", "bob@example.com"]);
    assert_eq!(reloads(&gw), 1);

    // never: a texthash map is installed without a reload (which smtpd processes then still
    // use the old one is Postfix's business: an idle one does, a newly started one does not);
    // the admin's reload brings it in.
    let mut gw = Gateway::new("texthash", "reload = \"never\"\n");
    gw.apply_keys(&["alice@example.com"]);
    gw.postfix.start();
    gw.apply_keys(&["alice@example.com", "bob@example.com"]);
    assert_eq!(reloads(&gw), 0);
    crate::fixture::run(
        std::process::Command::new("postfix")
            .arg("-c")
            .arg(gw.postfix.config_dir())
            .arg("reload"),
    );
    assert_eventually(|| reloads(&gw) == 1);
    gw.assert_answers(&["alice@example.com", "bob@example.com"], &[]);
}

#[test]
fn a_rollback_is_not_undone_by_the_next_apply_of_the_same_map() {
    let mut gw = Gateway::new("lmdb", "");
    gw.apply_keys(&["alice@example.com", "postmaster@example.com"]);
    gw.postfix.start();
    gw.apply_keys(&[
        "alice@example.com",
        "bob@example.com",
        "postmaster@example.com",
    ]);
    gw.apply(&["--rollback"]).ok();
    gw.assert_answers(&["alice@example.com"], &["bob@example.com"]);
    // The spool still holds the map that was rolled back from: it is not installed again.
    let r = gw.apply(&[]).ok();
    assert!(
        r.stderr.contains("it is the map that was rolled back"),
        "{}",
        r.stderr
    );
    gw.assert_answers(&["alice@example.com"], &["bob@example.com"]);
    // A rollback record that cannot be read is not taken for "no rollback": apply stops
    // (exit 1) naming it, and the rolled-back map stays.
    let record = gw.postfix.path("maps/relay_recipients.rolled-back");
    let kept = fs_err::read_to_string(&record).unwrap();
    fs_err::write(&record, "not a record\n").unwrap();
    let r = gw.apply(&[]).code(1);
    assert!(
        r.stderr.contains(&record.display().to_string()),
        "{}",
        r.stderr
    );
    gw.assert_answers(&["alice@example.com"], &["bob@example.com"]);
    fs_err::write(&record, kept).unwrap();
    // Given explicitly, it is; and a new map ends the rollback anyway.
    let spool = gw.postfix.path("spool/relay_recipients");
    gw.apply(&["--from", spool.to_str().unwrap()]).ok();
    gw.assert_answers(&["bob@example.com"], &[]);
    gw.apply(&["--rollback"]).ok();
    gw.apply_keys(&[
        "alice@example.com",
        "carol@example.com",
        "postmaster@example.com",
    ]);
    gw.assert_answers(&["carol@example.com"], &["bob@example.com"]);
}
