//! verify against a real Postfix: right answers, wrong answers, no server, and STARTTLS.

use std::process::Command;

use super::util::Gateway;
use crate::fixture::run;
use crate::fixture::tls::Certs;
use crate::support::{Run, rcptsync};

/// A running gateway with a map, and an rcptsync config naming its domain and a canary.
fn running() -> Gateway {
    let mut gw = Gateway::new("hash", "");
    gw.apply_keys(&["postmaster@example.com", "alice@example.com"]);
    let config = fs_err::read_to_string(gw.postfix.path("rcptsync.toml")).unwrap();
    fs_err::write(
        gw.postfix.path("rcptsync.toml"),
        format!(
            "{}\n[recipients]\ndomains = [\"example.com\"]\n",
            config.replace(
                "[safety]\n",
                "[safety]\ncanaries = [\"postmaster@example.com\"]\n"
            )
        ),
    )
    .unwrap();
    gw.postfix.start();
    gw
}

fn verify(gw: &Gateway, args: &[&str]) -> Run {
    let config = gw.postfix.path("rcptsync.toml");
    rcptsync(
        &gw.postfix.path(""),
        &[&["verify", "-c", config.to_str().unwrap()], args].concat(),
    )
}

fn postconf(gw: &Gateway, setting: &str) {
    run(Command::new("postconf")
        .arg("-c")
        .arg(gw.postfix.config_dir())
        .args(["-e", setting]));
    run(Command::new("postfix")
        .arg("-c")
        .arg(gw.postfix.config_dir())
        .arg("reload"));
    std::thread::sleep(std::time::Duration::from_millis(500));
}

#[test]
fn a_correct_gateway_passes() {
    let gw = running();
    // Silent when every answer is right, like doctor.
    let r = verify(&gw, &["--smtp", &format!("127.0.0.1:{}", gw.postfix.port)]).ok();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{r}");
    // -v lists every answer.
    let r = verify(
        &gw,
        &["-v", "--smtp", &format!("127.0.0.1:{}", gw.postfix.port)],
    )
    .ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(
        lines[0].starts_with("ok: rcptsync-verify-")
            && lines[0].contains("@example.com (must be refused): 550 5.1.1"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("ok: postmaster@example.com (must be accepted): 250 2.1.5"),
        "{}",
        lines[1]
    );
    // No message was ever submitted.
    assert!(
        !gw.postfix.maillog().contains("queued"),
        "{}",
        gw.postfix.maillog()
    );
}

#[test]
fn a_gateway_without_a_recipient_map_fails() {
    let gw = running();
    postconf(&gw, "relay_recipient_maps =");
    let r = verify(&gw, &["--smtp", &format!("127.0.0.1:{}", gw.postfix.port)]).code(4);
    assert!(
        r.stdout
            .contains("PROBLEM (an address that does not exist is accepted"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("verify: 1 of 2 answers were wrong\n"),
        "{}",
        r.stdout
    );
    // Only the wrong answer and the count (-v adds the right one).
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{r}");
    assert!(lines[0].starts_with("PROBLEM ("), "{r}");
    assert_eq!(lines[1], "verify: 1 of 2 answers were wrong");
    let r = verify(
        &gw,
        &["-v", "--smtp", &format!("127.0.0.1:{}", gw.postfix.port)],
    )
    .code(4);
    assert_eq!(r.stdout.lines().count(), 3, "{r}");
}

/// `--smtp HOST` probes port 25, as `telnet HOST smtp` would; the server here accepts every
/// recipient, so the probe's made-up address shows it was asked.
#[test]
fn a_host_without_a_port_is_probed_on_port_25() {
    use std::io::{BufRead as _, BufReader, Write as _};
    // A loopback address of its own: the tests' Postfix instances use other ports and
    // 127.0.0.1; port 25 needs root, as the suite has.
    let listener = std::net::TcpListener::bind("127.0.0.25:25")
        .expect("bind 127.0.0.25:25 (the tests run as root)");
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        stream.write_all(b"220 mx.test ESMTP\r\n").unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let quit = line.to_ascii_uppercase().starts_with("QUIT");
            let reply: &[u8] = if quit { b"221 bye\r\n" } else { b"250 ok\r\n" };
            if stream.write_all(reply).is_err() || quit {
                break;
            }
            line.clear();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("rcptsync.toml"),
        "[recipients]\ndomains = [\"example.com\"]\n",
    )
    .unwrap();
    let r = rcptsync(
        dir.path(),
        &["verify", "-c", "rcptsync.toml", "--smtp", "127.0.0.25"],
    )
    .code(4);
    assert!(
        r.stdout
            .contains("PROBLEM (an address that does not exist is accepted"),
        "{r}"
    );
}

#[test]
fn a_missing_canary_fails() {
    let gw = running();
    // apply's own canary guard would refuse this map; force it, as a broken setup might.
    gw.spool(&["alice@example.com"]);
    gw.apply(&["--force"]).ok();
    let r = verify(&gw, &["--smtp", &format!("127.0.0.1:{}", gw.postfix.port)]).code(4);
    assert!(
        r.stdout.contains(
            "PROBLEM (a canary is refused: the map is missing addresses): postmaster@example.com"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn an_unreachable_server_is_a_runtime_failure() {
    let gw = running();
    let port = crate::fixture::free_port();
    let r = verify(&gw, &["--smtp", &format!("127.0.0.1:{port}")]).code(1);
    assert!(
        r.stderr
            .contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{}",
        r.stderr
    );
}

#[test]
fn starttls_verifies_the_certificate() {
    let gw = running();
    let certs = Certs::new(&gw.postfix.path(""), "smtpd");
    // smtpd's TLS needs the tlsmgr service.
    let master = gw.postfix.config_dir().join("master.cf");
    let services = fs_err::read_to_string(&master).unwrap();
    fs_err::write(
        &master,
        format!("{services}tlsmgr unix - - n 1000? 1 tlsmgr\n"),
    )
    .unwrap();
    for setting in [
        format!("smtpd_tls_cert_file = {}", certs.cert.display()),
        format!("smtpd_tls_key_file = {}", certs.key.display()),
        "smtpd_tls_security_level = may".to_owned(),
    ] {
        postconf(&gw, &setting);
    }
    let smtp = format!("localhost:{}", gw.postfix.port);
    let ca = certs.ca.display().to_string();
    let r = verify(&gw, &["--smtp", &smtp, "--starttls", "--ca-file", &ca]);
    assert_eq!(r.code, 0, "{r}\n{}", gw.postfix.maillog());
    // postlogd writes the session's summary line a moment after the session ends.
    let logged = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        gw.postfix.maillog().contains(" starttls=1 ")
    });
    assert!(logged, "{}", gw.postfix.maillog());

    // A CA that did not sign the certificate: refused before any probe.
    let other = Certs::new(&gw.postfix.path(""), "other");
    let r = verify(
        &gw,
        &[
            "--smtp",
            &smtp,
            "--starttls",
            "--ca-file",
            &other.ca.display().to_string(),
        ],
    )
    .code(1);
    assert!(r.stderr.contains("STARTTLS with localhost"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
}

#[test]
fn an_endless_greeting_is_cut_off_in_bounded_time_and_memory() {
    // A peer that never finishes its multi-line greeting (it stops by itself after 20 s).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::Write as _;
        let (mut peer, _) = listener.accept().unwrap();
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(20) {
            if peer
                .write_all(&b"220-more and more\r\n".repeat(64))
                .is_err()
            {
                break;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("rcptsync.toml"),
        "[recipients]\ndomains = [\"example.com\"]\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 262144; exec {} verify -c rcptsync.toml --smtp 127.0.0.1:{port}",
            env!("CARGO_BIN_EXE_rcptsync")
        ))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let r = Run::from(out).code(1);
    assert!(r.stderr.contains("a reply has more than 100 lines"), "{r}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    server.join().unwrap();
}

#[test]
fn a_tagged_canary_is_probed_as_the_backend_takes_tags() {
    let gw = running();
    let smtp = format!("127.0.0.1:{}", gw.postfix.port);
    let config = fs_err::read_to_string(gw.postfix.path("rcptsync.toml")).unwrap();
    let backend = |plus: bool| {
        let with = config.replace(
            "[safety]\n",
            &format!("backend_plus_addressing = {plus}\n[safety]\n"),
        );
        fs_err::write(gw.postfix.path("rcptsync.toml"), with).unwrap();
    };
    // The delimiter is +: postmaster+tag@ is accepted.
    postconf(&gw, "recipient_delimiter = +");
    backend(true);
    let r = verify(&gw, &["-v", "--smtp", &smtp]).ok();
    assert!(
        r.stdout.contains("ok: postmaster+rcptsync-")
            && r.stdout
                .contains("(must be accepted: the backend takes +tags): 250"),
        "{r}"
    );
    // A backend without plus addressing would bounce it: backscatter.
    backend(false);
    let r = verify(&gw, &["--smtp", &smtp]).code(4);
    assert!(r.stdout.contains("backscatter"), "{r}");
    // Without the delimiter the gateway refuses it, as that backend needs...
    postconf(&gw, "recipient_delimiter =");
    verify(&gw, &["--smtp", &smtp]).ok();
    // ... and as one with plus addressing does not.
    backend(true);
    let r = verify(&gw, &["--smtp", &smtp]).code(4);
    assert!(r.stdout.contains("lacks +"), "{r}");
}
