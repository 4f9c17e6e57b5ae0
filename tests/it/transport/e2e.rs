//! The whole chain on real servers: a directory (slapd) read by `sync` on the "internal
//! host", pushed over OpenSSH to the gateway's forced `receive`, installed by `apply` into a
//! running Postfix, and checked with SMTP RCPT probes.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use crate::cli::watch::Watch;
use crate::fixture::postfix::Postfix;
use crate::fixture::slapd::{Slapd, mailbox, mailboxes};
use crate::fixture::sshd::Sshd;
use crate::support::rcptsync;

#[test]
fn a_new_mailbox_is_accepted_and_a_deleted_one_refused_at_the_gateway() {
    // The gateway: Postfix with an lmdb map, and sshd delivering into its spool.
    let mut postfix = Postfix::configure("lmdb");
    let sshd = Sshd::start(Some(&postfix.path("spool")));
    let gateway_config = postfix.path("gateway.toml");
    fs_err::write(&gateway_config, postfix.install_toml()).unwrap();
    let gateway_dir = postfix.path("");
    let apply = || {
        rcptsync(
            &gateway_dir,
            &["apply", "-c", gateway_config.to_str().unwrap()],
        )
        .ok()
    };

    // The internal host: slapd and a config that extracts from it and pushes to the gateway.
    let directory = format!(
        "{}{}",
        mailboxes(50),
        mailbox("Leaver", &["SMTP:Leaver@example.com"])
    );
    let slapd = Slapd::start(&directory);
    let pw = slapd.path("bind.pw");
    fs_err::write(&pw, Slapd::BIND_PW).unwrap();
    fs_err::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    fs_err::write(
        slapd.path("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nservers = [\"{}\"]\nbase_dn = \"{}\"\n\
             bind_dn = \"{}\"\nbind_password_file = \"bind.pw\"\n\
             starttls = true\nca_file = \"slapd-ca.pem\"\n\
             [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n\
             [safety]\ncanaries = [\"user7@example.com\"]\n{}",
            slapd.url(),
            Slapd::BASE_DN,
            Slapd::BIND_DN,
            sshd.gateway_toml("mx1")
        ),
    )
    .unwrap();
    let sync = || rcptsync(slapd.dir(), &["-q", "sync", "-c", "rcptsync.toml"]).ok();

    let first = sync();
    assert!(
        first.stdout.contains("mx1: pushed 101 recipients"),
        "{}",
        first.stdout
    );
    apply();
    postfix.start();
    let postfix = postfix;
    let answer = |address: &str| postfix.rcpt(address).0;
    assert_eq!(answer("leaver@example.com"), 250);
    assert_eq!(answer("user7@example.com"), 250);
    assert_eq!(answer("newcomer@example.com"), 550);

    // A mailbox is created and another one deleted in the directory. With `sync` every minute
    // and the apply path unit, it must be accepted at the gateway within about a minute: here
    // one sync and one apply, timed from the directory change to smtpd's 250.
    let created = std::time::Instant::now();
    slapd.modify(
        "ldapadd",
        &mailbox("Newcomer", &["SMTP:Newcomer@example.com"]),
    );
    slapd.modify(
        "ldapdelete",
        &format!("CN=Leaver,OU=Staff,{}\n", Slapd::BASE_DN),
    );
    let second = sync();
    assert!(
        second
            .stdout
            .contains("-leaver@example.com\n+newcomer@example.com\n"),
        "{}",
        second.stdout
    );
    apply();
    assert_eq!(answer("newcomer@example.com"), 250);
    let took = created.elapsed();
    assert!(
        took < std::time::Duration::from_secs(60),
        "a new mailbox took {took:?} to reach smtpd"
    );
    eprintln!("new mailbox accepted by the gateway {took:?} after its creation");
    assert_eq!(answer("leaver@example.com"), 550);
    assert_eq!(answer("user7@example.com"), 250);

    // Nothing changed: sync and apply are silent and leave everything as it is.
    let quiet = sync();
    assert_eq!(
        (quiet.stdout.as_str(), quiet.stderr.as_str()),
        ("", ""),
        "{quiet}"
    );
    let lmdb = postfix.path("maps/relay_recipients.lmdb");
    let installed = (fs_err::read(&lmdb).unwrap(), modified(&lmdb));
    let again = apply();
    assert_eq!(
        (again.stdout.as_str(), again.stderr.as_str()),
        ("", ""),
        "the apply after the last change must be silent: {again}"
    );
    assert_eq!((fs_err::read(&lmdb).unwrap(), modified(&lmdb)), installed);
    assert_eq!(answer("newcomer@example.com"), 250);
}

fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    fs_err::metadata(path).ok()?.modified().ok()
}

#[test]
fn watch_brings_a_new_mailbox_to_the_gateway_within_seconds_and_retries_a_gateway_that_was_down() {
    let mut postfix = Postfix::configure("lmdb");
    let mut sshd = Sshd::start(Some(&postfix.path("spool")));
    let gateway_config = postfix.path("gateway.toml");
    fs_err::write(&gateway_config, postfix.install_toml()).unwrap();
    let gateway_dir = postfix.path("");
    // What rcptsync-apply.path does on a gateway: apply when the spool changes.
    let spooled = postfix.path("spool/relay_recipients");
    let apply = || {
        rcptsync(
            &gateway_dir,
            &["apply", "-c", gateway_config.to_str().unwrap()],
        )
        .ok()
    };
    let directory = format!(
        "{}{}",
        mailboxes(50),
        mailbox("Leaver", &["SMTP:Leaver@example.com"])
    );
    let slapd = Slapd::start(&directory);
    // A second gateway that takes connections and never answers: its pushes hang until ssh
    // gives up on the handshake, and must hold up neither the reads nor mx1.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Pushes to it that started (each hangs until ssh gives up on the handshake, 15 s).
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let attempts_seen = attempts.clone();
    let black_hole = sshd
        .gateway_toml("mx1")
        .replace("mx1", "blackhole")
        .replace(
            &format!("port = {}", sshd.port),
            &format!("port = {}", hole.local_addr().unwrap().port()),
        );
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in hole.incoming() {
            held.push(connection);
            attempts_seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let pw = slapd.path("bind.pw");
    fs_err::write(&pw, Slapd::BIND_PW).unwrap();
    fs_err::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    fs_err::write(
        slapd.path("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nservers = [\"{}\"]\nbase_dn = \"{}\"\n\
             bind_dn = \"{}\"\nbind_password_file = \"bind.pw\"\n\
             starttls = true\nca_file = \"slapd-ca.pem\"\n\
             [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n{}",
            slapd.url(),
            Slapd::BASE_DN,
            Slapd::BIND_DN,
            sshd.gateway_toml("mx1")
        ) + &black_hole
            + "timeout = \"1h\"\n[metrics]\ntextfile = \"prom/rcptsync.prom\"\n",
    )
    .unwrap();
    fs_err::create_dir(slapd.path("prom")).unwrap();
    let mut watch = Watch::start(slapd.dir());
    watch.wait_for("the first push", Duration::from_secs(30), || {
        spooled.exists()
    });
    apply();
    postfix.start();
    let postfix = postfix;
    let answer = |address: &str| postfix.rcpt(address).0;
    assert_eq!(answer("leaver@example.com"), 250);
    assert_eq!(answer("newcomer@example.com"), 550);

    // A mailbox created, another deleted: at the gateway's smtpd within seconds.
    let created = Instant::now();
    slapd.modify(
        "ldapadd",
        &mailbox("Newcomer", &["SMTP:Newcomer@example.com"]),
    );
    slapd.modify(
        "ldapdelete",
        &format!("CN=Leaver,OU=Staff,{}\n", Slapd::BASE_DN),
    );
    // Both changes in the spool (two ldap tools run one after the other may be two maps).
    watch.wait_for("the new map in the spool", Duration::from_secs(15), || {
        let text = fs_err::read_to_string(&spooled).unwrap_or_default();
        text.contains("\nnewcomer@example.com ") && !text.contains("\nleaver@example.com ")
    });
    apply();
    assert_eq!(answer("newcomer@example.com"), 250);
    let took = created.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    eprintln!("watch: a new mailbox accepted by the gateway {took:?} after its creation");
    assert_eq!(answer("leaver@example.com"), 550);

    // status tells that watch runs, how it follows the source, and the delivery time; the
    // metrics have it too.
    let status = rcptsync(slapd.dir(), &["status", "-c", "rcptsync.toml"]).stdout;
    for line in [
        "watch: running since",
        "watch: source ad: announced by the server",
        "watch: gateway mx1: the last change acknowledged",
    ] {
        assert!(status.contains(line), "{line}:\n{status}");
    }
    assert!(!status.contains("watch: gateway blackhole"), "{status}");
    let metrics = fs_err::read_to_string(slapd.path("prom/rcptsync.prom")).unwrap();
    assert!(
        metrics.contains("rcptsync_gateway_change_seconds{gateway=\"mx1\"} "),
        "{metrics}"
    );

    // A reload just after a push to the black hole started (it hangs for 15 s): the next
    // change does not wait for it.
    let attempts_now = || attempts.load(std::sync::atomic::Ordering::Relaxed);
    let before = attempts_now();
    watch.wait_for("a push to the black hole", Duration::from_secs(40), || {
        attempts_now() > before
    });
    watch.signal(rustix::process::Signal::HUP);
    let reloaded = Instant::now();
    slapd.modify(
        "ldapadd",
        &mailbox("Afterreload", &["SMTP:Afterreload@example.com"]),
    );
    watch.wait_for("a change after the reload", Duration::from_secs(10), || {
        fs_err::read_to_string(&spooled)
            .unwrap_or_default()
            .contains("\nafterreload@example.com ")
    });
    eprintln!(
        "watch: a change after a reload in the spool {:?} after it",
        reloaded.elapsed()
    );

    // The gateway's sshd is down while a mailbox is created: watch tries again, with growing
    // waits, and the map arrives once the gateway is back.
    sshd.stop();
    let before = modified(&spooled);
    slapd.modify(
        "ldapadd",
        &mailbox("Whiledown", &["SMTP:Whiledown@example.com"]),
    );
    let log = slapd.path("watch.log");
    watch.wait_for("a failed push", Duration::from_secs(15), || {
        fs_err::read_to_string(&log)
            .unwrap_or_default()
            .contains("gateway mx1: pushing again in")
    });
    sshd.restart();
    watch.wait_for(
        "the map after the gateway is back",
        Duration::from_secs(40),
        || modified(&spooled) != before,
    );
    apply();
    assert_eq!(answer("whiledown@example.com"), 250);
    // Each gateway's failures are reported at error once, not at every retry, and a gateway
    // that is back is said to be.
    watch.wait_for("the recovery", Duration::from_secs(5), || {
        fs_err::read_to_string(&log)
            .unwrap_or_default()
            .contains("gateway mx1: has the map again")
    });
    let text = fs_err::read_to_string(&log).unwrap();
    for gateway in ["mx1", "blackhole"] {
        let alarms = text
            .lines()
            .filter(|l| l.contains(&format!("error: gateway {gateway} ")))
            .count();
        // The black hole's first push may not have timed out yet.
        assert!(
            alarms <= 1 && (alarms == 1 || gateway == "blackhole"),
            "{gateway}:\n{text}"
        );
    }
    // Stopped during the black hole's push: within the grace period, and the watch file
    // goes with it.
    assert_eq!(watch.stop(Duration::from_secs(15)), 0);
    let status = rcptsync(slapd.dir(), &["status", "-c", "rcptsync.toml"]).stdout;
    assert!(!status.contains("watch:"), "{status}");
}
