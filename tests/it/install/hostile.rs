//! The spool account as the attacker: everything in the spool is under its control, and
//! apply runs as root. None of these may make apply read another file, hang, blow up its
//! memory, or install anything but a map receive wrote; each refusal leaves the live map
//! byte-for-byte alone.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::process::Command;
use std::time::{Duration, Instant};

use super::util::Gateway;
use crate::library::payload;
use crate::support::{Run, rcptsync_within};

const LIVE: [&str; 2] = ["alice@example.com", "postmaster@example.com"];

/// A gateway with LIVE installed as cdb (built natively; Postfix need not run).
fn installed() -> Gateway {
    let gw = Gateway::new("cdb", "");
    gw.apply_keys(&LIVE);
    gw
}

/// Runs apply with a deadline: a hung apply fails the test instead of hanging it.
fn apply_within(gw: &Gateway, args: &[&str], limit: Duration) -> Run {
    let config = gw.postfix.path("rcptsync.toml");
    let config = config.to_str().unwrap();
    rcptsync_within(
        &gw.postfix.path(""),
        &[&["apply", "-c", config], args].concat(),
        limit,
    )
}

#[test]
fn a_symlink_swapped_in_a_loop_never_makes_apply_read_another_file() {
    let gw = installed();
    let before = gw.live_files();
    // A root-only file that would pass every other check: a valid payload, owned by root,
    // mode 0600, one link. Only refusing to follow the link keeps it out.
    let secret = gw.postfix.path("secret");
    fs_err::write(
        &secret,
        payload(b"alice@example.com OK\npostmaster@example.com OK\nroot-secret@example.com OK\n"),
    )
    .unwrap();
    fs_err::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let spool = gw.postfix.path("spool");
    let good = payload(b"alice@example.com OK\npostmaster@example.com OK\n");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Swap between a real payload and a link to the secret as fast as possible,
            // each by rename, as the spool account could.
            let (file, link) = (spool.join(".f"), spool.join(".l"));
            let target = spool.join("relay_recipients");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                fs_err::write(&file, &good).unwrap();
                fs_err::rename(&file, &target).unwrap();
                let _ = fs_err::remove_file(&link);
                fs_err::os::unix::fs::symlink(&secret, &link).unwrap();
                fs_err::rename(&link, &target).unwrap();
            }
        });
        for round in 0..150 {
            let args: &[&str] = if round % 3 == 0 {
                &[]
            } else {
                &["--dry-run", "-v"]
            };
            let r = apply_within(&gw, args, Duration::from_secs(20));
            assert!(
                r.code == 0 || r.code == 3,
                "round {round}: unexpected exit: {r}"
            );
            assert!(!r.stdout.contains("root-secret"), "round {round}: {r}");
            assert!(
                !fs_err::read_to_string(gw.postfix.map_path())
                    .unwrap()
                    .contains("root-secret"),
                "round {round}: the secret reached the live map"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    // The real payload was the installed map all along: nothing changed.
    assert_eq!(gw.live_files(), before);
}

#[test]
fn a_fifo_in_the_spool_does_not_hang_apply_or_hold_the_lock() {
    let gw = installed();
    let before = gw.live_files();
    let map = gw.postfix.path("spool/relay_recipients");
    fs_err::remove_file(&map).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &map,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    // Opened without O_NONBLOCK, the FIFO would block apply (holding the lock) until
    // someone wrote to it: apply_within fails the test then.
    let r = apply_within(&gw, &[], Duration::from_secs(10)).code(3);
    assert!(r.stderr.contains("is not a regular file"), "{r}");
    // --from a FIFO: the same.
    let r = apply_within(
        &gw,
        &["--from", map.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(
        r.code == 3 && r.stderr.contains("is not a regular file"),
        "{r}"
    );
    assert_eq!(gw.live_files(), before);
}

#[test]
fn a_huge_sparse_file_is_refused_by_its_size_without_being_read() {
    let gw = installed();
    let before = gw.live_files();
    let map = gw.postfix.path("spool/relay_recipients");
    let file = fs_err::File::create(&map).unwrap();
    file.set_len(3 << 30).unwrap();
    drop(file);
    // With 256 MiB of address space apply could not even hold a tenth of it.
    let config = gw.postfix.path("rcptsync.toml");
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 262144; exec {} apply -c {}",
            env!("CARGO_BIN_EXE_rcptsync"),
            config.display()
        ))
        .output()
        .unwrap();
    let r = Run::from(out).code(3);
    assert!(
        r.stderr
            .contains("is 3221225472 bytes, more than [install].max_bytes = 268435456"),
        "{r}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // A smaller limit in the config is honoured too (it bounds the map; the payload's header
    // does not count).
    gw.config("max_bytes = 100\n");
    gw.spool(&["alice@example.com", "bob@example.com"]);
    gw.apply(&["--dry-run"]).ok();
    gw.spool(&[
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "erin@example.com",
    ]);
    let r = gw.apply(&[]).code(3);
    assert!(
        r.stderr
            .contains("the map is 101 bytes, more than the limit of 100"),
        "{r}"
    );
    assert_eq!(gw.live_files(), before);
}

#[test]
fn another_owner_a_second_link_or_a_writable_mode_is_refused() {
    let gw = installed();
    let before = gw.live_files();
    let map = gw.postfix.path("spool/relay_recipients");
    gw.spool(&["alice@example.com", "bob@example.com"]);

    std::os::unix::fs::chown(&map, Some(4242), None).unwrap();
    let r = gw.apply(&[]).code(3);
    assert!(r.stderr.contains("is owned by uid 4242"), "{r}");
    std::os::unix::fs::chown(&map, Some(0), None).unwrap();

    let other = gw.postfix.path("elsewhere");
    fs_err::hard_link(&map, &other).unwrap();
    let r = gw.apply(&[]).code(3);
    assert!(r.stderr.contains("has 2 hard links"), "{r}");
    fs_err::remove_file(&other).unwrap();

    fs_err::set_permissions(&map, std::fs::Permissions::from_mode(0o646)).unwrap();
    let r = gw.apply(&[]).code(3);
    assert!(r.stderr.contains("writable by group or others"), "{r}");
    fs_err::set_permissions(&map, std::fs::Permissions::from_mode(0o644)).unwrap();

    // A plain map in the spool was not written by receive.
    fs_err::write(&map, "alice@example.com OK\nbob@example.com OK\n").unwrap();
    let r = gw.apply(&[]).code(3);
    assert!(r.stderr.contains("no rcptsync payload header"), "{r}");
    assert_eq!(gw.live_files(), before);
}

#[test]
fn a_stray_file_dated_2030_is_named_and_ignored() {
    let gw = installed();
    // The old "newest file wins" rule would take this one for ever after.
    let stray = gw.postfix.path("spool/zz\nrcptsync: error: forged");
    fs_err::write(&stray, payload(b"mallory@example.com OK\n")).unwrap();
    let file = fs_err::File::options().write(true).open(&stray).unwrap();
    let year_2030 = std::time::UNIX_EPOCH + Duration::from_secs(1_893_456_000);
    file.set_modified(year_2030).unwrap();
    drop(file);
    gw.spool(&[
        "alice@example.com",
        "bob@example.com",
        "postmaster@example.com",
    ]);
    let r = gw.apply(&[]).ok();
    assert!(r.stdout.contains("3 recipients, 1 added, 0 removed"), "{r}");
    assert!(
        r.stderr
            .contains("ignoring zz\\nrcptsync: error: forged in the spool"),
        "{r}"
    );
    // The name cannot forge a line of its own.
    assert!(
        !r.stderr.lines().any(|l| l == "rcptsync: error: forged"),
        "{r}"
    );
    let live = fs_err::read_to_string(gw.postfix.map_path()).unwrap();
    assert!(
        live.contains("bob@example.com") && !live.contains("mallory"),
        "{live}"
    );
}

#[test]
fn the_live_maps_owner_group_and_mode_are_kept() {
    let gw = installed();
    let text = gw.postfix.map_path();
    let indexed = gw.postfix.path("maps/relay_recipients.cdb");
    // root:mail 0640, as an admin may set it for a group that reads the map.
    let mail = 8;
    for file in [&text, &indexed] {
        std::os::unix::fs::chown(file, Some(0), Some(mail)).unwrap();
        fs_err::set_permissions(file, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    gw.apply_keys(&[
        "alice@example.com",
        "bob@example.com",
        "postmaster@example.com",
    ]);
    for file in [&text, &indexed] {
        let meta = fs_err::metadata(file).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (0, mail, 0o640),
            "{}",
            file.display()
        );
    }
    assert!(
        fs_err::read_to_string(&text)
            .unwrap()
            .contains("bob@example.com")
    );
}

#[test]
fn a_live_map_that_is_a_symlink_is_not_replaced() {
    let gw = installed();
    let text = gw.postfix.map_path();
    let real = gw.postfix.path("maps/real_map");
    fs_err::rename(&text, &real).unwrap();
    fs_err::os::unix::fs::symlink(&real, &text).unwrap();
    gw.spool(&[
        "alice@example.com",
        "bob@example.com",
        "postmaster@example.com",
    ]);
    let r = gw.apply(&[]).code(1);
    assert!(r.stderr.contains("is a symbolic link"), "{r}");
    assert!(
        fs_err::symlink_metadata(&text)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        !fs_err::read_to_string(&real)
            .unwrap()
            .contains("bob@example.com")
    );
}

#[test]
fn an_interrupted_or_tampered_previous_map_is_not_rolled_back_to() {
    let gw = installed();
    gw.apply_keys(&[
        "alice@example.com",
        "bob@example.com",
        "postmaster@example.com",
    ]);
    let before = gw.live_files();
    // The previous pair as a rollback cut short could leave it: its text no longer the one
    // its record vouches for.
    let prev = gw.postfix.path("maps/relay_recipients.prev");
    fs_err::write(&prev, "mallory@example.com OK\n").unwrap();
    let r = gw.apply(&["--rollback"]).code(1);
    assert!(
        r.stderr
            .contains("the previous map is incomplete or was changed"),
        "{r}"
    );
    let mut after = gw.live_files();
    after.retain(|(name, _)| !name.ends_with(".prev"));
    let mut expected = before.clone();
    expected.retain(|(name, _)| !name.ends_with(".prev"));
    assert_eq!(after, expected);
}
