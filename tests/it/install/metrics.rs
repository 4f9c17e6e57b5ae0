//! apply's `[metrics] textfile` on a gateway: installed recipients, the last apply's time
//! and result, written after an install, an unchanged run and a refusal alike.

use super::util::Gateway;

fn value(gw: &Gateway, name: &str) -> f64 {
    value_in(&gw.postfix.path("rcptsync.prom"), name)
}

/// The unlabelled sample `name` in the textfile at `path`.
fn value_in(path: &std::path::Path, name: &str) -> f64 {
    let text = fs_err::read_to_string(path).unwrap();
    assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn apply_reports_the_installed_map_and_a_refusal() {
    let gw = Gateway::new("cdb", "\n[metrics]\ntextfile = \"rcptsync.prom\"\n");
    gw.apply_keys(&["a@example.com", "b@example.com"]);
    assert_eq!(value(&gw, "rcptsync_installed_recipients"), 2.0);
    assert_eq!(value(&gw, "rcptsync_apply_last_exit_status"), 0.0);
    assert_eq!(value(&gw, "rcptsync_apply_refused"), 0.0);
    let success = value(&gw, "rcptsync_apply_last_success_timestamp_seconds");
    assert_eq!(
        value(&gw, "rcptsync_apply_last_run_timestamp_seconds"),
        success
    );

    // A map with a line that is not an address is refused; the installed one stays.
    std::thread::sleep(std::time::Duration::from_millis(20));
    gw.spool_text("a@example.com OK\n@example.com OK\n");
    gw.apply(&[]).code(3);
    assert_eq!(value(&gw, "rcptsync_apply_refused"), 1.0);
    assert_eq!(value(&gw, "rcptsync_apply_last_exit_status"), 3.0);
    assert_eq!(
        value(&gw, "rcptsync_apply_last_success_timestamp_seconds"),
        success
    );
    assert!(value(&gw, "rcptsync_apply_last_run_timestamp_seconds") > success);
    assert_eq!(value(&gw, "rcptsync_installed_recipients"), 2.0);
}

/// As the account that owns node-exporter's directory, against root's apply: a FIFO at the
/// textfile (it hung apply for ever, after the install), a link to /dev/zero (read whole) and
/// a link to a root-only file (its lines were copied into the world-readable textfile).
#[test]
fn apply_neither_waits_on_nor_reads_what_another_account_put_at_the_textfile() {
    use std::time::Duration;
    let gw = Gateway::new("cdb", "\n[metrics]\ntextfile = \"prom/rcptsync.prom\"\n");
    fs_err::create_dir(gw.postfix.path("prom")).unwrap();
    let prom = gw.postfix.path("prom/rcptsync.prom");
    let secret = gw.postfix.path("root-only");
    fs_err::write(&secret, "rcptsync_secret_line 42\n").unwrap();
    let config = gw.postfix.path("rcptsync.toml");
    let args = ["apply", "-c", config.to_str().unwrap()];

    crate::support::mkfifo(&prom);
    gw.spool(&["a@example.com"]);
    let run =
        crate::support::rcptsync_within(&gw.postfix.path(""), &args, Duration::from_secs(20)).ok();
    assert!(run.stderr.contains("is a FIFO"), "{run}");
    assert_eq!(value_in(&prom, "rcptsync_installed_recipients"), 1.0);

    for (n, target) in [std::path::Path::new("/dev/zero"), &secret]
        .into_iter()
        .enumerate()
    {
        fs_err::remove_file(&prom).unwrap();
        fs_err::os::unix::fs::symlink(target, &prom).unwrap();
        let keys = ["a@example.com", "b@example.com", "c@example.com"];
        gw.spool(&keys[..n + 2]);
        let (run, mib) = crate::support::rcptsync_peak(&gw.postfix.path(""), &args);
        run.ok();
        assert!(mib < 64, "{target:?}: {mib} MiB");
        assert!(!fs_err::symlink_metadata(&prom).unwrap().is_symlink());
        let text = fs_err::read_to_string(&prom).unwrap();
        assert!(!text.contains("rcptsync_secret_line"), "{text}");
        assert_eq!(
            value_in(&prom, "rcptsync_installed_recipients"),
            (n + 2) as f64
        );
    }
    assert_eq!(
        fs_err::read_to_string(&secret).unwrap(),
        "rcptsync_secret_line 42\n"
    );
}

/// One host in both roles: extract runs as rcptsync and apply as root, so they must not share
/// a file that each reads back. apply writes STEM-apply.prom beside the configured textfile
/// and never touches the other role's file.
#[test]
fn on_a_host_in_both_roles_apply_writes_its_own_file() {
    let gw = Gateway::new(
        "cdb",
        "\n[output]\npath = \"out/relay_recipients\"\n\n[metrics]\ntextfile = \"rcptsync.prom\"\n",
    );
    let sync_file = gw.postfix.path("rcptsync.prom");
    fs_err::write(&sync_file, "rcptsync_recipients 7\n").unwrap();
    gw.apply_keys(&["a@example.com"]);
    assert_eq!(
        fs_err::read_to_string(&sync_file).unwrap(),
        "rcptsync_recipients 7\n"
    );
    let text = fs_err::read_to_string(gw.postfix.path("rcptsync-apply.prom")).unwrap();
    assert!(text.contains("rcptsync_installed_recipients 1\n"), "{text}");
    assert!(!text.contains("rcptsync_recipients "), "{text}");
}
