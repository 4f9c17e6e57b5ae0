//! import-ini: the legacy relay_recipients.ini converted to TOML.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::library::{Config, DEFAULT_FILTER, SourceKind};
use crate::support::{Run, rcptsync};

const LEGACY: &str = include_str!("../../data/legacy-relay_recipients.ini");

/// A temp dir holding `relay_recipients.ini` with `text`.
fn dir_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("relay_recipients.ini"), text).unwrap();
    dir
}

fn import(dir: &Path, extra: &[&str]) -> Run {
    rcptsync(
        dir,
        &[&["import-ini", "relay_recipients.ini"], extra].concat(),
    )
}

#[test]
fn a_file_name_cannot_add_to_the_generated_config() {
    // The ini's name is copied into a comment: a newline in it must not end the comment.
    let dir = tempfile::tempdir().unwrap();
    let name = "relay\n[injected]\nkey = 1\n.ini";
    fs_err::write(dir.path().join(name), LEGACY).unwrap();
    let r = rcptsync(dir.path(), &["import-ini", name]).ok();
    assert!(!r.stdout.lines().any(|l| l == "[injected]"), "{}", r.stdout);
    assert!(
        r.stdout.starts_with(
            "# rcptsync configuration converted from \"relay\\n[injected]\\nkey = 1\\n.ini\" by"
        ),
        "{}",
        r.stdout
    );
    Config::parse(&r.stdout, &dir.path().join("rcptsync.toml")).unwrap();
}

#[test]
fn converts_the_legacy_example() {
    let dir = dir_with(LEGACY);
    let r = import(dir.path(), &[]).ok();
    // stderr says where the password went, and nothing else.
    assert_eq!(
        r.stderr,
        format!(
            "rcptsync: wrote the bind password to {0} (mode 0600; the TOML names it in \
             bind_password_file): make it owned by the account that runs rcptsync (chown rcptsync {0})\n",
            dir.path().join("bind.pw").display()
        )
    );
    assert!(!r.stdout.contains("secretpassword"));
    assert!(
        r.stdout
            .starts_with("# rcptsync configuration converted from \"relay_recipients.ini\""),
        "{}",
        r.stdout
    );

    let path = dir.path().join("rcptsync.toml");
    let config = Config::parse(&r.stdout, &path).unwrap();
    let SourceKind::Ldap(ldap) = &config.sources[0].kind else {
        panic!("{:?}", config.sources[0].kind);
    };
    assert_eq!(config.sources[0].name, "ad");
    assert_eq!(
        ldap.servers,
        ["ldap://dc1.example.com", "ldap://dc2.example.com:3268"]
    );
    assert!(ldap.starttls);
    assert_eq!(ldap.timeout, std::time::Duration::from_secs(5));
    assert_eq!(ldap.base_dn, "dc=example,dc=com");
    assert_eq!(ldap.filter, DEFAULT_FILTER);
    let bind = ldap.bind.as_ref().unwrap();
    assert_eq!(bind.dn, "cn=user,ou=Users,dc=example,dc=com");
    let password_file = dir.path().join("bind.pw");
    assert!(
        r.stdout.contains(&format!(
            "bind_password_file = \"{}\"",
            password_file.display()
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("exclude_domains = ['legacy\\.example\\.com', 'old\\.example\\.net']"),
        "{}",
        r.stdout
    );
    let recipients = config.recipients.as_ref().unwrap();
    assert!(recipients.excluded.matches("legacy.example.com"));
    assert!(recipients.excluded.matches("old.example.net"));
    assert!(!recipients.excluded.matches("example.com"));
    assert!(recipients.skip_auth_required);
    assert_eq!(
        config.output.as_ref().unwrap().path,
        Path::new("/etc/postfix/relay_recipients")
    );
    let gateway = &config.gateways[0];
    assert_eq!(gateway.name, "mx1");
    assert_eq!(gateway.host, "mx1.example.com");
    assert_eq!(gateway.user, "postrelay");
    assert_eq!(
        gateway.identity_file.as_deref(),
        Some(Path::new("/home/postrelay/.ssh/id_rsa"))
    );

    // The password is in its own file, private from the start.
    let meta = fs_err::metadata(&password_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        fs_err::read_to_string(&password_file).unwrap(),
        "secretpassword\n"
    );

    // A second run does not overwrite it, and prints nothing.
    let again = import(dir.path(), &[]).code(1);
    assert_eq!(again.stdout, "");
    assert!(again.stderr.contains("--password-file"), "{}", again.stderr);
    assert!(!again.stderr.contains("secretpassword"));
    assert_eq!(
        fs_err::read_to_string(&password_file).unwrap(),
        "secretpassword\n"
    );

    // Another --password-file works.
    let other = import(dir.path(), &["--password-file", "other.pw"]).ok();
    assert!(other.stdout.contains(&format!(
        "bind_password_file = \"{}\"",
        dir.path().join("other.pw").display()
    )));
}

#[test]
fn unknown_keys_are_reported_and_kept_as_comments() {
    let text = LEGACY.replace(
        "    defPort\t\t= 389\n",
        "    defPort\t\t= 389\n    mailFrom = root@example.com\n    adminPass = topsecret\n",
    );
    assert_ne!(text, LEGACY);
    let line = text.lines().position(|l| l.contains("mailFrom")).unwrap() + 1;
    let dir = dir_with(&text);
    let r = import(dir.path(), &[]).ok();
    assert!(
        r.stderr.contains(&format!(
            "rcptsync: warning: relay_recipients.ini:{line}: unknown key mailFrom in [ AD ]: not converted"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("unknown key adminPass"), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("\n# not converted: mailFrom = root@example.com\n")
    );
    assert!(
        r.stdout
            .contains("\n# not converted: adminPass = (not shown)\n")
    );
    for secret in ["topsecret", "secretpassword"] {
        assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
    }
    Config::parse(&r.stdout, &dir.path().join("rcptsync.toml")).unwrap();
}

#[test]
fn malformed_line_fails_naming_file_and_line() {
    let dir = dir_with("[ AD ]\nDCs = dc1.example.com\nthis is not an assignment\n");
    let r = import(dir.path(), &[]).code(1);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .contains("rcptsync: error: relay_recipients.ini:3: expected `key = value`"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("bind.pw").exists());
}

#[test]
fn missing_file_is_a_runtime_failure() {
    let dir = tempfile::tempdir().unwrap();
    let r = import(dir.path(), &[]).code(1);
    assert!(r.stderr.contains("relay_recipients.ini"), "{}", r.stderr);
}

#[test]
fn mixed_ldaps_and_plain_dcs_with_a_bind_never_bind_in_cleartext() {
    let text = LEGACY.replace(
        "dc1.example.com \\\ndc2.example.com:3268",
        "dc1.example.com:636 \\\ndc2.example.com dc3.example.com:389",
    );
    assert_ne!(text, LEGACY);
    let dir = dir_with(&text);
    let r = import(dir.path(), &[]).ok();
    let config = Config::parse(&r.stdout, &dir.path().join("rcptsync.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{}", r.stdout));
    let SourceKind::Ldap(ldap) = &config.sources[0].kind else {
        panic!("{:?}", config.sources[0].kind);
    };
    assert!(ldap.bind.is_some());
    assert_eq!(
        ldap.servers,
        [
            "ldaps://dc1.example.com",
            "ldap://dc2.example.com",
            "ldap://dc3.example.com"
        ]
    );
    // Every server gets TLS: LDAPS directly, or StartTLS on the plain port.
    for url in &ldap.servers {
        assert!(
            url.starts_with("ldaps://") || ldap.starttls,
            "{url} would bind in cleartext:\n{}",
            r.stdout
        );
    }
    assert!(!ldap.insecure_cleartext_bind);
    assert!(!r.stdout.contains("insecure_cleartext_bind"));
}

#[test]
fn output_file_is_written_once_and_replaced_only_with_force() {
    let dir = dir_with(LEGACY);
    let r = import(dir.path(), &["-o", "rcptsync.toml"]).ok();
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("wrote the bind password to "), "{r}");
    assert!(
        r.stderr
            .contains("wrote the configuration to rcptsync.toml; review it"),
        "{r}"
    );
    let toml = dir.path().join("rcptsync.toml");
    let written = fs_err::read_to_string(&toml).unwrap();
    Config::parse(&written, &toml).unwrap();
    assert!(!written.contains("secretpassword"));

    // It exists: refused (a config error) before anything is written.
    fs_err::remove_file(dir.path().join("bind.pw")).unwrap();
    let r = import(dir.path(), &["-o", "rcptsync.toml"]).code(2);
    assert!(
        r.stderr.contains(
            "rcptsync.toml exists: refusing to overwrite it; choose another -o FILE or add --overwrite"
        ),
        "{r}"
    );
    assert!(!dir.path().join("bind.pw").exists(), "{r}");
    fs_err::write(&toml, "# mine\n").unwrap();
    let r = import(dir.path(), &["-o", "rcptsync.toml", "--overwrite"]).ok();
    assert!(!r.stderr.contains("warning"), "{r}");
    assert_eq!(fs_err::read_to_string(&toml).unwrap(), written);
    // The old spelling, for one release, with a warning.
    fs_err::remove_file(dir.path().join("bind.pw")).unwrap();
    fs_err::write(&toml, "# mine\n").unwrap();
    let r = import(dir.path(), &["-o", "rcptsync.toml", "--force"]).ok();
    assert!(
        r.stderr
            .contains("warning: import-ini --force is now --overwrite"),
        "{r}"
    );
    assert_eq!(fs_err::read_to_string(&toml).unwrap(), written);
}

/// A TOML that cannot be delivered is a failure, never exit 0 with nothing written; the
/// password file made for it is removed again, so that the next run works.
#[test]
fn undeliverable_output_fails_and_removes_the_password_file() {
    let dir = dir_with(LEGACY);
    // stdout closed before anything is read.
    let mut child = crate::support::command()
        .args(["import-ini", "relay_recipients.ini"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("write the TOML to stdout: ") && stderr.contains("was removed again"),
        "{stderr}"
    );
    assert!(!dir.path().join("bind.pw").exists());
    // An -o FILE in a directory that does not exist.
    let r = import(dir.path(), &["-o", "missing/rcptsync.toml"]).code(1);
    assert!(r.stderr.contains("write missing/rcptsync.toml: "), "{r}");
    assert!(!dir.path().join("bind.pw").exists(), "{r}");
    // Then it works.
    import(dir.path(), &[]).ok();
}
