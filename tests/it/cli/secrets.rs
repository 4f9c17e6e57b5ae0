//! The bind password's trust boundaries through the binary: never sent in cleartext unless a
//! lab opts out (and then warned about), and a password file that is not private, not the
//! user's or not a regular file refused before anything connects, once, with exit 2.

use std::io::{ErrorKind, Read as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use super::util::Run;
use crate::support;

const PASSWORD: &str = "s3cret-on-the-wire";

/// A listener on a free loopback port standing in for a directory server: it never answers,
/// it only shows whether anything connected and what was sent.
fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    (listener, port)
}

/// What the first client to connect to `listener` sent, or None if nobody connected. The
/// run is over by then: a connection it made waits in the backlog with its bytes.
fn received(listener: &TcpListener) -> Option<Vec<u8>> {
    match listener.accept() {
        Ok((mut stream, _)) => {
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut bytes = Vec::new();
            let _ = stream.read_to_end(&mut bytes);
            Some(bytes)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) => panic!("accept: {e}"),
    }
}

/// Writes `rcptsync.toml` with one LDAP source of `keys`, binding with `bind.pw`.
fn config(dir: &Path, keys: &str) {
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nbase_dn = \"DC=example,DC=com\"\n\
             timeout = \"1s\"\nbind_dn = \"svc@example.com\"\nbind_password_file = \"bind.pw\"\n{keys}\n\n\
             [recipients]\ndomains = [\"example.com\"]\n\n[output]\npath = \"out/relay_recipients\"\n"
        ),
    )
    .unwrap();
}

fn private_password(dir: &Path) {
    let path = dir.join("bind.pw");
    fs_err::write(&path, format!("{PASSWORD}\n")).unwrap();
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `rcptsync extract` in `dir`, killed (and the test failed) if it takes more than `limit`.
fn extract_within(dir: &Path, limit: Duration) -> Run {
    support::rcptsync_within(dir, &["extract", "-c", "rcptsync.toml"], limit)
}

#[test]
fn a_bind_on_plain_ldap_is_a_config_error_and_nothing_connects() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, port) = listener();
    private_password(dir.path());
    config(
        dir.path(),
        &format!("servers = [\"ldap://127.0.0.1:{port}\"]"),
    );
    let r = extract_within(dir.path(), Duration::from_secs(20)).code(2);
    assert!(
        r.stderr.contains(&format!(
            "rcptsync.toml: source.servers: ldap://127.0.0.1:{port} (source \"ad\") would receive the bind password of bind_dn in cleartext; use an ldaps:// URL (LDAPS, port 636) or set starttls = true"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    assert!(
        received(&listener).is_none(),
        "extract connected to the server"
    );
}

#[test]
fn insecure_cleartext_bind_is_allowed_and_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, port) = listener();
    private_password(dir.path());
    config(
        dir.path(),
        &format!("servers = [\"ldap://127.0.0.1:{port}\"]\ninsecure_cleartext_bind = true"),
    );
    // The listener never answers the bind: the run fails after the timeout, having warned.
    let r = extract_within(dir.path(), Duration::from_secs(20)).code(1);
    let warning = format!(
        "source ad: insecure_cleartext_bind = true: sending the bind password to ldap://127.0.0.1:{port} in cleartext"
    );
    assert_eq!(r.stderr.matches(&warning).count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert!(!r.stderr.contains(PASSWORD));
    // What the warning says is what happened: the password crossed as it is.
    let sent = received(&listener).expect("extract did not connect");
    assert!(
        sent.windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "the bind request did not carry the password in cleartext"
    );
}

#[test]
fn a_fifo_as_password_file_is_refused_quickly_once_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, port) = listener();
    let fifo = dir.path().join("bind.pw");
    let made = std::process::Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    config(
        dir.path(),
        &format!("servers = [\"ldap://127.0.0.1:{port}\"]\nstarttls = true"),
    );
    let r = extract_within(dir.path(), Duration::from_secs(5)).code(2);
    // Named as in the config, relative to it.
    let message = "source ad: bind.pw is a FIFO, not a regular file";
    assert_eq!(r.stderr.matches(message).count(), 1, "{}", r.stderr);
    assert_eq!(r.stderr.matches("FIFO").count(), 1, "{}", r.stderr);
    assert!(received(&listener).is_none(), "extract connected");
}

#[test]
fn a_password_file_group_can_read_is_refused_once_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, port) = listener();
    private_password(dir.path());
    let path = dir.path().join("bind.pw");
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    config(
        dir.path(),
        &format!("servers = [\"ldap://127.0.0.1:{port}\"]\nstarttls = true"),
    );
    let r = extract_within(dir.path(), Duration::from_secs(20)).code(2);
    let message =
        "source ad: bind.pw is accessible by group or others (mode 0640); run `chmod 600 bind.pw`";
    assert_eq!(r.stderr.matches(message).count(), 1, "{}", r.stderr);
    assert_eq!(r.stderr.matches("mode 0640").count(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains(PASSWORD));
    assert!(received(&listener).is_none(), "extract connected");
}
