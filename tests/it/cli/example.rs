//! The bundled example (README's first command) gives exactly the documented map.

use super::util::run;
use std::path::Path;

#[test]
fn example_directory_gives_the_documented_map() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in ["rcptsync.toml", "directory.ldif", "extra.txt"] {
        fs_err::copy(examples.join(name), dir.path().join(name)).unwrap();
    }
    let r = run(dir.path(), &["extract", "-c", "rcptsync.toml"]).ok();
    let map = fs_err::read_to_string(dir.path().join("out/relay_recipients")).unwrap();
    let expected = [
        "aarcher@example.com",          // Alice's alias, also on a disabled duplicate
        "abuse@example.com",            // extra in the config
        "alice.archer@example.com",     // primary SMTP, mixed case folded
        "alice@example.net",            // second accepted domain
        "bbaker@example.com",           // BBaker@Example.COM lower-cased
        "bob.baker@example.com",        // (bob@legacy.example.com excluded, X400/EUM skipped)
        "carol.consultant@example.com", // contact: only the accepted-domain address
        "dave@example.com",             // (the value with a space is rejected)
        "helpdesk@example.com",
        "invoices@example.com", // mail-enabled public folder
        "j.mueller.from.the.department.of.very.long.names@example.com", // folded line
        "jmueller@example.com", // duplicate JMueller merged
        "joerg.mueller@example.com", // base64 DN
        "managers@example.com", // dynamic distribution list
        "noreply-app@example.net", // from extra.txt
        "postmaster@example.com",
        "room101@example.com", // room: disabled account, still valid
        "sales@example.com",   // shared mailbox: disabled account, still valid
        "scanner@example.com",
        "support@example.com", // SUPPORT@ duplicate merged
        "vertrieb@example.com",
    ];
    let expected: String = expected.iter().map(|a| format!("{a} OK\n")).collect();
    assert_eq!(map, expected);
    // all-staff@ requires authenticated senders; the contact's external address is not ours.
    assert!(!map.contains("all-staff") && !map.contains("consulting.example.org"));
    assert!(r.stderr.contains(
        "CN=Dave Typo,OU=Staff,DC=example,DC=com: rejected proxyAddresses value \"smtp:dave typo@example.com\": contains whitespace"
    ));
    assert!(
        r.stdout
            .ends_with("out/relay_recipients: 21 recipients, 21 added, 0 removed\n"),
        "{}",
        r.stdout
    );
}

/// A rejected directory value is news once: the next full runs are silent about it (-v still
/// lists it), and its going is said once.
#[test]
fn a_rejected_value_is_reported_when_it_appears_and_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in ["rcptsync.toml", "directory.ldif", "extra.txt"] {
        fs_err::copy(examples.join(name), dir.path().join(name)).unwrap();
    }
    let first = run(dir.path(), &["extract", "-c", "rcptsync.toml"]).ok();
    assert!(first.stderr.contains("contains whitespace"), "{first}");
    let again = run(dir.path(), &["extract", "--full", "-c", "rcptsync.toml"]).ok();
    assert_eq!(
        (again.stdout.as_str(), again.stderr.as_str()),
        ("", ""),
        "{again}"
    );
    let verbose = run(
        dir.path(),
        &["-v", "extract", "--full", "-c", "rcptsync.toml"],
    )
    .ok();
    assert!(
        verbose
            .stderr
            .contains("contains whitespace (reported before)"),
        "{verbose}"
    );
    // The value is fixed in the directory.
    let ldif = fs_err::read_to_string(dir.path().join("directory.ldif")).unwrap();
    fs_err::write(
        dir.path().join("directory.ldif"),
        ldif.replace("smtp:dave typo@example.com", "smtp:davet@example.com"),
    )
    .unwrap();
    let fixed = run(dir.path(), &["extract", "-c", "rcptsync.toml"]).ok();
    assert!(
        fixed
            .stderr
            .contains("1 directory value(s) rejected before are no longer there"),
        "{fixed}"
    );
    assert!(fixed.stdout.contains("+davet@example.com"), "{fixed}");
    let quiet = run(dir.path(), &["extract", "--full", "-c", "rcptsync.toml"]).ok();
    assert_eq!(quiet.stderr, "", "{quiet}");
}

/// The config the Debian package installs as /etc/rcptsync/rcptsync.toml loads as it is and
/// fits the packaged layout: the map in the rcptsync account's state directory, the one
/// directory rcptsync-sync.service may write.
#[test]
fn packaged_config_loads_and_writes_into_the_state_directory() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/rcptsync.toml");
    let config = crate::library::Config::load(&path).unwrap();
    assert_eq!(
        config.output().unwrap().path,
        Path::new("/var/lib/rcptsync/relay_recipients")
    );
    let unit = fs_err::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/rcptsync-sync.service"),
    )
    .unwrap();
    assert!(
        unit.contains("\nReadWritePaths=/var/lib/rcptsync\n"),
        "{unit}"
    );
    assert!(unit.contains("\nStateDirectory=rcptsync\n"), "{unit}");
}
