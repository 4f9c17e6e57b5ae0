//! `[[export]]` through the binary: each format made from the map as it stands, written only
//! when its content changes, its command run after a change and again until it succeeds, and
//! nothing written by a run that refuses, fails or only looks. `mta` runs the real OpenSMTPD
//! and Exim on the tables; `sync` shows a failed upload does not hold back the gateways.

#[cfg(feature = "system-tests")]
mod mta;
#[cfg(feature = "system-tests")]
mod sync;

use std::os::unix::fs::MetadataExt as _;

use crate::cli::util::{Env, LOOSE, user, users};

/// The directory (two users, one with an alias), a list source, an extra address and an open
/// domain, with `exports` (TOML) added to the config.
fn env(exports: &str) -> Env {
    let env = Env::new(
        &(user(
            "Alice",
            &["SMTP:alice@example.com", "smtp:a@example.com", "X500:/o=x"],
        ) + &user("Bob", &["SMTP:bob@example.com"])),
        "",
    );
    env.write("more.txt", "# contractors\ncarol@example.com\n");
    write_config(&env, exports);
    env
}

fn write_config(env: &Env, exports: &str) {
    env.write(
        "rcptsync.toml",
        &format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldif\"\npath = \"directory.ldif\"\n\n\
             [[source]]\nname = \"contractors\"\nkind = \"list\"\npath = \"more.txt\"\n\n\
             [recipients]\ndomains = [\"example.com\", \"open.example.com\"]\n\
             internal_relay = [\"open.example.com\"]\nextra = [\"postmaster@example.com\"]\n\n\
             [output]\npath = \"out/relay_recipients\"\n\n{LOOSE}\n{exports}"
        ),
    );
}

fn read(env: &Env, name: &str) -> String {
    fs_err::read_to_string(env.path(name)).unwrap()
}

#[test]
fn every_format_is_made_from_the_map_with_where_each_address_came_from() {
    let mut exports = String::new();
    for (name, format) in [
        ("list.txt", "list"),
        ("all.csv", "csv"),
        ("all.json", "json"),
        ("smtpd.table", "opensmtpd"),
        ("exim.lsearch", "exim"),
    ] {
        exports.push_str(&format!(
            "[[export]]\npath = \"{name}\"\nformat = \"{format}\"\n\n"
        ));
    }
    let env = env(&exports);
    env.run(&["extract"]).ok();
    assert!(env.map().unwrap().contains("@open.example.com OK\n"));
    assert_eq!(
        read(&env, "list.txt"),
        "a@example.com\nalice@example.com\nbob@example.com\ncarol@example.com\npostmaster@example.com\n"
    );
    let more = env.path("more.txt").display().to_string();
    assert_eq!(
        read(&env, "all.csv"),
        format!(
            "address,source,id\n\
             a@example.com,ad,\"CN=Alice,OU=Staff,DC=example,DC=com\"\n\
             alice@example.com,ad,\"CN=Alice,OU=Staff,DC=example,DC=com\"\n\
             bob@example.com,ad,\"CN=Bob,OU=Staff,DC=example,DC=com\"\n\
             carol@example.com,contractors,{more}:2\n\
             postmaster@example.com,config,\n"
        )
    );
    let json: serde_json::Value = serde_json::from_str(&read(&env, "all.json")).unwrap();
    assert_eq!(json["recipients"].as_array().unwrap().len(), 5);
    assert_eq!(json["recipients"][2]["address"], "bob@example.com");
    assert_eq!(json["recipients"][2]["source"], "ad");
    assert_eq!(
        json["open_domains"],
        serde_json::json!(["open.example.com"])
    );
    assert_eq!(
        read(&env, "smtpd.table"),
        "@open.example.com\na@example.com\nalice@example.com\nbob@example.com\ncarol@example.com\npostmaster@example.com\n"
    );
    assert!(read(&env, "exim.lsearch").starts_with("*@open.example.com\na@example.com\n"));
    // The state beside the map, and nothing else.
    assert!(env.path("out/relay_recipients.exports").exists());
}

#[test]
fn an_export_is_replaced_only_when_its_content_changes_and_its_command_runs_after() {
    let calls = "calls.log";
    let exports = format!(
        "[[export]]\npath = \"list.txt\"\ncommand = [\"/bin/sh\", \"-c\", \"echo \\\"$1\\\" >> {}\", \"sh\"]\n",
        "calls.log"
    );
    let env = env(&exports);
    env.run(&["extract"]).ok();
    let list = env.path("list.txt");
    assert_eq!(read(&env, calls), format!("{}\n", list.display()));
    let inode = fs_err::metadata(&list).unwrap().ino();

    // Nothing changed: not written, not run.
    env.run(&["extract"]).ok();
    env.run(&["extract", "--full"]).ok();
    assert_eq!(fs_err::metadata(&list).unwrap().ino(), inode);
    assert_eq!(read(&env, calls).lines().count(), 1);

    // The map changes but not the list (a domain opened): the file stays, nothing runs.
    let mut config = read(&env, "rcptsync.toml");
    config = config.replace(
        "domains = [\"example.com\", \"open.example.com\"]",
        "domains = [\"example.com\", \"open.example.com\", \"more.example.com\"]",
    );
    config = config.replace(
        "internal_relay = [\"open.example.com\"]",
        "internal_relay = [\"open.example.com\", \"more.example.com\"]",
    );
    env.write("rcptsync.toml", &config);
    env.run(&["extract"]).ok();
    assert!(env.map().unwrap().contains("@more.example.com"));
    assert_eq!(fs_err::metadata(&list).unwrap().ino(), inode);
    assert_eq!(read(&env, calls).lines().count(), 1);

    // A new address: the file is replaced and the command runs once.
    env.write("more.txt", "carol@example.com\ndave@example.com\n");
    env.run(&["extract"]).ok();
    assert!(read(&env, "list.txt").contains("dave@example.com\n"));
    assert_ne!(fs_err::metadata(&list).unwrap().ino(), inode);
    assert_eq!(read(&env, calls).lines().count(), 2);

    // Someone removes the file: the next run writes it again, though the directory is as it
    // was, and the command runs for the new file.
    fs_err::remove_file(&list).unwrap();
    env.run(&["extract"]).ok();
    assert!(read(&env, "list.txt").contains("dave@example.com\n"));
    assert_eq!(read(&env, calls).lines().count(), 3);
}

#[test]
fn a_failing_command_fails_the_run_and_runs_again_until_it_succeeds() {
    let env = env("");
    let fail = env.path("fail");
    let calls = env.path("calls.log");
    let script = format!(
        "if [ -e {} ]; then echo 'upload refused: HTTP 503' >&2; exit 7; fi; echo \"$1\" >> {}",
        fail.display(),
        calls.display()
    );
    let exports = format!(
        "[[export]]\npath = \"list.txt\"\ncommand = [\"/bin/sh\", \"-c\", {script:?}, \"sh\"]\n"
    );
    write_config(&env, &exports);
    env.write("fail", "");
    let r = env.run(&["extract"]).code(1);
    assert!(
        r.stderr.contains("upload refused: HTTP 503")
            && r.stderr.contains("list.txt")
            && r.stderr.contains("runs again on the next run"),
        "{r}"
    );
    // The map and the export are in place; only the command is owed.
    assert!(env.map().unwrap().contains("alice@example.com"));
    assert!(read(&env, "list.txt").contains("alice@example.com"));
    // The directory did not change: the command is tried again all the same.
    env.run(&["extract"]).code(1);
    assert!(!calls.exists());
    fs_err::remove_file(&fail).unwrap();
    env.run(&["extract"]).ok();
    assert_eq!(fs_err::read_to_string(&calls).unwrap().lines().count(), 1);
    env.run(&["extract"]).ok();
    assert_eq!(fs_err::read_to_string(&calls).unwrap().lines().count(), 1);
    // A run that found nothing changed and ran nothing says nothing either.
    let quiet = env.run(&["extract"]).ok();
    assert_eq!(quiet.stderr, "", "{quiet}");
}

#[test]
fn a_command_past_its_timeout_is_stopped_and_fails_the_run() {
    let exports = "[[export]]\npath = \"list.txt\"\ncommand = [\"/bin/sh\", \"-c\", \"sleep 30\", \"sh\"]\ntimeout = \"1s\"\n";
    let env = env(exports);
    let r = env
        .run_within(&["extract"], std::time::Duration::from_secs(15))
        .code(1);
    assert!(r.stderr.contains("did not finish within 1s"), "{r}");
}

#[test]
fn a_run_that_refuses_holds_or_only_looks_leaves_the_exports_as_the_map_is() {
    let env = Env::new(
        &users(10),
        "[safety]\nmin_recipients = 1\nmax_removed = 2\nmax_removed_percent = 100\n\
         [[export]]\npath = \"list.txt\"\n",
    );
    env.run(&["extract"]).ok();
    let before = read(&env, "list.txt");
    assert_eq!(before.lines().count(), 10);
    let inode = fs_err::metadata(env.path("list.txt")).unwrap().ino();

    // No recipients at all: refused, the map and the export untouched.
    env.write("directory.ldif", "");
    env.run(&["extract"]).code(3);
    assert_eq!(read(&env, "list.txt"), before);
    assert_eq!(fs_err::metadata(env.path("list.txt")).unwrap().ino(), inode);

    // A dry run of a new address writes no export.
    env.write("directory.ldif", &users(11));
    env.run(&["extract", "--dry-run"]).ok();
    assert_eq!(read(&env, "list.txt"), before);

    // Five removed, more than max_removed: held. The map keeps them, and so does the export,
    // which gains the new address as the map does.
    env.write(
        "directory.ldif",
        &(users(5) + &user("New", &["SMTP:new@example.com"])),
    );
    env.run(&["extract"]).code(3);
    let held = read(&env, "list.txt");
    assert!(
        held.contains("u9@example.com\n") && held.contains("new@example.com\n"),
        "{held}"
    );
    let map = env.map().unwrap();
    let map_keys: Vec<&str> = map
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(held.lines().collect::<Vec<_>>(), map_keys);
}

#[test]
fn an_unusable_export_is_a_config_error_naming_the_key() {
    for (export, message) in [
        (
            "path = \"x\"\nformat = \"xml\"",
            "export.format: \"xml\" is not a format",
        ),
        (
            "path = \"x\"\ncommand = [\"upload\"]",
            "export.command: \"upload\": the program must be an absolute path",
        ),
        (
            "path = \"x\"\ncommand = []",
            "export.command: an empty list",
        ),
        (
            "path = \"out/relay_recipients.txt\"",
            "the map and the files beside it (PATH.*) are rcptsync's own",
        ),
        (
            "path = \"out/./relay_recipients\"",
            "the map and the files beside it (PATH.*) are rcptsync's own",
        ),
        ("path = \"x\"\ntimeout = \"soon\"", "export.timeout"),
        (
            "path = \"x\"\n[[export]]\npath = \"x\"",
            "is the file of two exports",
        ),
        (
            "path = \"x\"\nformats = \"list\"",
            "unknown field `formats`",
        ),
    ] {
        let env = env(&format!("[[export]]\n{export}\n"));
        let r = env.run(&["extract"]).code(2);
        assert!(r.stderr.contains(message), "{export}: {r}");
        assert!(env.map().is_none());
    }
}

#[test]
fn the_command_gets_neither_systemds_socket_nor_the_bind_password() {
    let script = "for v in NOTIFY_SOCKET WATCHDOG_PID RCPTSYNC_BIND_PASSWORD; do \
                  eval \"test -z \\\"\\${$v}\\\"\" || { echo \"$v was handed on\" >&2; exit 1; }; done";
    let env = env(&format!(
        "[[export]]\npath = \"list.txt\"\ncommand = [\"/bin/sh\", \"-c\", {script:?}, \"sh\"]\n"
    ));
    let config = env.path("rcptsync.toml");
    let run: crate::support::Run = crate::support::command()
        .args(["extract", "-c", config.to_str().unwrap()])
        .env("NOTIFY_SOCKET", "/run/systemd/notify")
        .env("WATCHDOG_PID", "1")
        .env("RCPTSYNC_BIND_PASSWORD", "secret")
        .current_dir(env.path(""))
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn a_run_killed_after_it_replaced_the_file_leaves_the_command_owed() {
    let exports = "[[export]]\npath = \"list.txt\"\ncommand = [\"/bin/sh\", \"-c\", \"echo \\\"$1\\\" >> calls.log\", \"sh\"]\n";
    let env = env(exports);
    env.run(&["extract"]).ok();
    assert_eq!(read(&env, "calls.log").lines().count(), 1);
    // A new address, and a run killed between replacing the export and recording it: the
    // file is already what the next run makes, but its command never ran.
    env.write("more.txt", "carol@example.com\ndave@example.com\n");
    let next = read(&env, "list.txt").replace(
        "carol@example.com\n",
        "carol@example.com\ndave@example.com\n",
    );
    env.write("list.txt.new", &next);
    fs_err::rename(env.path("list.txt.new"), env.path("list.txt")).unwrap();
    env.run(&["extract"]).ok();
    assert_eq!(read(&env, "list.txt"), next);
    assert_eq!(read(&env, "calls.log").lines().count(), 2);
}

#[test]
fn where_an_address_came_from_follows_the_directory_though_the_map_does_not_change() {
    let env = env("[[export]]\npath = \"all.csv\"\nformat = \"csv\"\n");
    env.run(&["extract"]).ok();
    assert!(read(&env, "all.csv").contains("a@example.com,ad,\"CN=Alice,"));
    let map = env.map().unwrap();
    // The alias a@ moves from Alice to Bob: the same addresses, another object.
    env.write(
        "directory.ldif",
        &(user("Alice", &["SMTP:alice@example.com"])
            + &user("Bob", &["SMTP:bob@example.com", "smtp:a@example.com"])),
    );
    env.run(&["extract"]).ok();
    assert_eq!(env.map().unwrap(), map);
    assert!(
        read(&env, "all.csv").contains("a@example.com,ad,\"CN=Bob,"),
        "{}",
        read(&env, "all.csv")
    );
}
