//! Bad input, bad config and contention: clear messages, the right exit code, and the map
//! untouched every time.

use super::util::{Env, LOOSE, map_of, run, users};

/// Installs a map of u0..u4, then breaks the directory export with `ldif`; extract must fail
/// with exit 1, say `message`, and leave the map alone.
fn broken_source(ldif: &str, message: &str) {
    let env = Env::new(&users(5), LOOSE);
    env.run(&["extract"]).ok();
    let mtime = env.age_map();
    env.write("directory.ldif", ldif);
    let r = env.run(&["extract"]).code(1);
    assert!(
        r.stderr.contains(message),
        "expected {message:?} in {}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    assert_eq!(env.map().unwrap(), map_of(0..5));
    assert_eq!(env.map_mtime(), mtime);
}

#[test]
fn ldif_syntax_error_names_file_and_line() {
    broken_source(
        &format!(
            "{}dn: CN=X,DC=example,DC=com\nproxyAddresses SMTP:x@example.com\n",
            users(4)
        ),
        "source ad: ",
    );
    broken_source(
        &format!("{}dn: CN=X,DC=example,DC=com\nproxyAddresses\n", users(4)),
        "directory.ldif:22: expected `attribute: value`, found \"proxyAddresses\"",
    );
}

#[test]
fn truncated_ldapsearch_export_is_refused() {
    broken_source(
        &format!(
            "{}# search result\nsearch: 2\nresult: 4 Size limit exceeded\n",
            users(4)
        ),
        "directory.ldif:23: ldapsearch reported `result: 4 Size limit exceeded`: the export is incomplete",
    );
}

#[test]
fn ranged_attribute_without_the_rest_is_refused() {
    broken_source(
        &format!(
            "{}dn: CN=R,DC=example,DC=com\nproxyAddresses;range=0-1499: SMTP:r@example.com\n",
            users(5)
        ),
        "proxyaddresses was exported in ranges and the export stops before the last value",
    );
}

#[test]
fn missing_source_file() {
    let env = Env::new(&users(5), LOOSE);
    env.run(&["extract"]).ok();
    fs_err::remove_file(env.path("directory.ldif")).unwrap();
    let r = env.run(&["extract"]).code(1);
    assert!(r.stderr.contains("directory.ldif"), "{}", r.stderr);
    assert_eq!(env.map().unwrap(), map_of(0..5));
}

#[test]
fn unreadable_current_map_is_an_error_not_a_blind_overwrite() {
    let env = Env::new(&users(5), LOOSE);
    env.run(&["extract"]).ok();
    let broken = "u0@example.com OK\nu1@example.com\n";
    fs_err::write(env.map_path(), broken).unwrap();
    let r = env.run(&["extract"]).code(1);
    assert!(
        r.stderr
            .contains("relay_recipients:2: a key without a value"),
        "{}",
        r.stderr
    );
    assert_eq!(env.map().unwrap(), broken);
    // Out of order before the broken line: read whole after the streamed pass stops, and
    // refused all the same.
    let broken = "u1@example.com OK\nu0@example.com OK\nu2@example.com\n";
    fs_err::write(env.map_path(), broken).unwrap();
    let r = env.run(&["extract"]).code(1);
    assert!(
        r.stderr
            .contains("relay_recipients:3: a key without a value"),
        "{}",
        r.stderr
    );
    assert_eq!(env.map().unwrap(), broken);
}

#[test]
fn config_errors_exit_2_and_name_file_and_key() {
    let env = Env::new(&users(5), "[output]\nvalue = \"OK\"\n");
    let r = env.run(&["extract"]).code(2);
    assert!(r.stderr.contains("rcptsync.toml"), "{}", r.stderr);
    assert!(r.stderr.contains("duplicate key"), "{}", r.stderr);
    assert_eq!(
        r.stderr.matches("duplicate key").count(),
        1,
        "said twice: {}",
        r.stderr
    );

    env.config("[safety]\nmax_removd = 5\n");
    let r = env.run(&["extract"]).code(2);
    assert!(
        r.stderr.contains("unknown field `max_removd`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("line 14"), "{}", r.stderr);

    let r = run(
        &env.path(""),
        &["extract", "-c", "/nonexistent/rcptsync.toml"],
    )
    .code(2);
    assert!(
        r.stderr.contains("/nonexistent/rcptsync.toml"),
        "{}",
        r.stderr
    );
    assert!(env.map().is_none());
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new("", LOOSE);
    env.run(&["extract", "--no-such-flag"]).code(2);
    env.run(&[]).code(2);
    env.run(&["verify", "--ca-file", "ca.pem"]).code(2);
    env.run(&["import-ini"]).code(2);
}

#[test]
fn a_second_run_waits_for_the_lock_then_runs() {
    // Another run (a watch writing, a slow cron run) holds the lock: extract waits for it
    // (crate::lock::WAIT, bounded) instead of failing, and runs once it is free.
    let env = Env::new(&users(5), LOOSE);
    env.run(&["extract"]).ok();
    env.write("directory.ldif", &users(6));
    let lock = fs_err::File::options()
        .write(true)
        .open(env.path("out/relay_recipients.lock"))
        .unwrap();
    lock.file().lock().unwrap();
    let released = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        drop(lock);
    });
    let started = std::time::Instant::now();
    let r = env.run(&["-v", "extract"]).ok();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1400),
        "{r}"
    );
    assert!(
        r.stderr
            .contains("is locked by another rcptsync run; waiting"),
        "{r}"
    );
    released.join().unwrap();
    assert_eq!(env.map().unwrap(), map_of(0..6));
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    // `rcptsync extract --dry-run | head -1` on a first run prints a line per recipient; once
    // the reader is gone the run ends: exit 0, nothing on stderr, no panic (exit 101).
    let env = Env::new(&users(20_000), LOOSE);
    let config = env.path("rcptsync.toml");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = crate::support::command()
        .arg("-c")
        .arg(&config)
        .args(["extract", "--dry-run"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(!env.map_path().exists());

    // Without --dry-run the map is written all the same: the report comes after the write.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = crate::support::command()
        .arg("-c")
        .arg(&config)
        .arg("extract")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(env.map().unwrap(), map_of(0..20_000));

    // import-ini is different: the TOML is the product, so a closed stdout is a failure
    // (never exit 0 with nothing delivered), and the password file made for it is removed.
    let ini = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/legacy-relay_recipients.ini");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = crate::support::command()
        .arg("import-ini")
        .arg(&ini)
        .arg("--password-file")
        .arg(env.path("bind.pw"))
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: write the TOML to stdout: Broken pipe"),
        "{stderr}"
    );
    assert!(!env.path("bind.pw").exists(), "{stderr}");
}

/// An identity_file ssh would not use is this host's mistake: a config error (exit 2) with
/// its fix, found before any gateway is contacted, never reported as the gateway refusing.
#[test]
fn a_missing_or_open_identity_file_is_a_local_config_error() {
    use std::os::unix::fs::PermissionsExt as _;
    let port = crate::fixture::free_port();
    let env = Env::new(
        &users(2),
        &format!(
            "{LOOSE}[[gateway]]\nname = \"mx1\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             user = \"postrelay\"\nidentity_file = \"id_ed25519\"\n"
        ),
    );
    env.run(&["extract"]).ok();
    let key = env.path("id_ed25519");
    let r = env.run(&["push"]).code(2);
    assert!(
        r.stderr.contains(&format!(
            "identity_file {} of gateway mx1 does not exist; create the key with ssh-keygen -t ed25519 -N '' -f {}",
            key.display(),
            key.display()
        )),
        "{r}"
    );
    fs_err::write(&key, "not really a key\n").unwrap();
    fs_err::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = env.run(&["push"]).code(2);
    assert!(
        r.stderr.contains(&format!(
            "identity_file {} of gateway mx1 is accessible by group or others (mode 0644); ssh refuses such a private key: chmod 600 {}",
            key.display(),
            key.display()
        )),
        "{r}"
    );
    // Nothing was attempted: the push record is untouched.
    assert!(!env.path("out/relay_recipients.pushed").exists());
}

/// sync's settings are resolved before either step runs: a config without a `[[gateway]]` is
/// a config error (exit 2) before the directory is read or the map written.
#[test]
fn sync_without_a_gateway_is_a_config_error_before_anything_runs() {
    let env = Env::new(&users(5), LOOSE);
    let r = env.run(&["sync"]).code(2);
    assert!(
        r.stderr
            .contains("[[gateway]]: missing; push needs at least one gateway"),
        "{r}"
    );
    assert!(!env.path("out/relay_recipients").exists(), "{r}");
}
