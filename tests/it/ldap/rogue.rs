//! A misbehaving LDAP server (tests/it/fixture/rogue_ldap.rs): whatever it answers, extract
//! fails with a message that names the problem (and the key of the bound it reached), in
//! bounded time and memory, never panics, never takes a partial read for the directory, and
//! leaves the existing map byte-for-byte alone.

use std::time::{Duration, Instant};

use crate::fixture::rogue_ldap::{Page, RogueLdap, Script};
use crate::support::{Run, rcptsync_peak};

/// Runs `extract --full` against the server, with an existing map in place and `settings`
/// added to the source; returns the run and its peak memory in MiB.
fn extract_against(server: &RogueLdap, settings: &str) -> (Run, u64, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir(dir.path().join("out")).unwrap();
    fs_err::write(
        dir.path().join("out/relay_recipients"),
        "live@example.com OK\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"rogue\"\nkind = \"ldap\"\nservers = [\"ldap://127.0.0.1:{}\"]\n\
             base_dn = \"DC=example,DC=com\"\ntimeout = \"3s\"\n{settings}\n\
             [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n",
            server.port
        ),
    )
    .unwrap();
    let (run, peak) = rcptsync_peak(dir.path(), &["-c", "rcptsync.toml", "extract", "--full"]);
    (run, peak, dir)
}

/// Plays `script` with `settings` in the source: extract must exit 1 saying `message`, within
/// `seconds` and `mib` of memory, with nothing panicking and the map as it was.
fn assert_bounded(script: Script, settings: &str, message: &str, seconds: u64, mib: u64) -> Run {
    let server = RogueLdap::script(script);
    let started = Instant::now();
    let (run, peak, dir) = extract_against(&server, settings);
    let elapsed = started.elapsed();
    let run = run.code(1);
    assert!(run.stderr.contains(message), "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(!run.stderr.contains("internal error"), "{run}");
    assert!(
        elapsed < Duration::from_secs(seconds),
        "took {elapsed:?}: {run}"
    );
    assert!(peak < mib, "peak RSS {peak} MiB: {run}");
    assert_eq!(
        fs_err::read_to_string(dir.path().join("out/relay_recipients")).unwrap(),
        "live@example.com OK\n"
    );
    run
}

fn assert_refused(pages: Vec<Page>, message: &str) {
    assert_bounded(Script::Pages(pages), "", message, 15, 64);
}

#[test]
fn a_malformed_paging_control_is_an_error_not_a_panic() {
    assert_refused(
        vec![Page::RawControl(vec![0x30, 0x05, 0x02])],
        "the paged-results control of page 1 is malformed",
    );
}

#[test]
fn a_later_page_without_the_paging_control_is_an_incomplete_result() {
    assert_refused(
        vec![Page::Cookie(b"c1".to_vec()), Page::NoControl],
        "page 2 came back without the paged-results control",
    );
}

#[test]
fn a_cookie_that_repeats_on_empty_pages_is_not_followed_for_ever() {
    // The same cookie on every page is allowed (Samba does it, see ldap::samba); pages that
    // bring nothing still end the search.
    assert_refused(
        vec![Page::Cookie(b"same".to_vec())],
        "100 pages without entries",
    );
}

#[test]
fn endless_pages_with_new_cookies_end_at_max_entries() {
    assert_bounded(
        Script::EndlessPages { entries: 10 },
        "max_entries = 5000",
        "more than 5000 entries or referrals (max_entries)",
        20,
        64,
    );
}

#[test]
fn endless_empty_pages_with_new_cookies_are_not_followed() {
    assert_bounded(
        Script::EndlessPages { entries: 0 },
        "",
        "100 pages without entries",
        15,
        64,
    );
}

#[test]
fn a_stream_that_keeps_delivering_ends_at_read_timeout() {
    // One entry every 100 ms: the per-operation timeout (3 s) never fires, the whole read's does.
    let started = Instant::now();
    assert_bounded(
        Script::EndlessEntries {
            pause: Duration::from_millis(100),
        },
        "read_timeout = \"4s\"",
        "the read took longer than read_timeout = 4s",
        15,
        64,
    );
    assert!(started.elapsed() >= Duration::from_secs(4));
}

#[test]
fn a_page_that_never_ends_keeps_memory_bounded_until_read_timeout() {
    // One page streaming entries as fast as the wire goes, with the default bounds: what the
    // relay passes on ahead of the search is held back (ldap3 buffers whatever it is given),
    // so memory stays bounded by what the run keeps (the keys), not by what the server sends.
    assert_bounded(
        Script::EndlessEntries {
            pause: Duration::ZERO,
        },
        "read_timeout = \"10s\"",
        "the read took longer than read_timeout = 10s",
        25,
        256,
    );
}

#[test]
fn a_flood_of_entries_ends_at_max_read_bytes() {
    assert_bounded(
        Script::EndlessEntries {
            pause: Duration::ZERO,
        },
        "max_read_bytes = 5000000",
        "more than 5000000 bytes on one connection (max_read_bytes)",
        20,
        128,
    );
}

#[test]
fn a_huge_message_is_refused_before_it_is_buffered() {
    assert_bounded(
        Script::HugeMessage,
        "",
        "more than max_message_bytes = 16777216; refused before reading it",
        10,
        64,
    );
}

#[test]
fn an_entry_with_too_many_values_ends_at_max_values() {
    // 200,000 values of 20 bytes: a 5 MB message, under max_message_bytes.
    assert_bounded(
        Script::Values {
            count: 200_000,
            size: 20,
        },
        "",
        "more than 100000 values of proxyAddresses (max_values)",
        20,
        200,
    );
}

#[test]
fn an_oversized_value_ends_the_read_and_is_quoted_short() {
    let run = assert_bounded(
        Script::Values {
            count: 1,
            size: 1_000_000,
        },
        "",
        "of 1000000 bytes, more than max_value_bytes = 65536",
        10,
        64,
    );
    assert!(run.stderr.len() < 2000, "{run}");
}

#[test]
fn ranges_that_never_end_stop_at_max_values() {
    assert_bounded(
        Script::EndlessRanges,
        "max_values = 2000",
        "more than 2000 values of proxyAddresses (max_values)",
        20,
        64,
    );
}

#[test]
fn a_malformed_controls_envelope_is_an_error_not_a_panic() {
    // ldap3's connection task panics on this; the run must still end with one clear error.
    let run = assert_bounded(
        Script::Pages(vec![Page::RawControls(vec![0x04, 0x01, 0x00])]),
        "",
        "failed: the server sent a message the LDAP library cannot parse",
        15,
        64,
    );
    assert!(!run.stderr.contains("RUST_BACKTRACE"), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    // Where in the library it broke, for the admin's report to the server's vendor.
    assert!(run.stderr.contains(".rs:"), "{run}");
}

#[test]
fn a_malformed_entry_is_an_error_not_a_panic() {
    assert_bounded(
        Script::BrokenDn,
        "",
        "the server sent a malformed search result entry",
        15,
        64,
    );
}

#[test]
fn a_referral_for_the_base_suggests_the_global_catalog() {
    let run = assert_bounded(
        Script::Referral("ldap://emea.example.com/DC=example,DC=com".into()),
        "",
        "the server answered with a referral (to \"ldap://emea.example.com/DC=example,DC=com\")",
        10,
        200,
    );
    assert!(run.stderr.contains("ldaps://DC:3269"), "{run}");
    assert!(
        run.stderr.contains("base_dn = \"DC=example,DC=com\""),
        "{run}"
    );
}

#[test]
fn a_referral_cannot_forge_a_log_line() {
    // The referral URL and the diagnostic text are the server's: quoted, a newline or an ESC
    // in them stays inside the one error line.
    let run = assert_bounded(
        Script::Referral("ldap://emea.example.com/\nrcptsync: error: forged\u{1b}[2J".into()),
        "",
        "(to \"ldap://emea.example.com/\\nrcptsync: error: forged\\u{1b}[2J\")",
        10,
        200,
    );
    assert!(
        !run.stderr
            .lines()
            .any(|l| l.starts_with("rcptsync: error: forged")),
        "{run}"
    );
    assert!(!run.stderr.contains('\u{1b}'), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
}

#[test]
fn failover_stops_at_read_timeout() {
    // A server that accepts connections and never answers (the kernel completes the handshake
    // from the backlog): each try costs `timeout`; the failover must end at read_timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"silent\"\nkind = \"ldap\"\nservers = [\"{url}\", \"{url}\", \"{url}\", \"{url}\"]\n\
             base_dn = \"DC=example,DC=com\"\ntimeout = \"1s\"\nread_timeout = \"1s\"\n\
             bind_dn = \"CN=svc,DC=example,DC=com\"\nbind_password_file = \"pw\"\ninsecure_cleartext_bind = true\n\
             [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n"
        ),
    )
    .unwrap();
    // A bind, so that each server is tried (and times out) before the search.
    fs_err::write(dir.path().join("pw"), "secret\n").unwrap();
    fs_err::set_permissions(
        dir.path().join("pw"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let started = Instant::now();
    let (run, _) = rcptsync_peak(dir.path(), &["-c", "rcptsync.toml", "extract"]);
    let run = run.code(1);
    assert!(
        run.stderr
            .contains("not tried, read_timeout (1s) has passed"),
        "{run}"
    );
    assert!(started.elapsed() < Duration::from_secs(4), "{run}");
}

#[test]
fn a_dc_that_refuses_change_notifications_is_polled_instead() {
    // AD answers a notification search past its MaxNotificationPerConn policy with
    // unwillingToPerform: watch says so once and asks for the change mark every poll, instead
    // of following again and again.
    let server = RogueLdap::script(Script::RefusesNotifications);
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"dc\"\nkind = \"ldap\"\nservers = [\"ldap://127.0.0.1:{}\"]\n\
             base_dn = \"DC=example,DC=com\"\n\n[recipients]\ndomains = [\"example.com\"]\n\n\
             [output]\npath = \"out/relay_recipients\"\n\n[watch]\npoll = \"1s\"\n",
            server.port
        ),
    )
    .unwrap();
    let mut watch = crate::cli::watch::Watch::start(dir.path());
    let log = || fs_err::read_to_string(dir.path().join("watch.log")).unwrap_or_default();
    let refused = "source dc: the DC does not notify changes (it refused to notify: ";
    watch.wait_for("the refusal", Duration::from_secs(15), || {
        log().contains(refused)
    });
    std::thread::sleep(Duration::from_secs(3));
    let text = watch.log();
    assert!(text.contains("MaxNotificationPerConn"), "{text}");
    assert_eq!(text.matches(refused).count(), 1, "{text}");
    assert!(!text.contains("following its changes again"), "{text}");
    assert_eq!(watch.stop(Duration::from_secs(5)), 0);
}
