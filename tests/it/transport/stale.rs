//! A stale map fails soft, across the real chain: `sync` on the internal host, OpenSSH's forced
//! `receive`, `apply` as root against a running Postfix. With a short `stale_after`, an unknown
//! address gets 450 once the installed map has gone unconfirmed that long (a confirmation the
//! spool account forges for another map does not count), known ones still 250; the next `sync`
//! (nothing changed, `confirm_every` up) sends a confirmation, and the next apply makes it 550
//! again without rebuilding the map, putting back what main.cf had.

use std::time::{Duration, Instant};

use crate::fixture::postfix::Postfix;
use crate::fixture::sshd::Sshd;
use crate::support::{Run, rcptsync};

/// How long the map may go unconfirmed here.
const STALE_AFTER: u64 = 3;

struct Chain {
    postfix: Postfix,
    _sshd: Sshd,
    internal: tempfile::TempDir,
}

impl Chain {
    fn new() -> Self {
        let postfix = Postfix::configure("cdb");
        let sshd = Sshd::start(Some(&postfix.path("spool")));
        let internal = tempfile::tempdir().unwrap();
        fs_err::write(
            postfix.path("gateway.toml"),
            format!(
                "{}stale_after = \"{STALE_AFTER}s\"\n",
                postfix.install_toml()
            ),
        )
        .unwrap();
        fs_err::write(
            internal.path().join("rcptsync.toml"),
            format!(
                "[[source]]\nname = \"people\"\nkind = \"list\"\npath = \"list.txt\"\n\
                 [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n\
                 {}confirm_every = \"1s\"\n",
                sshd.gateway_toml("mx1")
            ),
        )
        .unwrap();
        fs_err::write(
            internal.path().join("list.txt"),
            "ann@example.com\nbob@example.com\n",
        )
        .unwrap();
        let chain = Self {
            postfix,
            _sshd: sshd,
            internal,
        };
        chain.sync().ok();
        chain.apply().ok();
        let mut chain = chain;
        chain.postfix.start();
        chain
    }

    fn sync(&self) -> Run {
        rcptsync(self.internal.path(), &["sync", "-c", "rcptsync.toml"])
    }

    fn apply(&self) -> Run {
        self.postfix.rcptsync(&["apply"])
    }

    /// What rcptsync-apply.timer runs.
    fn freshness(&self) -> Run {
        self.postfix.rcptsync(&["apply", "--freshness"])
    }

    fn status(&self) -> Run {
        self.postfix.rcptsync(&["status"]).ok()
    }

    fn main_cf(&self) -> String {
        fs_err::read_to_string(self.postfix.path("etc/main.cf")).unwrap()
    }

    /// The reply code to RCPT TO:<address>, once it is `code` (a reload restarts smtpd's
    /// processes as their sessions end), within ten seconds.
    fn answers(&self, address: &str, code: u16) {
        let start = Instant::now();
        loop {
            let (got, text) = self.postfix.rcpt(address);
            if got == code {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{address}: {got} {text}, not {code}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The live map's files, with their modification times.
    fn live(&self) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
        let map = self.postfix.map_path();
        [map.clone(), map.with_extension("cdb")]
            .iter()
            .map(|p: &std::path::PathBuf| {
                let modified = fs_err::metadata(p).unwrap().modified().unwrap();
                (p.display().to_string(), fs_err::read(p).unwrap(), modified)
            })
            .collect()
    }
}

fn wait_past(seconds: u64) {
    std::thread::sleep(Duration::from_secs(seconds) + Duration::from_millis(1500));
}

#[test]
fn an_unconfirmed_map_answers_450_until_sync_confirms_it() {
    let chain = Chain::new();
    chain.answers("ann@example.com", 250);
    chain.answers("nobody@example.com", 550);
    assert!(chain.status().stdout.contains("confirmed current: "));

    // The internal host stops. The spool account's confirmation of another map does not
    // count; past stale_after the timer's apply switches to 450, said at error once.
    let other = "0".repeat(64);
    fs_err::write(
        chain.postfix.path("spool/confirmed"),
        format!(
            "rcptsync-confirm 1\nsha256: {other}\ntime: {}\n\n",
            humantime::format_rfc3339_seconds(
                std::time::SystemTime::now() + Duration::from_secs(60)
            )
        ),
    )
    .unwrap();
    wait_past(STALE_AFTER);
    let map_before = chain.live();
    let switched = chain.freshness().ok();
    assert!(
        switched.stderr.contains("not confirmed current since")
            && switched
                .stderr
                .contains("Unknown recipients now get a temporary 450"),
        "{switched}"
    );
    assert!(
        chain
            .main_cf()
            .contains("unknown_relay_recipient_reject_code = 450")
    );
    chain.answers("nobody@example.com", 450);
    chain.answers("ann@example.com", 250);
    let again = chain.freshness().ok();
    assert_eq!(again.stderr, "", "said once");
    assert_eq!(chain.apply().ok().stderr, "", "said once");
    let status = chain.status().stdout;
    assert!(status.contains("; stale since "), "{status}");

    // The internal host is back: nothing changed in the directory, so sync pushes no map but
    // sends a confirmation; apply takes it, 550 again, and the map is not rebuilt.
    let synced = chain.sync().ok();
    assert_eq!(synced.stdout, "", "{synced}");
    let confirmed = fs_err::read_to_string(chain.postfix.path("spool/confirmed")).unwrap();
    assert!(confirmed.starts_with("rcptsync-confirm 1\n"), "{confirmed}");
    let back = chain.freshness().ok();
    assert!(back.stderr.contains("confirmed current again"), "{back}");
    assert!(
        !chain
            .main_cf()
            .contains("unknown_relay_recipient_reject_code")
    );
    chain.answers("nobody@example.com", 550);
    assert_eq!(chain.live(), map_before, "the map was not rebuilt");
    assert!(!chain.status().stdout.contains("stale since"));

    // A value main.cf had is put back afterwards.
    let text = chain.main_cf();
    fs_err::write(
        chain.postfix.path("etc/main.cf"),
        format!("{text}unknown_relay_recipient_reject_code = 554\n"),
    )
    .unwrap();
    wait_past(STALE_AFTER);
    chain.apply().ok();
    assert!(
        chain
            .main_cf()
            .contains("unknown_relay_recipient_reject_code = 450")
    );
    chain.answers("nobody@example.com", 450);
    chain.sync().ok();
    chain.apply().ok();
    assert!(
        chain
            .main_cf()
            .contains("unknown_relay_recipient_reject_code = 554")
    );
    chain.answers("nobody@example.com", 554);
}

#[test]
fn with_stale_after_zero_nothing_is_switched() {
    let chain = Chain::new();
    let config = chain.postfix.path("gateway.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(
        &config,
        text.replace(&format!("\"{STALE_AFTER}s\""), "\"0\""),
    )
    .unwrap();
    wait_past(STALE_AFTER);
    let quiet = chain.apply().ok();
    assert_eq!(quiet.stderr, "", "{quiet}");
    assert!(
        !chain
            .main_cf()
            .contains("unknown_relay_recipient_reject_code")
    );
    chain.answers("nobody@example.com", 550);
}

#[test]
fn watch_confirms_the_map_while_the_directory_is_quiet() {
    let chain = Chain::new();
    wait_past(STALE_AFTER);
    chain.apply().ok();
    chain.answers("nobody@example.com", 450);

    // watch polls the list every second; the gateway has the map, so it gets a confirmation
    // once its confirm_every (1s) is up, and apply makes it 550 again.
    let config = chain.internal.path().join("rcptsync.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(&config, format!("{text}[watch]\npoll = \"1s\"\n")).unwrap();
    let confirmed = chain.postfix.path("spool/confirmed");
    let mut watch = crate::cli::watch::Watch::start(chain.internal.path());
    watch.wait_for("a confirmation", Duration::from_secs(20), || {
        confirmed.exists()
    });
    let back = chain.freshness().ok();
    assert!(back.stderr.contains("confirmed current again"), "{back}");
    chain.answers("nobody@example.com", 550);
    // It goes on confirming while it runs: the next one replaces the first.
    let first = fs_err::read(&confirmed).unwrap();
    watch.wait_for("the next confirmation", Duration::from_secs(20), || {
        fs_err::read(&confirmed).is_ok_and(|now| now != first)
    });
    assert_eq!(watch.stop(Duration::from_secs(10)), 0);
}

#[test]
fn a_gateway_that_never_recorded_a_confirmation_counts_from_now() {
    // As on a gateway just upgraded whose quiet directory last pushed long ago: the payload's
    // time is older than stale_after, but no record says when the map was confirmed.
    let chain = Chain::new();
    fs_err::remove_file(chain.postfix.map_path().with_extension("confirmed")).unwrap();
    wait_past(STALE_AFTER);
    // A full apply: it takes the spooled payload, whose time is that old.
    let quiet = chain.apply().ok();
    assert_eq!(quiet.stderr, "", "{quiet}");
    assert!(
        !chain
            .main_cf()
            .contains("unknown_relay_recipient_reject_code")
    );
    chain.answers("nobody@example.com", 550);
    assert!(
        chain
            .postfix
            .map_path()
            .with_extension("confirmed")
            .exists()
    );
}
