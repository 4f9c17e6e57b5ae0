//! apply's `[metrics] textfile` on a gateway: installed recipients, the last apply's time
//! and result, written after an install, an unchanged run and a refusal alike.

use super::util::Gateway;

fn value(gw: &Gateway, name: &str) -> f64 {
    let text = fs_err::read_to_string(gw.postfix.path("rcptsync.prom")).unwrap();
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
