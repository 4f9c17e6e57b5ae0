//! `status --plugin` through the binary: the Monitoring Plugins form (one line with perfdata,
//! exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) for each state of the internal host and of a
//! gateway, and a usage or config error as UNKNOWN, never the usual 2 (which a plugin host
//! reads as CRITICAL).

use super::util::{Env, LOOSE, users};

/// `status --plugin ARGS`: its line and exit code.
fn plugin(env: &Env, args: &[&str]) -> (String, i32) {
    let r = env.run(&[&["status", "--plugin"], args].concat());
    assert_eq!(r.stdout.lines().count(), 1, "one line: {r}");
    (r.stdout.trim_end().to_owned(), r.code)
}

#[test]
fn the_internal_host_is_ok_warning_critical_or_unknown_by_its_last_run() {
    let env = Env::new(&users(5), LOOSE);
    let (line, code) = plugin(&env, &[]);
    assert_eq!(
        (line.as_str(), code),
        (
            "RCPTSYNC UNKNOWN - no run recorded yet (has rcptsync sync or watch run?)",
            3
        )
    );

    env.run(&["extract"]).ok();
    let (line, code) = plugin(&env, &[]);
    assert_eq!(code, 0, "{line}");
    assert!(
        line.starts_with("RCPTSYNC OK - map current as of "),
        "{line}"
    );
    assert!(
        line.contains(" | age=")
            && line.contains(";7200;86400;0 recipients=5 held=0 gateways_behind=0;0;;0"),
        "{line}"
    );

    // The last success, aged: WARNING past --warning, CRITICAL past --critical.
    let record = env.path("out/relay_recipients.run");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    fs_err::write(&record, format!("{now} 0 {}\n", now - 3 * 3600)).unwrap();
    let (line, code) = plugin(&env, &[]);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.starts_with("RCPTSYNC WARNING - map current as of 3h ago"),
        "{line}"
    );
    let (line, code) = plugin(&env, &["--warning", "30m", "--critical", "2h"]);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("age=10800s;1800;7200;0"), "{line}");

    // A run that fails: CRITICAL, whatever the age.
    env.write("directory.ldif", "dn: CN=broken\nproxyAddresses\n");
    env.run(&["extract"]).code(1);
    let (line, code) = plugin(&env, &[]);
    assert_eq!(code, 2, "{line}");
    assert!(
        line.starts_with("RCPTSYNC CRITICAL - the last run failed (exit 1: failure)"),
        "{line}"
    );

    // Removals held back: WARNING (the run that held them exits 3, but the map was written).
    env.config("[safety]\nmin_recipients = 1\nmax_removed = 1\nmax_removed_percent = 100\n");
    env.write("directory.ldif", &users(2));
    env.run(&["extract"]).code(3);
    let (line, code) = plugin(&env, &[]);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.contains("3 removal(s) held since ") && line.contains("held=3"),
        "{line}"
    );
}

#[test]
fn a_gateway_behind_is_a_warning() {
    let env = Env::new(
        &users(3),
        &format!(
            "{LOOSE}[[gateway]]\nname = \"mx1\"\nhost = \"mx1.example.com\"\nuser = \"postrelay\"\n"
        ),
    );
    env.run(&["extract"]).ok();
    let (line, code) = plugin(&env, &[]);
    assert_eq!(code, 1, "{line}");
    assert!(
        line.contains("not acknowledged the current map: mx1")
            && line.contains("gateways_behind=1;0;;0"),
        "{line}"
    );
}

#[test]
fn a_gateway_is_judged_by_how_long_ago_its_map_was_confirmed() {
    let env = Env::new(&users(3), "");
    let dir = env.path("");
    let map = dir.join("maps/relay_recipients");
    fs_err::create_dir_all(dir.join("maps")).unwrap();
    fs_err::create_dir_all(dir.join("spool")).unwrap();
    env.write(
        "gateway.toml",
        &format!(
            "[install]\nspool = \"spool\"\nmap = \"texthash:{}\"\n",
            map.display()
        ),
    );
    let gateway = |args: &[&str]| {
        let r = super::util::run(
            &dir,
            &[&["-c", "gateway.toml", "status", "--plugin"], args].concat(),
        );
        (r.stdout.trim_end().to_owned(), r.code)
    };
    let (line, code) = gateway(&[]);
    assert_eq!(code, 3, "{line}");
    assert!(
        line.starts_with("RCPTSYNC UNKNOWN - no map confirmed yet"),
        "{line}"
    );
    fs_err::write(&map, "a@example.com OK\n").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    fs_err::write(
        dir.join("maps/relay_recipients.confirmed"),
        format!("{}\n", now - 60),
    )
    .unwrap();
    let (line, code) = gateway(&[]);
    assert_eq!(code, 0, "{line}");
    assert!(
        line.starts_with("RCPTSYNC OK - installed map confirmed 1m ago")
            && line.contains("confirmed_age=60s;7200;86400;0 installed=1"),
        "{line}"
    );
    // A refused map: WARNING; a failed apply: CRITICAL; a stale map (450): CRITICAL.
    fs_err::write(
        dir.join("maps/relay_recipients.applied"),
        format!("{now} 3\n"),
    )
    .unwrap();
    assert_eq!(gateway(&[]).1, 1);
    fs_err::write(
        dir.join("maps/relay_recipients.applied"),
        format!("{now} 1\n"),
    )
    .unwrap();
    assert_eq!(gateway(&[]).1, 2);
    fs_err::write(
        dir.join("maps/relay_recipients.applied"),
        format!("{now} 0\n"),
    )
    .unwrap();
    fs_err::write(
        dir.join("maps/relay_recipients.stale"),
        format!("since {now}\nprevious \napplied\n"),
    )
    .unwrap();
    let (line, code) = gateway(&[]);
    assert_eq!(code, 2, "{line}");
    assert!(
        line.contains("stale since ") && line.contains("unknown recipients get 450"),
        "{line}"
    );
}

#[test]
fn usage_and_config_errors_are_unknown_not_critical() {
    let env = Env::new(&users(1), LOOSE);
    for args in [
        &["status", "--plugin", "--warning", "soon"][..],
        &["status", "--plugin", "--no-such-flag"],
        &["status", "--plugin", "--json"],
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 3, "{args:?}: {r}");
        assert!(r.stdout.starts_with("RCPTSYNC UNKNOWN - "), "{r}");
    }
    env.write("rcptsync.toml", "[output]\npath = 5\n");
    let r = env.run(&["status", "--plugin"]);
    assert_eq!(r.code, 3, "{r}");
    assert!(
        r.stdout.starts_with("RCPTSYNC UNKNOWN - ") && r.stdout.contains("rcptsync.toml"),
        "{r}"
    );
    // Without --plugin a usage error stays exit 2.
    assert_eq!(env.run(&["status", "--no-such-flag"]).code, 2);
}
