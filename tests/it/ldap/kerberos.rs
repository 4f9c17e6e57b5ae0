//! Kerberos binds from a keytab (issue 14) against the real Samba AD DC and its own KDC: a
//! keytab exported with `samba-tool domain exportkeytab` for a service user, sealed on plain
//! `ldap://` (Samba's default "ldap server require strong auth = yes" refuses anything less
//! there), with the tls-server-end-point channel binding over LDAPS, and each failure an admin
//! meets named with its fix. Only with the `kerberos` feature (scripts/test.sh builds it).

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::samba::{expected, map};
use crate::fixture::samba::{Options, Samba};
use crate::support::{Run, command};

const PRINCIPAL: &str = "svc-krb@EXAMPLE.TEST";

fn start() -> Samba {
    Samba::start_with(Options {
        kerberos: true,
        ..Options::default()
    })
}

/// The LDAPS servers of the DC (its certificate is for [`Samba::DC_NAME`] too).
fn ldaps(samba: &Samba) -> String {
    format!(
        "servers = [\"ldaps://{}\"]\nca_file = \"{}\"",
        Samba::DC_NAME,
        samba.ca_file().display()
    )
}

/// A config that binds with `keytab` as `principal`; `source` adds the servers. The accepted
/// domain is listed: a plain user may not read Exchange's configuration objects.
fn kerberos_config(samba: &Samba, keytab: &Path, principal: &str, source: &str) {
    fs_err::write(
        samba.dir().join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"samba\"\nkind = \"ldap\"\nbase_dn = \"{base}\"\n\
             keytab = \"{keytab}\"\nprincipal = \"{principal}\"\ntimeout = \"10s\"\n{source}\n\n\
             [recipients]\ndomains = [\"example.test\"]\nexclude_domains = ['legacy\\.example\\.test']\n\n\
             [output]\npath = \"out/relay_recipients\"\n",
            base = Samba::BASE_DN,
            keytab = keytab.display(),
        ),
    )
    .unwrap();
}

/// `rcptsync ARGS` with `krb5_conf` as KRB5_CONFIG, and no credential cache of the user's.
fn with_krb5(samba: &Samba, krb5_conf: &Path, args: &[&str]) -> Run {
    command()
        .args(args)
        .env("KRB5_CONFIG", krb5_conf)
        .env(
            "KRB5CCNAME",
            "FILE:/nonexistent/rcptsync-test-must-not-use-this",
        )
        .env_remove("KRB5_CLIENT_KTNAME")
        .current_dir(samba.dir())
        .output()
        .unwrap()
        .into()
}

/// A TCP proxy on a free loopback port to `target` that keeps what the server sends: what
/// anyone on the path would read.
fn recording_proxy(target: &'static str) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let server = TcpStream::connect(target).unwrap();
            let (mut up_from, mut up_to) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up_from, &mut up_to);
                let _ = up_to.shutdown(Shutdown::Write);
            });
            let kept = kept.clone();
            std::thread::spawn(move || {
                let (mut from, mut to) = (server, client);
                let mut buffer = [0u8; 65536];
                while let Ok(n @ 1..) = from.read(&mut buffer) {
                    kept.lock().unwrap().extend_from_slice(&buffer[..n]);
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(Shutdown::Write);
            });
        }
    });
    (port, seen)
}

#[test]
fn a_keytab_binds_sealed_on_ldap_and_with_channel_binding_on_ldaps() {
    let samba = start();
    let dir = samba.dir();
    let keytab = samba.service_keytab("svc-krb");
    let krb5 = samba.krb5_conf("krb5.conf", "");

    // Plain ldap://: Samba refuses binds without signing or sealing there, so only a sealed
    // session gets the recipients.
    let plain = format!("servers = [\"ldap://{}\"]", Samba::DC_NAME);
    kerberos_config(&samba, &keytab, PRINCIPAL, &plain);
    with_krb5(&samba, &krb5, &["extract", "-c", "rcptsync.toml", "-v"]).ok();
    assert_eq!(map(dir).unwrap(), expected());
    fs_err::remove_dir_all(dir.join("out")).unwrap();

    // Sealed means encrypted: through a proxy that records what the DC sends, every entry
    // passes and no address can be read. (The service principal is for the host name, so
    // the proxy's port does not matter to it.)
    let (port, seen) = recording_proxy("127.0.0.1:389");
    let proxied = format!("servers = [\"ldap://{}:{port}\"]", Samba::DC_NAME);
    kerberos_config(&samba, &keytab, PRINCIPAL, &proxied);
    with_krb5(&samba, &krb5, &["extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(map(dir).unwrap(), expected());
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() > 2048, "the proxy saw only {} bytes", seen.len());
    for address in ["alice@example.test", "bob@example.test", "proxyAddresses"] {
        assert!(
            !seen.windows(address.len()).any(|w| w == address.as_bytes()),
            "{address} crossed the wire in cleartext"
        );
    }
    fs_err::remove_dir_all(dir.join("out")).unwrap();

    // LDAPS under Samba's default: before 4.20 it refuses Kerberos under TLS both without a
    // security layer and with one; the error says what to do.
    kerberos_config(&samba, &keytab, PRINCIPAL, &ldaps(&samba));
    let r = with_krb5(&samba, &krb5, &["extract", "-c", "rcptsync.toml", "--full"]).code(1);
    assert!(
        r.stderr.contains("Sign or Seal are required"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("allow_sasl_over_tls"), "{}", r.stderr);
    assert_eq!(map(dir), None);
    drop(samba);

    // As AD does it (and Samba from 4.20): no security layer under TLS, the channel
    // binding sent; over LDAPS and over StartTLS.
    let samba = Samba::start_with(Options {
        kerberos: true,
        sasl_over_tls: true,
        ..Options::default()
    });
    let dir = samba.dir();
    let keytab = samba.service_keytab("svc-krb");
    let krb5 = samba.krb5_conf("krb5.conf", "");
    kerberos_config(&samba, &keytab, PRINCIPAL, &ldaps(&samba));
    with_krb5(&samba, &krb5, &["extract", "-c", "rcptsync.toml"]).ok();
    assert_eq!(map(dir).unwrap(), expected());
    let starttls = format!(
        "servers = [\"ldap://{}\"]\nstarttls = true\nca_file = \"{}\"",
        Samba::DC_NAME,
        samba.ca_file().display()
    );
    kerberos_config(&samba, &keytab, PRINCIPAL, &starttls);
    with_krb5(&samba, &krb5, &["extract", "-c", "rcptsync.toml", "--full"]).ok();
    assert_eq!(map(dir).unwrap(), expected());
}

#[test]
fn keytab_and_kerberos_failures_are_named_with_their_fix() {
    let samba = start();
    let dir = samba.dir();
    let keytab = samba.service_keytab("svc-krb");
    let other = samba.service_keytab("svc-other");
    let krb5 = samba.krb5_conf("krb5.conf", "");
    let plain = format!("servers = [\"ldap://{}\"]", Samba::DC_NAME);
    let extract = ["extract", "-c", "rcptsync.toml", "--full"];

    // Before anything connects (exit 2): a keytab for another principal...
    kerberos_config(&samba, &other, PRINCIPAL, &plain);
    let r = with_krb5(&samba, &krb5, &extract).code(2);
    assert!(
        r.stderr.contains(&format!(
            "has no key for {PRINCIPAL} (it has: svc-other@EXAMPLE.TEST); set principal to one of those"
        )),
        "{}",
        r.stderr
    );
    // ...a keytab others can read...
    fs_err::set_permissions(&keytab, std::fs::Permissions::from_mode(0o644)).unwrap();
    kerberos_config(&samba, &keytab, PRINCIPAL, &plain);
    let r = with_krb5(&samba, &krb5, &extract).code(2);
    assert!(r.stderr.contains("run `chmod 600"), "{}", r.stderr);
    fs_err::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
    // ...a file that is not a keytab.
    let not_keytab = dir.join("password.txt");
    fs_err::write(&not_keytab, "Svc-Kerb-Pa55!\n").unwrap();
    fs_err::set_permissions(&not_keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
    kerberos_config(&samba, &not_keytab, PRINCIPAL, &plain);
    let r = with_krb5(&samba, &krb5, &extract).code(2);
    assert!(r.stderr.contains("is not a keytab"), "{}", r.stderr);
    assert_eq!(map(dir), None);

    // At the bind (exit 1, nothing written): a host name with no service principal...
    kerberos_config(
        &samba,
        &keytab,
        PRINCIPAL,
        "servers = [\"ldap://localhost\"]",
    );
    let r = with_krb5(&samba, &krb5, &extract).code(1);
    assert!(
        r.stderr.contains(
            "the KDC knows no service principal ldap/localhost in the realm of svc-krb@EXAMPLE.TEST"
        ),
        "{}",
        r.stderr
    );
    // ...no KDC answering...
    let dead = dir.join("krb5-dead-kdc.conf");
    let text = fs_err::read_to_string(&krb5)
        .unwrap()
        .replace("127.0.0.1:88", "127.0.0.1:9");
    fs_err::write(&dead, text).unwrap();
    kerberos_config(&samba, &keytab, PRINCIPAL, &plain);
    let r = with_krb5(&samba, &dead, &extract).code(1);
    assert!(
        r.stderr
            .contains("no KDC of svc-krb@EXAMPLE.TEST's realm answered"),
        "{}",
        r.stderr
    );
    // ...a clock far from the KDC's (libfaketime moves rcptsync's clock by two hours): MIT
    // krb5 corrects for it from the KDC's answer (kdc_timesync, on by default), so only with
    // that off is it an error.
    let faketime = |krb5_conf: &Path| -> Run {
        std::process::Command::new(crate::fixture::require("faketime", "faketime"))
            .arg("-f")
            .arg("+2h")
            .arg(env!("CARGO_BIN_EXE_rcptsync"))
            .args(extract)
            .env("KRB5_CONFIG", krb5_conf)
            .env("KRB5CCNAME", "FILE:/nonexistent/rcptsync-test")
            .env_remove("KRB5_CLIENT_KTNAME")
            .env_remove("RCPTSYNC_BIND_PASSWORD")
            .current_dir(dir)
            .output()
            .unwrap()
            .into()
    };
    let strict = samba.krb5_conf("krb5-strict-time.conf", "\tkdc_timesync = 0");
    let r = faketime(&strict).code(1);
    assert!(
        r.stderr
            .contains("this machine's clock and the KDC's differ by more than Kerberos allows"),
        "{}",
        r.stderr
    );
    assert_eq!(map(dir), None);
    faketime(&krb5).ok();
    assert_eq!(map(dir).unwrap(), expected());
    // ...and a keytab left behind by a password change.
    samba.samba_tool(&[
        "user",
        "setpassword",
        "svc-krb",
        "--newpassword=Changed-Pa55-2!",
    ]);
    let r = with_krb5(&samba, &krb5, &extract).code(1);
    assert!(
        r.stderr
            .contains("changed since the keytab was exported; export a new keytab"),
        "{}",
        r.stderr
    );
    assert_eq!(map(dir).unwrap(), expected());
}

#[test]
fn discovered_domain_controllers_bind_with_kerberos_sealed_on_the_srv_port() {
    let samba = Samba::start_with(Options {
        kerberos: true,
        internal_dns: true,
        ..Options::default()
    });
    let dir = samba.dir();
    let keytab = samba.service_keytab("svc-krb");
    let krb5 = samba.krb5_conf("krb5.conf", "");
    // No ca_file needed: Kerberos authenticates the DC (mutual authentication), so a host
    // that DNS names falsely cannot pass for it.
    let source = "discover = \"example.test\"\ndns_server = \"127.0.0.1\"";
    kerberos_config(&samba, &keytab, PRINCIPAL, source);
    let r = with_krb5(&samba, &krb5, &["-v", "extract", "-c", "rcptsync.toml"]).ok();
    assert!(
        r.stderr
            .contains("connected to ldap://dc1.example.test:389"),
        "{}",
        r.stderr
    );
    assert_eq!(map(dir).unwrap(), expected());
}
