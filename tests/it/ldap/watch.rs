//! `rcptsync watch` against a real slapd with syncprov: a change reaches the map within
//! seconds because slapd announces it (refreshAndPersist), not because watch polls: while the
//! directory is idle slapd answers no search at all. A burst is a few maps, not one per
//! change; a slapd that is killed and started again is followed again and what changed
//! meanwhile is read; removals a guard holds wait for an approval (which watch notices) while
//! new mailboxes flow; SIGHUP loads the config again (a broken one is refused and the old one
//! kept); SIGTERM ends it with exit 0. Against the Samba AD DC, the change notification control does the same (polling
//! is set to an hour, so only a notification can bring a change in time).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::watch::Watch;
use crate::fixture::slapd::{Slapd, mailbox, mailboxes};
use crate::ldap::slapd::ldap_config;
use crate::support::rcptsync;

/// Incremental runs so far: the `-v` line each one writes.
fn incremental_runs(watch: &Watch) -> usize {
    watch
        .log()
        .lines()
        .filter(|l| l.contains("incremental (syncrepl): "))
        .count()
}

fn mapped(dir: &Path, address: &str) -> bool {
    fs_err::read_to_string(dir.join("out/relay_recipients"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').next() == Some(address))
}

fn add(slapd: &Slapd, cn: &str) {
    slapd.modify(
        "ldapadd",
        &mailbox(cn, &[&format!("SMTP:{cn}@example.com")]),
    );
}

/// slapd (syncprov, every operation logged) with 50 mailboxes, and a config for it.
fn serving() -> Slapd {
    let mut slapd = Slapd::start(&mailboxes(50));
    slapd.restart_logging();
    ldap_config(
        slapd.dir(),
        &format!("servers = [\"{}\"]", slapd.url()),
        "[\"example.com\", \"*.corp.example.com\"]",
    );
    slapd
}

#[test]
fn changes_reach_the_map_as_slapd_announces_them_and_an_idle_directory_is_not_searched() {
    let mut slapd = serving();
    let dir = slapd.dir().to_owned();
    let mut watch = Watch::start(&dir);
    watch.wait_for("the first map", Duration::from_secs(30), || {
        mapped(&dir, "user7@example.com")
    });
    // The follow search is open once the first runs are over; then nothing more is asked.
    let mut before = slapd.searches();
    watch.wait_for(
        "the searches of the start to end",
        Duration::from_secs(30),
        || {
            std::thread::sleep(Duration::from_secs(2));
            let now = slapd.searches();
            std::mem::replace(&mut before, now) == now
        },
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        slapd.searches(),
        before,
        "an idle directory was searched (watch polls instead of following):\n{}",
        watch.log()
    );

    // One new mailbox: announced, read, written within seconds.
    let runs = incremental_runs(&watch);
    add(&slapd, "newhire");
    let took = watch.wait_for("a new mailbox", Duration::from_secs(10), || {
        mapped(&dir, "newhire@example.com")
    });
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(incremental_runs(&watch), runs + 1, "{}", watch.log());

    // A burst of 5,000 adds in one go: a handful of maps, not one per change (nor one per
    // quiet second: the burst's first change is the only one that wakes watch).
    let reads = |watch: &Watch| watch.log().matches(" read; left out: ").count();
    let runs = reads(&watch);
    let burst: String = (0..5000)
        .map(|i| {
            mailbox(
                &format!("burst{i}"),
                &[&format!("SMTP:burst{i}@example.com")],
            )
        })
        .collect();
    let adding = Instant::now();
    slapd.modify("ldapadd", &burst);
    let adding = adding.elapsed();
    watch.wait_for("the burst", Duration::from_secs(90), || {
        mapped(&dir, "burst4999@example.com")
    });
    // A read per max_delay (10 s) while the adds go on (longer on a busy machine), one after,
    // and one more where a sync refresh stops at slapd's size limit and is read in full.
    let runs = reads(&watch) - runs;
    let most = adding.as_secs() / 10 + 3;
    assert!(
        runs as u64 <= most,
        "{runs} runs for one burst of {adding:?}:\n{}",
        watch.log()
    );

    // slapd killed; a change while it is down and one after it is back both arrive.
    slapd.stop();
    std::thread::sleep(Duration::from_secs(2));
    slapd.restart_logging();
    add(&slapd, "afterrestart");
    watch.wait_for("a change after a restart", Duration::from_secs(40), || {
        mapped(&dir, "afterrestart@example.com")
    });
    assert!(
        watch.log().contains("following its changes again in"),
        "{}",
        watch.log()
    );

    let log = watch.log();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(watch.stop(Duration::from_secs(5)), 0);
}

#[test]
fn sighup_loads_the_config_again_and_keeps_the_old_one_when_the_new_one_is_broken() {
    let slapd = serving();
    let dir = slapd.dir().to_owned();
    let mut watch = Watch::start(&dir);
    watch.wait_for("the first map", Duration::from_secs(30), || {
        mapped(&dir, "user7@example.com")
    });
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();

    fs_err::write(
        dir.join("rcptsync.toml"),
        format!("{config}\n[watch]\nquiet = \"0s\"\n"),
    )
    .unwrap();
    watch.signal(rustix::process::Signal::HUP);
    watch.wait_for("the refusal", Duration::from_secs(10), || {
        watch_log(&dir).contains("going on with the configuration loaded before")
    });
    assert!(
        watch_log(&dir).contains("watch.quiet"),
        "{}",
        watch_log(&dir)
    );
    add(&slapd, "stillwatched");
    watch.wait_for(
        "a change under the old config",
        Duration::from_secs(10),
        || mapped(&dir, "stillwatched@example.com"),
    );

    // A good config, with the map somewhere else: the change after the reload goes there.
    fs_err::write(
        dir.join("rcptsync.toml"),
        config.replace("out/relay_recipients", "moved/relay_recipients"),
    )
    .unwrap();
    watch.signal(rustix::process::Signal::HUP);
    watch.wait_for("the reload", Duration::from_secs(10), || {
        watch_log(&dir).contains("configuration loaded again")
    });
    add(&slapd, "afterreload");
    watch.wait_for("a change after the reload", Duration::from_secs(20), || {
        fs_err::read_to_string(dir.join("moved/relay_recipients"))
            .unwrap_or_default()
            .contains("afterreload@example.com OK")
    });
    assert!(!mapped(&dir, "afterreload@example.com"));
    assert_eq!(watch.stop(Duration::from_secs(5)), 0);
}

fn watch_log(dir: &Path) -> String {
    fs_err::read_to_string(dir.join("watch.log")).unwrap_or_default()
}

/// slapd announces its changes, so nothing polls it: an export whose upload failed must be
/// tried again by watch itself, with the directory idle, backing off (1 s, 2 s, 4 s...),
/// until it succeeds; a change meanwhile still reaches the map.
#[test]
fn an_export_that_failed_is_tried_again_while_the_directory_is_idle() {
    let slapd = serving();
    let dir = slapd.dir().to_owned();
    let script = format!(
        "if [ -e {0}/fail ]; then echo 'service said 503' >&2; exit 1; fi; echo \"$1\" >> {0}/uploads",
        dir.display()
    );
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!(
            "{config}\n[[export]]\npath = \"recipients.txt\"\n\
             command = [\"/bin/sh\", \"-c\", {script:?}, \"sh\"]\n"
        ),
    )
    .unwrap();
    fs_err::write(dir.join("fail"), "").unwrap();
    let mut watch = Watch::start(&dir);
    let limit = Duration::from_secs(30);
    watch.wait_for("the first map", limit, || mapped(&dir, "user7@example.com"));
    let tries = || watch_log(&dir).matches("service said 503").count();
    watch.wait_for("the first try", limit, || tries() >= 1);
    // Then after 1 s, 2 s, 4 s: a broken upload is not hammered.
    let took = watch.wait_for("three more tries", limit, || tries() >= 4);
    assert!(took >= Duration::from_secs(5), "four tries within {took:?}");
    add(&slapd, "newhire");
    watch.wait_for("the new mailbox", limit, || {
        mapped(&dir, "newhire@example.com")
    });
    fs_err::remove_file(dir.join("fail")).unwrap();
    watch.wait_for("the upload", limit, || dir.join("uploads").exists());
    let list = fs_err::read_to_string(dir.join("recipients.txt")).unwrap();
    assert!(list.contains("newhire@example.com\n"), "{list}");
    assert_eq!(watch.stop(Duration::from_secs(5)), 0);
}

#[test]
fn removals_a_guard_holds_wait_for_approval_while_new_mailboxes_flow() {
    let slapd = serving();
    let dir = slapd.dir().to_owned();
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!("{config}\n[safety]\nmax_removed = 0\nmax_removed_percent = 100\n"),
    )
    .unwrap();
    let mut watch = Watch::start(&dir);
    watch.wait_for("the first map", Duration::from_secs(30), || {
        mapped(&dir, "user7@example.com")
    });

    // Twenty mailboxes go: the guard lets no removal through (however the deletes fall into
    // runs), and says so at error.
    let gone: String = (20..40)
        .map(|i| format!("CN=user{i},OU=Staff,{}\n", Slapd::BASE_DN))
        .collect();
    slapd.modify("ldapdelete", &gone);
    watch.wait_for("the held change", Duration::from_secs(20), || {
        watch_log(&dir).contains("holding back")
    });
    // Watching goes on, and a new mailbox is not held up behind the removals.
    slapd.modify("ldapadd", &mailbox("Hire", &["SMTP:hire@example.com"]));
    watch.wait_for("the new mailbox", Duration::from_secs(20), || {
        mapped(&dir, "hire@example.com")
    });
    assert!(
        mapped(&dir, "user20@example.com") && mapped(&dir, "user39@example.com"),
        "a held removal reached the map:\n{}",
        watch.log()
    );

    // Approved: watch notices the approval (no directory change) and applies it.
    let review = rcptsync(&dir, &["review", "--json", "-c", "rcptsync.toml"]).ok();
    let json: serde_json::Value = serde_json::from_str(&review.stdout).unwrap();
    let id = json["held"][0]["id"].as_str().unwrap().to_owned();
    rcptsync(&dir, &["approve", &id, "-c", "rcptsync.toml"]).ok();
    watch.wait_for("the approved change", Duration::from_secs(20), || {
        !mapped(&dir, "user20@example.com")
    });
    assert!(mapped(&dir, "user19@example.com") && mapped(&dir, "hire@example.com"));
    assert!(!mapped(&dir, "user39@example.com"));
    assert_eq!(watch.stop(Duration::from_secs(5)), 0);
}

#[test]
fn on_samba_the_dc_notifies_each_change_and_watch_reads_it() {
    let samba = crate::ldap::incremental::samba_serving(20);
    samba.grant_list_deleted("svc-rcptsync");
    let dir = samba.dir().to_owned();
    let config = fs_err::read_to_string(dir.join("rcptsync.toml")).unwrap();
    // Asked for its change mark once an hour: only a notification brings a change in time.
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!("{config}\n[watch]\npoll = \"1h\"\n"),
    )
    .unwrap();
    let ad_mapped = |address: &str| {
        fs_err::read_to_string(dir.join("out/relay_recipients"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').next() == Some(address))
    };
    // A tombstone, so that the account is seen to see deletions and reads incrementally.
    samba.samba_tool(&["user", "delete", "user19"]);
    let mut watch = Watch::start(&dir);
    watch.wait_for("the first map", Duration::from_secs(30), || {
        ad_mapped("user7@example.test")
    });

    // Samba looks for changes to notify every 5 s; quiet and the read come on top.
    let user = format!(
        "dn: CN=newhire,{}\nobjectClass: user\nsAMAccountName: newhire\n\
         mailNickname: newhire\nproxyAddresses: SMTP:newhire@example.test\n",
        crate::ldap::incremental::SAMBA_STAFF
    );
    fs_err::write(dir.join("newhire.ldif"), user).unwrap();
    samba.modify("ldapadd", &dir.join("newhire.ldif"));
    watch.wait_for("a new mailbox", Duration::from_secs(30), || {
        ad_mapped("newhire@example.test")
    });
    samba.samba_tool(&["user", "delete", "user3"]);
    watch.wait_for("a deleted mailbox", Duration::from_secs(30), || {
        !ad_mapped("user3@example.test")
    });
    let log = watch.log();
    assert!(log.contains("incremental (usn): "), "{log}");
    assert!(!log.contains("does not notify"), "{log}");
    assert_eq!(watch.stop(Duration::from_secs(5)), 0);
}
