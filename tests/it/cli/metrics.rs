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

    // A failure (the source is gone): exit status 1, not refused, success kept.
    fs_err::remove_file(env.path("directory.ldif")).unwrap();
    env.run(&["extract"]).code(1);
    assert_eq!(value(&env, "rcptsync_last_exit_status"), 1.0);
    assert_eq!(value(&env, "rcptsync_guard_refused"), 0.0);
    assert_eq!(
        value(&env, "rcptsync_last_success_timestamp_seconds"),
        success
    );

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
