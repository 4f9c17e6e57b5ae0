//! `rcptsync status` on a gateway: the installed map, the spool, the last apply, rollback.

use super::util::Gateway;
use crate::support::Run;

fn status(gw: &Gateway) -> serde_json::Value {
    let config = gw.postfix.path("rcptsync.toml");
    let r: Run = crate::support::rcptsync(
        &gw.postfix.path(""),
        &["status", "--json", "-c", config.to_str().unwrap()],
    )
    .ok();
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn status_shows_the_installed_map_a_waiting_one_and_a_rollback() {
    let gw = Gateway::new("cdb", "");
    let s = status(&gw);
    assert_eq!(s["install"]["spool"]["state"], "none", "{s}");
    assert!(s["install"]["last_apply"].is_null(), "{s}");

    gw.apply_keys(&["a@example.com", "b@example.com"]);
    let s = status(&gw);
    let install = &s["install"];
    assert_eq!(install["type"], "cdb", "{s}");
    assert_eq!(install["recipients"], 2, "{s}");
    assert_eq!(install["as_installed"], true, "{s}");
    assert_eq!(install["spool"]["state"], "installed", "{s}");
    assert_eq!(install["last_apply"]["exit_status"], 0, "{s}");
    assert_eq!(install["last_apply"]["result"], "ok", "{s}");
    assert_eq!(install["rolled_back"], false, "{s}");
    let text = fs_err::read(gw.postfix.path("maps/relay_recipients")).unwrap();
    assert_eq!(
        install["sha256"],
        rcptsync::map::digest::sha256_hex(&text),
        "{s}"
    );
    assert!(install["installed"].as_str().unwrap().ends_with('Z'), "{s}");

    // A new map arrives: it waits in the spool until apply runs.
    gw.spool(&["a@example.com", "b@example.com", "c@example.com"]);
    let s = status(&gw);
    assert_eq!(s["install"]["spool"]["state"], "waiting", "{s}");
    assert_eq!(s["install"]["spool"]["recipients"], 3, "{s}");
    gw.apply(&[]).ok();
    gw.apply(&["--rollback"]).ok();
    let s = status(&gw);
    assert_eq!(s["install"]["rolled_back"], true, "{s}");
    assert_eq!(s["install"]["recipients"], 2, "{s}");
    assert_eq!(s["install"]["spool"]["state"], "rolled back", "{s}");

    // A refused map is the last apply's result.
    gw.spool_text("a@example.com OK\n@example.com OK\n");
    gw.apply(&[]).code(3);
    let s = status(&gw);
    assert_eq!(s["install"]["last_apply"]["exit_status"], 3, "{s}");
    assert_eq!(s["install"]["last_apply"]["result"], "refused", "{s}");

    // The text form says the same.
    let config = gw.postfix.path("rcptsync.toml");
    let r = crate::support::rcptsync(
        &gw.postfix.path(""),
        &["status", "-c", config.to_str().unwrap()],
    )
    .ok();
    assert!(r.stdout.contains("cdb:"), "{r}");
    assert!(r.stdout.contains(": 2 recipients, sha256 "), "{r}");
    assert!(r.stdout.contains("\nlast apply "), "{r}");
    assert!(r.stdout.contains(": exit 3 (refused)\n"), "{r}");
    assert!(r.stdout.contains("rollback: in force (the map rolled back from is not installed again until another arrives)\nconfirmed current: "), "{r}");
    assert!(!r.stdout.contains("stale since"), "{r}");
}

/// The spool is the ssh account's: a FIFO put there is reported, and cannot hang status.
#[test]
fn a_fifo_in_the_spool_does_not_hang_status() {
    let gw = Gateway::new("cdb", "");
    let fifo = gw.postfix.path("spool/relay_recipients");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let s = status(&gw);
    assert_eq!(s["install"]["spool"]["state"], "unreadable", "{s}");
}

/// Root's status never follows a link the spool's account planted: a symbolic link to a file
/// root can read (here a valid payload elsewhere) is reported, not read.
#[test]
fn a_symbolic_link_in_the_spool_is_not_followed_by_status() {
    let gw = Gateway::new("cdb", "");
    let elsewhere = gw.postfix.path("elsewhere");
    fs_err::write(&elsewhere, crate::library::payload(b"a@example.com OK\n")).unwrap();
    fs_err::os::unix::fs::symlink(&elsewhere, gw.postfix.path("spool/relay_recipients")).unwrap();
    let s = status(&gw);
    assert_eq!(s["install"]["spool"]["state"], "unreadable", "{s}");
    // A link to nothing is there all the same: not "none" (the name is looked up once).
    fs_err::remove_file(&elsewhere).unwrap();
    let s = status(&gw);
    assert_eq!(s["install"]["spool"]["state"], "unreadable", "{s}");
}
