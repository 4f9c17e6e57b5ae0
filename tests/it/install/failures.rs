//! Failure injection: every way an apply can go wrong must leave the live map files
//! byte-for-byte as they were, and smtpd answering as before.

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::util::Gateway;
use crate::fixture::{Tmpfs, require, run};
use crate::support::{self, Run};

const LIVE: [&str; 3] = [
    "alice@example.com",
    "bob@example.com",
    "postmaster@example.com",
];

/// A running gateway with [`LIVE`] installed.
fn running(kind: &str, extra: &str) -> Gateway {
    let mut gw = Gateway::new(kind, extra);
    gw.apply_keys(&LIVE);
    gw.postfix.start();
    gw.assert_answers(&LIVE, &["mallory@example.com"]);
    gw
}

/// Asserts the live files are `before` and smtpd still answers for [`LIVE`].
fn untouched(gw: &Gateway, before: &[(String, String)]) {
    assert_eq!(gw.live_files(), before, "the live map files changed");
    gw.assert_answers(&LIVE, &["mallory@example.com", "new@example.com"]);
}

/// Writes a spool map of `n` generated users plus the live ones.
fn big_map(gw: &Gateway, n: usize) {
    let mut keys: Vec<String> = LIVE.iter().map(|k| k.to_string()).collect();
    keys.extend((0..n).map(|i| format!("user{i}@example.com")));
    keys.push("new@example.com".into());
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    gw.spool(&keys);
}

/// Runs apply through `sh -c PREFIX; exec rcptsync apply ...` (for ulimit and signals).
fn apply_with_shell(gw: &Gateway, prefix: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("{prefix}; exec \"$0\" apply -c \"$1\"",))
        .arg(env!("CARGO_BIN_EXE_rcptsync"))
        .arg(gw.postfix.path("rcptsync.toml"))
        .output()
        .unwrap()
}

#[test]
fn an_invalid_line_refuses_the_whole_map() {
    let gw = running("hash", "");
    let before = gw.live_files();
    let spool = gw.postfix.path("spool/relay_recipients");
    gw.spool_text("new@example.com OK\n@example.com OK\nbad value@example.com OK\n");
    let r = gw.apply(&[]).code(3);
    // The payload's header is 7 lines (with its blank line): the map's lines 2 and 3 are the
    // file's lines 9 and 10.
    let at = spool.display();
    assert!(
        r.stderr
            .contains(&format!("{at}:9: \"@example.com\": a wild-card that would accept every address in example.com, which [install].internal_relay_domains does not list")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&format!("{at}:10:")), "{}", r.stderr);
    assert!(r.stderr.contains("refusing to install"), "{}", r.stderr);
    untouched(&gw, &before);
}

#[test]
fn a_safety_guard_refuses() {
    let gw = running("lmdb", "");
    fs_err::write(
        gw.postfix.path("rcptsync.toml"),
        format!(
            "{}[safety]\ncanaries = [\"alice@example.com\"]\n",
            gw.postfix.install_toml()
        ),
    )
    .unwrap();
    let before = gw.live_files();
    gw.spool(&[
        "bob@example.com",
        "postmaster@example.com",
        "new@example.com",
    ]);
    let r = gw.apply(&[]).code(3);
    assert!(
        r.stderr
            .contains("safety guard: canary alice@example.com is missing"),
        "{}",
        r.stderr
    );
    untouched(&gw, &before);
    // A dry run tells the same and changes nothing either.
    gw.apply(&["--dry-run"]).code(3);
    untouched(&gw, &before);
}

#[test]
fn postmap_failing_leaves_the_live_map() {
    // Files may grow to 200 KiB (400 of sh's 512-byte blocks): the text (about 120 KiB for
    // 5000 users) fits, the hash database (about 350 KiB) does not. SIGXFSZ is ignored so
    // that postmap's writes fail with EFBIG instead of killing it.
    let gw = running("hash", "");
    let before = gw.live_files();
    big_map(&gw, 5000);
    let out = apply_with_shell(&gw, "trap '' XFSZ; ulimit -f 400");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("postmap -c"), "{stderr}");
    untouched(&gw, &before);
    // Nothing of the failed build is left behind.
    let names: Vec<String> = fs_err::read_dir(gw.postfix.path("maps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn no_space_left_leaves_the_live_map() {
    // The map directory is a real 1 MiB file system: the live map goes in, then the rest of
    // the space is taken, then a bigger map is applied.
    let mut gw = Gateway::new("cdb", "");
    let maps = Tmpfs::mount(&gw.postfix.path("maps"), "1m");
    gw.apply_keys(&LIVE);
    gw.postfix.start();
    gw.assert_answers(&LIVE, &["mallory@example.com"]);
    let before = gw.live_files();
    let mtimes = live_mtimes(&gw);
    maps.fill();

    big_map(&gw, 5000);
    let r = gw.apply(&[]).code(1);
    assert!(r.stderr.contains("No space left on device"), "{r}");
    untouched(&gw, &before);
    assert_eq!(live_mtimes(&gw), mtimes, "a live file was rewritten");
    let names: Vec<String> = fs_err::read_dir(gw.postfix.path("maps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

/// The modification times of the live map's text and indexed files.
fn live_mtimes(gw: &Gateway) -> Vec<SystemTime> {
    let text = gw.postfix.map_path();
    [text.clone(), text.with_extension("cdb")]
        .iter()
        .map(|p| fs_err::metadata(p).unwrap().modified().unwrap())
        .collect()
}

#[test]
fn kill_9_in_the_middle_leaves_the_live_map_and_the_next_run_cleans_up() {
    let gw = running("hash", "");
    let before = gw.live_files();
    // Big enough that the build takes a while (about 0.2 s).
    big_map(&gw, 200_000);
    let maps = gw.postfix.path("maps");
    let building = || {
        fs_err::read_dir(&maps)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
    };
    let mut child = support::command()
        .args(["apply", "-c"])
        .arg(gw.postfix.path("rcptsync.toml"))
        .process_group(0)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !building() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "postmap never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "apply ended before it could be killed"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    // The whole group: apply and its postmap.
    Command::new("kill")
        .args(["-s", "KILL", "--"])
        .arg(format!("-{}", child.id()))
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    untouched(&gw, &before);

    // The next run removes the leftovers and installs the map.
    gw.apply(&[]).ok();
    gw.assert_answers(
        &["new@example.com", "user199999@example.com"],
        &["mallory@example.com"],
    );
    let leftovers: Vec<String> = fs_err::read_dir(&maps)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn concurrent_applies_never_interleave() {
    let gw = running("hash", "");
    let before = gw.live_files();
    // While another apply holds the lock, a second one refuses and changes nothing.
    let lock = fs_err::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(gw.postfix.path("maps/relay_recipients.lock"))
        .unwrap();
    lock.file().lock().unwrap();
    gw.spool(&[
        "new@example.com",
        "alice@example.com",
        "bob@example.com",
        "postmaster@example.com",
    ]);
    let r = gw.apply(&[]).code(1);
    assert!(
        r.stderr.contains("is locked by another rcptsync run"),
        "{}",
        r.stderr
    );
    untouched(&gw, &before);
    drop(lock);

    // Real concurrency: several applies of a map big enough that building it takes a while,
    // all spawned before any is waited for. The lock does not wait: a run that finds it taken
    // exits 1 saying so and changes nothing; a run that gets it after the map went in finds
    // it current and says nothing. So exactly one run installs, and the others are locked
    // out or silent.
    const USERS: usize = 50_000;
    big_map(&gw, USERS);
    let children: Vec<_> = (0..6)
        .map(|_| {
            support::command()
                .args(["apply", "-c"])
                .arg(gw.postfix.path("rcptsync.toml"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap().into())
        .collect();
    let all = runs
        .iter()
        .map(Run::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let (mut installed, mut locked) = (0, 0);
    for run in &runs {
        match run.code {
            0 if run.stdout.contains(" added, ") => installed += 1,
            0 => assert_eq!(
                (run.stdout.as_str(), run.stderr.as_str()),
                ("", ""),
                "{all}"
            ),
            1 => {
                assert!(
                    run.stderr.contains("is locked by another rcptsync run"),
                    "{all}"
                );
                assert_eq!(run.stdout, "", "{all}");
                locked += 1;
            }
            _ => panic!("an apply failed:\n{all}"),
        }
    }
    assert_eq!(installed, 1, "exactly one run installs the map:\n{all}");
    assert!(
        locked >= 1,
        "no run was locked out, so the applies did not overlap:\n{all}"
    );

    // The live map is complete, and its text and database agree.
    let mut expected: Vec<String> = LIVE.iter().map(|k| k.to_string()).collect();
    expected.extend((0..USERS).map(|i| format!("user{i}@example.com")));
    expected.push("new@example.com".into());
    expected.sort();
    let text: Vec<String> = fs_err::read_to_string(gw.postfix.map_path())
        .unwrap()
        .lines()
        .map(|l| l.strip_suffix(" OK").unwrap().to_owned())
        .collect();
    assert!(text == expected, "the live text map is not the spooled map");
    let dump = run(Command::new(require("postmap", "postfix"))
        .arg("-c")
        .arg(gw.postfix.config_dir())
        .arg("-s")
        .arg(gw.postfix.map_spec()));
    let mut indexed: Vec<String> = String::from_utf8(dump.stdout)
        .unwrap()
        .lines()
        .map(|l| l.strip_suffix("\tOK").unwrap().to_owned())
        .collect();
    indexed.sort();
    assert!(indexed == expected, "the live database is not the text map");
    gw.assert_answers(
        &[
            "new@example.com",
            "alice@example.com",
            "user49999@example.com",
        ],
        &["mallory@example.com"],
    );
    // And the record names this pair: the next apply finds it current and says nothing.
    let again = gw.apply(&[]).ok();
    assert_eq!(
        (again.stdout.as_str(), again.stderr.as_str()),
        ("", ""),
        "{again}"
    );
}

#[test]
fn a_swap_interrupted_between_its_renames_is_rebuilt() {
    // A mixed pair: B's .cdb with A's text and A's record, as a crash between the renames of
    // an older version could leave it. The record names both files, so this is not "current".
    let mut gw = Gateway::new("cdb", "");
    let a = ["alice@example.com", "postmaster@example.com"];
    gw.apply_keys(&a);
    let text_a = fs_err::read(gw.postfix.map_path()).unwrap();
    let record_a = fs_err::read(gw.postfix.path("maps/relay_recipients.sha256")).unwrap();
    gw.apply_keys(&[
        "alice@example.com",
        "carol@example.com",
        "postmaster@example.com",
    ]);
    fs_err::write(gw.postfix.map_path(), &text_a).unwrap();
    fs_err::write(gw.postfix.path("maps/relay_recipients.sha256"), &record_a).unwrap();
    gw.postfix.start();
    gw.assert_answers(&["carol@example.com"], &[]);

    // Applying A again must rebuild (not call it current), and carol must be gone.
    let r = gw.apply_keys(&a);
    assert!(r.stdout.contains("2 recipients"), "{r}");
    gw.assert_answers(&["alice@example.com"], &["carol@example.com"]);
    // And no mixed pair was kept as the previous map.
    let prev =
        fs_err::read_to_string(gw.postfix.path("maps/relay_recipients.prev")).unwrap_or_default();
    assert!(!prev.contains("carol"), "{prev}");
}
