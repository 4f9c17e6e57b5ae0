//! What comes with rcptsync for monitoring: the Prometheus alert rules
//! (`contrib/prometheus/`, checked and unit-tested with Debian's promtool) and the Grafana
//! dashboard (`contrib/grafana/`; Grafana is not in Debian, so its queries are checked here):
//! every metric they name is one rcptsync writes, and the dashboard shows every one.

use std::collections::BTreeSet;
use std::path::Path;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The metric names rcptsync writes: the `"rcptsync_..."` literals of its metrics code.
fn written() -> BTreeSet<String> {
    let code = fs_err::read_to_string(repo("src/cmd/metrics.rs")).unwrap();
    names(&code.split("#[cfg(test)]").next().unwrap().replace('"', " "))
}

/// Every `rcptsync_...` name in `text`.
fn names(text: &str) -> BTreeSet<String> {
    let pattern = regex::Regex::new(r"\brcptsync_[a-z_]+\b").unwrap();
    pattern
        .find_iter(text)
        .map(|m| m.as_str().to_owned())
        .filter(|name| !name.ends_with('_'))
        .collect()
}

#[test]
fn the_rules_and_the_dashboard_name_only_metrics_rcptsync_writes() {
    let written = written();
    assert!(written.len() > 20, "{written:?}");
    let rules = fs_err::read_to_string(repo("contrib/prometheus/rcptsync.rules.yml")).unwrap();
    let exprs: String = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .collect::<Vec<_>>()
        .join("\n");
    let unknown: Vec<String> = names(&exprs).difference(&written).cloned().collect();
    assert!(
        unknown.is_empty(),
        "the rules name metrics rcptsync does not write: {unknown:?}"
    );

    let dashboard: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(repo("contrib/grafana/rcptsync.json")).unwrap(),
    )
    .unwrap();
    let mut queries = String::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push_str(target["expr"].as_str().unwrap());
            queries.push('\n');
        }
    }
    let shown = names(&queries);
    let unknown: Vec<&String> = shown.difference(&written).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard names metrics rcptsync does not write: {unknown:?}"
    );
    let missing: Vec<&String> = written.difference(&shown).collect();
    assert!(
        missing.is_empty(),
        "the dashboard does not show: {missing:?}"
    );
}

#[cfg(feature = "system-tests")]
#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    let promtool = crate::fixture::require("promtool", "prometheus");
    let dir = repo("contrib/prometheus");
    for args in [
        &["check", "rules", "rcptsync.rules.yml"][..],
        &["test", "rules", "rcptsync.rules.test.yml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
