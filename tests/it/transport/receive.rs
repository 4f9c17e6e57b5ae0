//! receive on its own: whatever arrives on stdin, only a complete and correct map reaches the
//! spool.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `rcptsync receive --spool SPOOL ARGS` with `input` on stdin and `original` as
/// SSH_ORIGINAL_COMMAND; returns (exit code, stdout, stderr).
fn receive(
    spool: &std::path::Path,
    input: &[u8],
    original: Option<&str>,
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcptsync"));
    cmd.arg("receive").arg("--spool").arg(spool).args(args);
    match original {
        Some(value) => cmd.env("SSH_ORIGINAL_COMMAND", value),
        None => cmd.env_remove("SSH_ORIGINAL_COMMAND"),
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The files in the spool besides receive's lock: what a run left behind.
fn spool_files(spool: &std::path::Path) -> Vec<String> {
    fs_err::read_dir(spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect()
}

fn payload(body: &str) -> Vec<u8> {
    crate::library::payload(body.as_bytes())
}

#[test]
fn a_good_payload_lands_in_the_spool() {
    let spool = tempfile::tempdir().unwrap();
    let (code, stdout, _) = receive(
        spool.path(),
        &payload("a@example.com OK\n"),
        Some("receive"),
        &[],
    );
    assert_eq!(code, 0);
    assert!(stdout.starts_with("OK 1 "), "{stdout}");
    // The spool keeps the payload as it arrived: header and body, checked together.
    let spooled = fs_err::read(spool.path().join("relay_recipients")).unwrap();
    assert!(spooled.starts_with(b"rcptsync-map 1\ncount: 1\n"));
    assert_eq!(crate::library::body(&spooled), b"a@example.com OK\n");
}

#[test]
fn damaged_or_unexpected_input_never_replaces_the_spool_file() {
    let spool = tempfile::tempdir().unwrap();
    let live = spool.path().join("relay_recipients");
    fs_err::write(&live, "live@example.com OK\n").unwrap();
    let good = payload("a@example.com OK\nb@example.com OK\n");
    let text = String::from_utf8(good.clone()).unwrap();
    let wrong_digest = text.replace("b@example.com", "c@example.com");
    let big = payload(&"x@example.com OK\n".repeat(1000));
    /// One bad delivery: what it is, the bytes, SSH_ORIGINAL_COMMAND, extra arguments, and
    /// what the reply must say.
    struct Case<'a>(&'a str, Vec<u8>, Option<&'a str>, Vec<&'a str>, &'a str);
    let cases = [
        Case(
            "truncated",
            good[..good.len() - 5].to_vec(),
            None,
            vec![],
            "ERROR truncated",
        ),
        Case(
            "wrong digest",
            wrong_digest.into_bytes(),
            None,
            vec![],
            "ERROR digest mismatch",
        ),
        Case(
            "oversize",
            big,
            None,
            vec!["--max-bytes", "1000"],
            "more than the limit of 1000",
        ),
        Case(
            "garbage",
            b"\x00\x01garbage".to_vec(),
            None,
            vec![],
            "ERROR not an rcptsync map",
        ),
        Case("empty", Vec::new(), None, vec![], "ERROR bad header"),
        Case(
            "another command",
            good.clone(),
            Some("scp -t /etc"),
            vec![],
            "refusing the command \"scp -t /etc\"",
        ),
    ];
    for Case(what, input, original, args, message) in cases {
        let (code, stdout, stderr) = receive(spool.path(), &input, original, &args);
        assert_eq!(code, 1, "{what}: {stdout} {stderr}");
        assert!(stdout.contains(message), "{what}: {stdout}");
        assert!(
            stderr.contains("the spool is unchanged"),
            "{what}: {stderr}"
        );
        assert_eq!(
            fs_err::read_to_string(&live).unwrap(),
            "live@example.com OK\n",
            "{what}"
        );
        assert_eq!(
            spool_files(spool.path()),
            ["relay_recipients"],
            "{what}: leftovers"
        );
    }
}

#[test]
fn a_stalled_sender_is_cut_off_and_leaves_nothing_behind() {
    let spool = tempfile::tempdir().unwrap();
    let live = spool.path().join("relay_recipients");
    fs_err::write(&live, "live\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rcptsync"))
        .args(["receive", "--timeout", "1s", "--spool"])
        .arg(spool.path())
        .env_remove("SSH_ORIGINAL_COMMAND")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half a payload, then silence with the connection held open.
    let mut stdin = child.stdin.take().unwrap();
    let good = crate::library::payload(b"a@example.com OK\n");
    stdin.write_all(&good[..good.len() - 4]).unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "receive waits for ever"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.starts_with("ERROR read: no complete map within 1s (receive --timeout)"),
        "{stdout}"
    );
    assert_eq!(fs_err::read(&live).unwrap(), b"live\n");
    assert_eq!(spool_files(spool.path()), ["relay_recipients"], "leftovers");
}

#[test]
fn a_header_announcing_a_huge_body_costs_no_memory() {
    // 200 MiB announced, 100 bytes sent: with 64 MiB of address space receive must still
    // answer, because it never reserves what the header claims.
    let spool = tempfile::tempdir().unwrap();
    let header = format!(
        "rcptsync-map 1\ncount: 1\nlength: {}\nsha256: {}\nsource: x\ntime: 2026-01-01T00:00:00Z\n\n",
        200 << 20,
        "0".repeat(64)
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 65536; exec {} receive --spool {}",
            env!("CARGO_BIN_EXE_rcptsync"),
            spool.path().display()
        ))
        .env_remove("SSH_ORIGINAL_COMMAND")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(header.as_bytes()).unwrap();
    stdin.write_all(&[b'x'; 100]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("ERROR truncated: 100 of 209715200 bytes arrived"),
        "{stdout}"
    );
}

#[test]
fn a_sender_that_trickles_is_cut_off_at_the_deadline_for_the_whole_session() {
    // One byte every 200 ms never leaves receive idle for long, but the whole map does not
    // arrive within 1 s: an idle timeout would wait for ever, the session deadline does not.
    let spool = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rcptsync"))
        .args(["receive", "--timeout", "1s", "--spool"])
        .arg(spool.path())
        .env_remove("SSH_ORIGINAL_COMMAND")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let good = crate::library::payload(b"a@example.com OK\n");
    let started = std::time::Instant::now();
    let trickle = std::thread::spawn(move || {
        for byte in good {
            if stdin.write_all(&[byte]).is_err() || started.elapsed().as_secs() > 20 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "receive took {:?}",
        started.elapsed()
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no complete map within 1s"), "{stdout}");
    trickle.join().unwrap();
}

#[test]
fn a_confirmation_is_kept_beside_the_map_and_a_bad_one_is_not() {
    use rcptsync::map::confirm::Confirmation;
    let spool = tempfile::tempdir().unwrap();
    let sha256 = "ab".repeat(32);
    let confirmation = Confirmation::new(&sha256, std::time::SystemTime::now());
    let (code, stdout, _) = receive(
        spool.path(),
        confirmation.text.as_bytes(),
        Some("receive"),
        &[],
    );
    assert_eq!((code, stdout), (0, format!("OK CONFIRMED {sha256}\n")));
    let kept = spool.path().join("confirmed");
    assert_eq!(fs_err::read_to_string(&kept).unwrap(), confirmation.text);
    assert_eq!(spool_files(spool.path()), ["confirmed"]);
    // Padded, cut short, or a line without end: refused, the last one kept, nothing left.
    let padded = [confirmation.text.as_bytes(), &[b'x'; 100_000][..]].concat();
    let endless = [b"rcptsync-confirm 1\nsha256: ".as_slice(), &[b'a'; 100_000]].concat();
    for bad in [
        padded,
        confirmation.text.as_bytes()[..40].to_vec(),
        endless,
        b"rcptsync-confirm 1\nsha256: 00\ntime: now\n\n".to_vec(),
    ] {
        let (code, stdout, stderr) = receive(spool.path(), &bad, Some("receive"), &[]);
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(stdout.starts_with("ERROR "), "{stdout}");
        assert_eq!(fs_err::read_to_string(&kept).unwrap(), confirmation.text);
        assert_eq!(spool_files(spool.path()), ["confirmed"]);
    }
}

#[test]
fn check_connects_request_is_answered_and_nothing_is_kept() {
    let spool = tempfile::tempdir().unwrap();
    receive(
        spool.path(),
        &payload("a@example.com OK\n"),
        Some("receive"),
        &[],
    );
    let before = fs_err::read(spool.path().join("relay_recipients")).unwrap();
    let (code, stdout, _) = receive(spool.path(), b"rcptsync-check 1\n\n", Some("receive"), &[]);
    assert_eq!((code, stdout.trim()), (0, "OK CHECK"));
    assert_eq!(spool_files(spool.path()), ["relay_recipients"]);
    assert_eq!(
        fs_err::read(spool.path().join("relay_recipients")).unwrap(),
        before
    );
    // Only the exact line: anything after the label is a damaged payload, refused.
    let (code, stdout, _) = receive(
        spool.path(),
        b"rcptsync-check 1 extra\n",
        Some("receive"),
        &[],
    );
    assert_ne!(code, 0);
    assert!(stdout.starts_with("ERROR "), "{stdout}");
    // The forced command's rule holds for a check too.
    let (code, _, _) = receive(
        spool.path(),
        b"rcptsync-check 1\n",
        Some("cat /etc/passwd"),
        &[],
    );
    assert_ne!(code, 0);
}
