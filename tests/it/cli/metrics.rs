//! `[metrics] textfile`: every run (changed or not, failed, refused; not a dry run) leaves a
//! node-exporter textfile, replaced atomically, with HELP and TYPE lines.

use super::util::{Env, LOOSE, users};

const METRICS: &str = "[metrics]\ntextfile = \"prom/rcptsync.prom\"\n";

/// The unlabelled (or exactly labelled) sample `name` in the textfile.
fn value(env: &Env, name: &str) -> f64 {
    let text = fs_err::read_to_string(env.path("prom/rcptsync.prom")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn every_run_writes_the_textfile_and_a_refusal_keeps_the_last_success() {
    let env = Env::new(&users(10), &format!("{LOOSE}{METRICS}"));
    fs_err::create_dir(env.path("prom")).unwrap();
    // A dry run is not a run of the job: no textfile.
    env.run(&["extract", "--dry-run"]).ok();
    assert!(!env.path("prom/rcptsync.prom").exists());

    env.run(&["extract"]).ok();
    let text = fs_err::read_to_string(env.path("prom/rcptsync.prom")).unwrap();
    for name in [
        "rcptsync_last_success_timestamp_seconds",
        "rcptsync_last_run_timestamp_seconds",
        "rcptsync_recipients",
        "rcptsync_added",
        "rcptsync_removed",
        "rcptsync_run_duration_seconds",
        "rcptsync_guard_refused",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} "))
                && text.contains(&format!("# TYPE {name} gauge\n")),
            "{name}:\n{text}"
        );
    }
    assert_eq!(value(&env, "rcptsync_recipients"), 10.0);
    assert_eq!(
        (
            value(&env, "rcptsync_added"),
            value(&env, "rcptsync_removed")
        ),
        (10.0, 0.0)
    );
    assert_eq!(value(&env, "rcptsync_guard_refused"), 0.0);
    assert_eq!(value(&env, "rcptsync_held_removals"), 0.0);
    let success = value(&env, "rcptsync_last_success_timestamp_seconds");
    assert!((now() - success).abs() < 60.0, "{success}");
    assert_eq!(value(&env, "rcptsync_last_run_timestamp_seconds"), success);

    // A change: the last change's numbers.
    env.write("directory.ldif", &users(9));
    env.run(&["extract"]).ok();
    assert_eq!(
        (
            value(&env, "rcptsync_added"),
            value(&env, "rcptsync_removed")
        ),
        (0.0, 1.0)
    );
    // Unchanged: the last change is still the one reported; the run times move.
    std::thread::sleep(std::time::Duration::from_millis(20));
    env.run(&["extract"]).ok();
    assert_eq!(value(&env, "rcptsync_removed"), 1.0);
    assert_eq!(value(&env, "rcptsync_recipients"), 9.0);
    let success = value(&env, "rcptsync_last_success_timestamp_seconds");

    // Refused by a guard: refused, the success time and the map's count kept.
    env.config(&format!(
        "[safety]\nmax_removed = 2\nmax_removed_percent = 100\n{METRICS}"
    ));
    env.write("directory.ldif", &users(3));
    std::thread::sleep(std::time::Duration::from_millis(20));
    env.run(&["extract"]).code(3);
    assert_eq!(value(&env, "rcptsync_guard_refused"), 1.0);
    assert_eq!(value(&env, "rcptsync_last_exit_status"), 3.0);
    assert_eq!(
        value(&env, "rcptsync_last_success_timestamp_seconds"),
        success
    );
    assert!(value(&env, "rcptsync_last_run_timestamp_seconds") > success);
    assert_eq!(value(&env, "rcptsync_recipients"), 9.0);
    // A removal guard holds them: the held change is shown until it is resolved.
    assert_eq!(value(&env, "rcptsync_held_removals"), 6.0);
    let since = value(&env, "rcptsync_held_since_timestamp_seconds");
    assert!((now() - since).abs() < 60.0, "{since}");

    // A failure (the source is gone): exit status 1, not refused, success kept.
    fs_err::remove_file(env.path("directory.ldif")).unwrap();
    env.run(&["extract"]).code(1);
    assert_eq!(value(&env, "rcptsync_last_exit_status"), 1.0);
    assert_eq!(value(&env, "rcptsync_guard_refused"), 0.0);
    assert_eq!(
        value(&env, "rcptsync_last_success_timestamp_seconds"),
        success
    );
    assert_eq!(value(&env, "rcptsync_held_removals"), 6.0);

    // Replaced by rename: nothing else is left in node-exporter's directory.
    let files: Vec<String> = fs_err::read_dir(env.path("prom"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["rcptsync.prom"]);
}

/// A gateway that cannot be reached: push fails, and the gateway's sample says so; one that
/// is removed from the config disappears from the textfile and from the push record.
#[test]
fn push_reports_each_gateway_and_forgets_removed_ones() {
    let port = crate::fixture::free_port();
    let gateway = |name: &str| {
        format!(
            "[[gateway]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"postrelay\"\n\
             known_hosts = \"known_hosts\"\ntimeout = \"20s\"\n"
        )
    };
    let env = Env::new(
        &users(3),
        &format!("{LOOSE}{METRICS}{}{}", gateway("mx1"), gateway("mx2")),
    );
    fs_err::create_dir(env.path("prom")).unwrap();
    env.write("known_hosts", "");
    env.run(&["sync"]).code(1);
    let text = fs_err::read_to_string(env.path("prom/rcptsync.prom")).unwrap();
    assert!(
        text.contains("\nrcptsync_gateway_push_success{gateway=\"mx1\"} 0\n")
            && text.contains("\nrcptsync_gateway_push_success{gateway=\"mx2\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE rcptsync_gateway_last_push_timestamp_seconds gauge\n"),
        "{text}"
    );
    // sync's extract worked, its push did not: a failed run with the change reported.
    assert_eq!(value(&env, "rcptsync_last_exit_status"), 1.0);
    assert_eq!(value(&env, "rcptsync_added"), 3.0);
    assert_eq!(value(&env, "rcptsync_last_success_timestamp_seconds"), 0.0);
    let record = fs_err::read_to_string(env.path("out/relay_recipients.pushed")).unwrap();
    assert_eq!(record.lines().count(), 2, "{record}");
    assert!(
        record.starts_with(&format!("mx1 postrelay@127.0.0.1:{port} - - ")),
        "{record}"
    );

    env.config(&format!("{LOOSE}{METRICS}{}", gateway("mx2")));
    env.run(&["push"]).code(1);
    let text = fs_err::read_to_string(env.path("prom/rcptsync.prom")).unwrap();
    assert!(!text.contains("mx1"), "{text}");
    let record = fs_err::read_to_string(env.path("out/relay_recipients.pushed")).unwrap();
    assert!(
        !record.contains("mx1") && record.contains("mx2 "),
        "{record}"
    );
}

/// A command the config lacks a table for (push without a `[[gateway]]`) is a config error
/// (exit 2) that monitoring sees in the textfile like any other failed run.
#[test]
fn a_config_error_is_reported_in_the_textfile() {
    let env = Env::new(&users(3), &format!("{LOOSE}{METRICS}"));
    fs_err::create_dir(env.path("prom")).unwrap();
    env.run(&["extract"]).ok();
    assert_eq!(value(&env, "rcptsync_last_exit_status"), 0.0);
    let r = env.run(&["push"]).code(2);
    assert!(r.stderr.contains("[[gateway]]: missing"), "{r}");
    assert_eq!(value(&env, "rcptsync_last_exit_status"), 2.0);
    assert_eq!(value(&env, "rcptsync_recipients"), 3.0);
}

/// What the `prom` directory holds at `name`: "link", "fifo", or the file's text.
fn entry(env: &Env, name: &str) -> String {
    let path = env.path(name);
    let meta = fs_err::symlink_metadata(&path).unwrap();
    if meta.file_type().is_symlink() {
        "link".into()
    } else if !meta.is_file() {
        "not a file".into()
    } else {
        fs_err::read_to_string(&path).unwrap()
    }
}

/// As the account that owns node-exporter's directory: a FIFO, a link to /dev/zero and a link
/// to another file at the textfile's name. None may hang the run, grow it, or be read; each
/// is replaced by rcptsync's own regular file.
#[test]
fn a_fifo_or_a_link_at_the_textfile_is_neither_waited_on_nor_read() {
    use std::time::Duration;
    let env = Env::new(&users(2), &format!("{LOOSE}{METRICS}"));
    fs_err::create_dir(env.path("prom")).unwrap();
    let prom = env.path("prom/rcptsync.prom");
    let secret = env.path("secret");
    fs_err::write(&secret, "root-only-secret 1\n").unwrap();
    let config = env.path("rcptsync.toml");
    let args = ["-c", config.to_str().unwrap(), "extract"];

    crate::support::mkfifo(&prom);
    let run = crate::support::rcptsync_within(&env.path(""), &args, Duration::from_secs(20)).ok();
    assert!(run.stderr.contains("is a FIFO"), "{run}");
    assert!(entry(&env, "prom/rcptsync.prom").contains("rcptsync_recipients 2\n"));

    for target in [std::path::Path::new("/dev/zero"), &secret] {
        fs_err::remove_file(&prom).unwrap();
        fs_err::os::unix::fs::symlink(target, &prom).unwrap();
        let (run, mib) = crate::support::rcptsync_peak(&env.path(""), &args);
        run.ok();
        assert!(mib < 64, "{mib} MiB");
        let text = entry(&env, "prom/rcptsync.prom");
        assert!(text.contains("rcptsync_recipients 2\n"), "{text}");
        assert!(!text.contains("root-only-secret"), "{text}");
    }
    assert_eq!(
        fs_err::read_to_string(&secret).unwrap(),
        "root-only-secret 1\n"
    );
}

/// As the same account, racing: the textfile's name is a link to a file only rcptsync's user
/// may read one moment and a regular file the next, swapped in a loop while rcptsync runs.
/// No run may ever copy a line of the other file into the textfile (which node-exporter's
/// account reads).
#[test]
fn a_link_swapped_in_a_loop_never_leaks_another_file_into_the_textfile() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = Env::new(&users(2), &format!("{LOOSE}{METRICS}"));
    fs_err::create_dir(env.path("prom")).unwrap();
    let secret = env.path("secret");
    // The secret holds numbers the run would carry over from the last textfile, had it read
    // this file through the link.
    fs_err::write(
        &secret,
        "root_only_secret 42\nrcptsync_added 4242\nrcptsync_removed 4242\n",
    )
    .unwrap();
    let prom = env.path("prom/rcptsync.prom");
    let stop = AtomicBool::new(false);
    /// Stops the swapper when the runs end, also when an assertion failed (a scope waits for
    /// its threads: without this, a failure would hang the test instead of failing it).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|scope| {
        let _stop = Stop(&stop);
        scope.spawn(|| {
            // One syscall a swap (RENAME_EXCHANGE): the name flips between the link and a
            // regular file as fast as the kernel allows. When a run's rename has replaced the
            // link, a new one is put in.
            use rustix::fs::{CWD, RenameFlags, renameat_with};
            let swap = env.path("prom/.swap");
            let fresh = env.path("prom/.fresh");
            fs_err::os::unix::fs::symlink(&secret, &prom).unwrap();
            fs_err::write(&swap, "# the attacker's own file\n").unwrap();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let _ = renameat_with(CWD, &swap, CWD, &prom, RenameFlags::EXCHANGE);
                n = n.wrapping_add(1);
                let is_link = |p: &std::path::Path| {
                    fs_err::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
                };
                if n.is_multiple_of(64) && !is_link(&prom) && !is_link(&swap) {
                    let _ = fs_err::remove_file(&fresh);
                    fs_err::os::unix::fs::symlink(&secret, &fresh).unwrap();
                    fs_err::rename(&fresh, &swap).unwrap();
                }
            }
        });
        for _ in 0..40 {
            let run = env.run(&["extract"]);
            assert!(!run.stderr.contains("root_only_secret"), "{run}");
            // Whichever name holds rcptsync's file now: read it without following the link
            // (the swapper flips the names between any check and a plain open).
            for name in ["prom/rcptsync.prom", "prom/.swap"] {
                use fs_err::os::unix::fs::OpenOptionsExt as _;
                use std::io::Read as _;
                let file = fs_err::OpenOptions::new()
                    .read(true)
                    .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                    .open(env.path(name));
                let mut text = String::new();
                if let Ok(mut file) = file {
                    let _ = file.read_to_string(&mut text);
                }
                assert!(
                    !text.contains("root_only_secret") && !text.contains(" 4242"),
                    "leaked:\n{text}"
                );
            }
        }
    });
}

/// As the account that owns the directory above node-exporter's: the textfile's directory
/// swapped for a link to another one. rcptsync writes through no link on the path: the run
/// says so (its exit status is the run's) and nothing is written where the link leads.
#[test]
fn the_textfile_is_written_through_no_link_on_its_path() {
    let env = Env::new(&users(2), &format!("{LOOSE}{METRICS}"));
    fs_err::create_dir(env.path("elsewhere")).unwrap();
    fs_err::os::unix::fs::symlink(env.path("elsewhere"), env.path("prom")).unwrap();
    let run = env.run(&["extract"]).ok();
    assert!(
        run.stderr.contains("is a symbolic link or not a directory")
            && run.stderr.contains("name the real directory"),
        "{run}"
    );
    assert_eq!(fs_err::read_dir(env.path("elsewhere")).unwrap().count(), 0);
}

/// A textfile directory that another account can change (here: world-writable, without the
/// sticky bit) is explained at -v: that account can replace the metrics with its own, though
/// it cannot steer rcptsync's writes.
#[test]
fn a_textfile_directory_others_can_change_is_explained() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new(&users(2), &format!("{LOOSE}{METRICS}"));
    fs_err::create_dir(env.path("prom")).unwrap();
    let quiet = env.run(&["extract"]).ok();
    assert!(!quiet.stderr.contains("can be changed by"), "{quiet}");
    fs_err::set_permissions(env.path("prom"), std::fs::Permissions::from_mode(0o777)).unwrap();
    env.write("directory.ldif", &users(3));
    let run = env.run(&["-v", "extract"]).ok();
    assert!(
        run.stderr.contains(&format!(
            "metrics: {} can be changed by every account (it is world-writable)",
            env.path("prom").display()
        )) && run.stderr.contains("rcptsync follows no link there"),
        "{run}"
    );
    assert_eq!(value(&env, "rcptsync_recipients"), 3.0);
}
