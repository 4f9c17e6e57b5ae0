//! Held changes on the internal host, through the binary: a tripped removal guard holds the
//! removals back while additions flow, says so once, and `review` / `approve` show and let
//! through exactly that change. (The gateways' side, with signed approvals over the real
//! sshd, is in transport/held.rs.)

use super::util::{Env, map_of, user, users};

/// The map of u{range} plus the extra lines `more` (sorted with them).
fn map_with(range: std::ops::Range<usize>, more: &[&str]) -> String {
    let mut lines: Vec<String> = map_of(range).lines().map(|l| format!("{l}\n")).collect();
    lines.extend(more.iter().map(|k| format!("{k} OK\n")));
    lines.sort();
    lines.concat()
}

/// An environment with u0..u99 in the map and max_removed = 5.
fn installed() -> Env {
    let env = Env::new(
        &users(100),
        "[safety]\nmax_removed = 5\nmax_removed_percent = 100\n",
    );
    env.run(&["extract"]).ok();
    env
}

/// The ID the run's stderr gives the held change.
fn held_id(stderr: &str) -> String {
    let at = stderr
        .find("as change ")
        .unwrap_or_else(|| panic!("no ID in {stderr}"));
    stderr[at + 10..at + 74].to_owned()
}

#[test]
fn removals_are_held_while_additions_flow_and_the_news_is_said_once() {
    let env = installed();
    // u90..u99 leave (10 > max_removed), a newcomer arrives.
    let directory = [users(90), user("New", &["SMTP:newcomer@example.com"])].concat();
    env.write("directory.ldif", &directory);
    let r = env.run(&["extract"]).code(3);
    assert_eq!(
        env.map().unwrap(),
        map_with(0..100, &["newcomer@example.com"])
    );
    assert!(
        r.stdout.starts_with(
            "+newcomer@example.com
"
        ),
        "{r}"
    );
    assert!(
        r.stdout.ends_with(
            "out/relay_recipients: 101 recipients, 1 added, 0 removed
"
        ),
        "{r}"
    );
    let id = held_id(&r.stderr);
    for said in [
        "safety guard: 10 addresses would be removed, more than max_removed = 5",
        "holding back 10 removal(s) as change",
        "rcptsync review -c",
        &format!("rcptsync approve {id} -c"),
    ] {
        assert!(r.stderr.contains(said), "{said:?} not in {r}");
    }
    // status tells, as long as it is held.
    let status = env.run(&["status"]).ok().stdout;
    assert!(
        status.contains("held: 10 removal(s) since ")
            && status.contains(&format!("(change {id}; ")),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["status", "--json"]).ok().stdout).unwrap();
    assert_eq!(json["held"]["removals"], 10);
    assert_eq!(json["held"]["id"], id.as_str());
    // The next runs, with the same held change, say nothing and exit 0 (cron mails once).
    let again = env.run(&["extract", "--full"]).ok();
    assert_eq!((again.stdout.as_str(), again.stderr.as_str()), ("", ""));
    // A dry run says what a real run would, and writes nothing.
    env.write("directory.ldif", &users(80));
    let held = fs_err::read(env.path("out/relay_recipients.held")).unwrap();
    let dry = env.run(&["extract", "--dry-run"]).code(3);
    assert!(dry.stderr.contains("holding back 21 removal(s)"), "{dry}");
    assert!(dry.stderr.contains("(dry run, nothing written)"), "{dry}");
    assert_eq!(
        fs_err::read(env.path("out/relay_recipients.held")).unwrap(),
        held
    );
    assert_eq!(
        env.map().unwrap(),
        map_with(0..100, &["newcomer@example.com"])
    );

    // The change grows (u80..u89 leave too, and the newcomer): a new ID, said again.
    let grown = env.run(&["extract"]).code(3);
    let grown_id = held_id(&grown.stderr);
    assert_ne!(grown_id, id);
    assert!(
        grown.stderr.contains("holding back 21 removal(s)"),
        "{grown}"
    );
    assert_eq!(
        env.map().unwrap(),
        map_with(0..100, &["newcomer@example.com"])
    );

    // The directory takes some back: the held change shrinks (a new ID, no exit 3)...
    env.write(
        "directory.ldif",
        &[users(94), user("New", &["SMTP:newcomer@example.com"])].concat(),
    );
    let shrunk = env.run(&["extract"]).ok();
    assert!(
        shrunk
            .stderr
            .contains("15 of the removals held are back in the directory; 6 still held"),
        "{shrunk}"
    );
    // ... and once all of it is back, nothing is held and nothing more is said.
    env.write(
        "directory.ldif",
        &[users(100), user("New", &["SMTP:newcomer@example.com"])].concat(),
    );
    let back = env.run(&["extract"]).ok();
    assert_eq!(back.stderr, "", "{back}");
    assert!(!env.path("out/relay_recipients.held").exists());
    let review = env.run(&["review"]).ok();
    assert_eq!(review.stdout, "");
    assert!(!env.run(&["status"]).ok().stdout.contains("held:"));
    let json = env.run(&["review", "--json"]).ok();
    assert_eq!(
        json.stdout.split_whitespace().collect::<String>(),
        "{\"held\":[]}"
    );
}

#[test]
fn review_shows_the_held_change_and_approve_lets_exactly_it_through() {
    let env = installed();
    env.write("directory.ldif", &users(70));
    let id = held_id(&env.run(&["extract"]).code(3).stderr);

    let text = env.run(&["review"]).ok().stdout;
    for said in [
        &format!("change {id}: 30 removal(s) held since "),
        "guard: 30 addresses would be removed, more than max_removed = 5",
        "      30  example.com",
        "      30  ad",
        "addresses (20 of 30; -v lists all):",
        &format!("rcptsync approve {id} -c"),
    ] {
        assert!(text.contains(said), "{said:?} not in {text}");
    }
    assert_eq!(
        env.run(&["-v", "review"])
            .ok()
            .stdout
            .matches("@example.com")
            .count(),
        30
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["review", "--json"]).ok().stdout).unwrap();
    let held = &json["held"][0];
    assert_eq!(held["id"], id.as_str());
    assert_eq!(held["removals"], 30);
    assert_eq!(
        held["guard"],
        "30 addresses would be removed, more than max_removed = 5"
    );
    assert_eq!(held["by_domain"]["example.com"], 30);
    assert_eq!(held["sample"].as_array().unwrap().len(), 20);
    assert!(held["since"].as_str().unwrap().ends_with('Z'));

    // An unknown ID approves nothing.
    let unknown = env.run(&["approve", "0123456789abcdef"]).code(2);
    assert!(
        unknown.stderr.contains(&format!(
            "change 0123456789abcdef is not the change held now, which is {id}"
        )),
        "{unknown}"
    );
    assert!(!env.path("out/relay_recipients.approval").exists());

    // The change grows after the review: the reviewed ID is outdated and approves nothing.
    env.write("directory.ldif", &users(65));
    let grown = held_id(&env.run(&["extract"]).code(3).stderr);
    let outdated = env.run(&["approve", &id]).code(2);
    assert!(outdated.stderr.contains("grew, shrank"), "{outdated}");
    assert!(!env.path("out/relay_recipients.approval").exists());

    // The current ID: approved (unsigned, with a warning: there is no approval_key).
    let approved = env.run(&["approve", &grown]).ok();
    assert!(
        approved.stdout.contains(&format!(
            "approved change {grown}: 35 removal(s), valid until "
        )),
        "{approved}"
    );
    assert!(
        approved.stderr.contains("approval_key is not set"),
        "{approved}"
    );
    assert!(env.run(&["review"]).ok().stdout.contains("approved until"));
    // The next run applies it, although the directory did not change meanwhile.
    let applied = env.run(&["extract"]).ok();
    assert!(
        applied
            .stdout
            .contains("65 recipients, 0 added, 35 removed"),
        "{applied}"
    );
    assert_eq!(env.map().unwrap(), map_of(0..65));
    assert!(!env.path("out/relay_recipients.held").exists());

    // Removals beyond the approved ones are held again, as a new change.
    env.write("directory.ldif", &users(55));
    let next = env.run(&["extract"]).code(3);
    assert!(next.stderr.contains("holding back 10 removal(s)"), "{next}");
    assert_eq!(env.map().unwrap(), map_of(0..65));
    // The approval beside it is older than this held change: it does not make every run
    // read again (the shortcut for an unchanged directory still works).
    let quiet = env.run(&["-v", "extract"]).ok();
    assert!(
        quiet
            .stdout
            .contains("unchanged (the sources report no change"),
        "{quiet}"
    );
}

#[test]
fn a_guard_that_says_the_read_is_wrong_still_refuses_the_whole_run() {
    // A mass removal that also loses a canary: the read itself is suspect, so nothing is
    // written and nothing held.
    let env = Env::new(
        &users(100),
        "[safety]\nmax_removed = 5\nmax_removed_percent = 100\ncanaries = [\"u99@example.com\"]\n",
    );
    env.run(&["extract"]).ok();
    let before = env.map().unwrap();
    env.write(
        "directory.ldif",
        &[users(50), user("New", &["SMTP:newcomer@example.com"])].concat(),
    );
    let r = env.run(&["extract"]).code(3);
    assert!(
        r.stderr.contains("canary u99@example.com is missing"),
        "{r}"
    );
    assert!(r.stderr.contains("refusing to replace"), "{r}");
    assert_eq!(env.map().unwrap(), before);
    assert!(!env.path("out/relay_recipients.held").exists());
    // --force still overrides every guard it may (the canary's too), holding nothing.
    let forced = env.run(&["extract", "--force"]).ok();
    for said in [
        "--force overrides safety guard: canary u99@example.com is missing",
        "--force overrides safety guard: 50 addresses would be removed",
    ] {
        assert!(forced.stderr.contains(said), "{said:?} not in {forced}");
    }
    assert_eq!(
        env.map().unwrap(),
        map_with(0..50, &["newcomer@example.com"])
    );
    assert!(!env.path("out/relay_recipients.held").exists());
}

#[test]
fn approve_signs_with_a_key_only_its_owner_can_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = installed();
    env.write("directory.ldif", &users(70));
    let id = held_id(&env.run(&["extract"]).code(3).stderr);
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[3; 32]));
    key.write_openssh_file(&env.path("approval_key"), ssh_key::LineEnding::LF)
        .unwrap();
    env.config(
        "[safety]\nmax_removed = 5\nmax_removed_percent = 100\napproval_key = \"approval_key\"\n",
    );
    // Readable by others: refused as a config error, nothing approved.
    let mode = |m| {
        fs_err::set_permissions(env.path("approval_key"), std::fs::Permissions::from_mode(m))
            .unwrap()
    };
    mode(0o644);
    let open = env.run(&["approve", &id]).code(2);
    assert!(
        open.stderr.contains("is accessible by group or others"),
        "{open}"
    );
    assert!(!env.path("out/relay_recipients.approval").exists());
    // Not a key at all: named, with the command that makes one.
    fs_err::write(env.path("approval_key"), "not a key\n").unwrap();
    mode(0o600);
    let garbage = env.run(&["approve", &id]).code(2);
    assert!(
        garbage.stderr.contains("ssh-keygen -t ed25519"),
        "{garbage}"
    );
    key.write_openssh_file(&env.path("approval_key"), ssh_key::LineEnding::LF)
        .unwrap();
    mode(0o600);
    let signed = env.run(&["approve", &id]).ok();
    assert!(signed.stdout.contains(", signed;"), "{signed}");
    // Here the account that owns the map's directory (sync's) owns the key too: said, by
    // approve and by every extract (which never opens it).
    if rustix::process::geteuid().as_raw() != 0 {
        assert!(
            signed
                .stderr
                .contains("can read the key and approve on its own"),
            "{signed}"
        );
        let extract = env.run(&["extract"]).ok();
        assert!(
            extract
                .stderr
                .contains("this account can read [safety].approval_key"),
            "{extract}"
        );
    }
    let text = fs_err::read_to_string(env.path("out/relay_recipients.approval")).unwrap();
    assert!(text.contains("-----BEGIN SSH SIGNATURE-----"), "{text}");
}

#[test]
fn approve_and_status_read_the_held_record_through_no_link_and_wait_on_no_fifo() {
    // The rcptsync account owns the directory: it could leave a link where the held record
    // was, to make root's approve sign (or status show) another file, or a FIFO to hang it.
    let env = installed();
    env.write("directory.ldif", &users(70));
    let id = held_id(&env.run(&["extract"]).code(3).stderr);
    let held = env.path("out/relay_recipients.held");
    let elsewhere = env.path("elsewhere.held");
    fs_err::rename(&held, &elsewhere).unwrap();
    fs_err::os::unix::fs::symlink(&elsewhere, &held).unwrap();
    let limit = std::time::Duration::from_secs(10);
    for round in ["a link", "a FIFO"] {
        let approve = env.run_within(&["approve", &id], limit);
        assert_ne!(approve.code, 0, "{round}: {approve}");
        assert!(
            approve.stderr.contains("relay_recipients.held"),
            "{round}: {approve}"
        );
        assert!(
            !env.path("out/relay_recipients.approval").exists(),
            "{round}"
        );
        let status = env.run_within(&["status"], limit);
        assert_eq!(status.code, 0, "{round}: {status}");
        assert!(!status.stdout.contains("held:"), "{round}: {status}");
        assert!(
            status.stderr.contains("relay_recipients.held"),
            "{round}: {status}"
        );
        fs_err::remove_file(&held).unwrap();
        crate::support::mkfifo(&held);
    }
}
