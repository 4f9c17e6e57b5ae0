//! Snapshots of what users read: `--help` of the binary and of every subcommand, and the main
//! error messages with their exit codes. Each case is compared exactly with
//! `tests/it/snapshots/NAME.txt`; `RCPTSYNC_UPDATE_SNAPSHOTS=1 cargo test --test it help::`
//! rewrites the files instead (review the diff before committing it).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::support::{self, Run};

/// Runs rcptsync with `args` in `dir`, with a fixed help width and no colours, and renders
/// the run with `dir` written as `[DIR]`.
fn render(dir: &Path, args: &[&str]) -> String {
    let run = Run::from(
        support::command()
            .args(args)
            .current_dir(dir)
            .env("COLUMNS", "100")
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .output()
            .unwrap(),
    );
    let text = format!(
        "$ rcptsync {}\nexit code: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        run.code,
        run.stdout,
        run.stderr
    );
    text.replace(&dir.display().to_string(), "[DIR]")
}

/// Compares `actual` with the snapshot `name`, or rewrites it under RCPTSYNC_UPDATE_SNAPSHOTS.
#[track_caller]
fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("RCPTSYNC_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        fs_err::write(&path, actual).unwrap();
        return;
    }
    let expected = fs_err::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{e}; run with RCPTSYNC_UPDATE_SNAPSHOTS=1 to create it:\n{actual}")
    });
    assert!(
        actual == expected,
        "{name} differs from {} (RCPTSYNC_UPDATE_SNAPSHOTS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// A directory with an LDIF export of two users, a config reading it with `safety`, and a
/// map of those two users already extracted.
fn extracted(safety: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("directory.ldif"),
        "dn: CN=A,DC=example,DC=com\nproxyAddresses: SMTP:a@example.com\n\n\
         dn: CN=B,DC=example,DC=com\nproxyAddresses: SMTP:b@example.com\n\n",
    )
    .unwrap();
    config(dir.path(), "");
    Run::from(
        support::command()
            .args(["extract", "-c", "rcptsync.toml"])
            .current_dir(dir.path())
            .output()
            .unwrap(),
    )
    .ok();
    config(dir.path(), safety);
    dir
}

fn config(dir: &Path, extra: &str) {
    fs_err::write(
        dir.join("rcptsync.toml"),
        format!(
            "[[source]]\nname = \"ad\"\nkind = \"ldif\"\npath = \"directory.ldif\"\n\n\
             [recipients]\ndomains = [\"example.com\"]\n\n\
             [output]\npath = \"out/relay_recipients\"\n{extra}"
        ),
    )
    .unwrap();
}

#[test]
fn help() {
    let dir = tempfile::tempdir().unwrap();
    snapshot("help", &render(dir.path(), &["--help"]));
    for command in [
        "extract",
        "push",
        "sync",
        "receive",
        "apply",
        "verify",
        "doctor",
        "prune",
        "status",
        "import-ini",
    ] {
        snapshot(
            &format!("help-{command}"),
            &render(dir.path(), &[command, "--help"]),
        );
    }
}

#[test]
fn unknown_subcommand_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    snapshot(
        "error-unknown-subcommand",
        &render(dir.path(), &["frobnicate"]),
    );
}

#[test]
fn missing_config_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    snapshot(
        "error-missing-config",
        &render(dir.path(), &["extract", "-c", "missing.toml"]),
    );
}

#[test]
fn unknown_config_key_exits_2_naming_the_line() {
    let dir = extracted("[safety]\nmax_removd = 5\n");
    snapshot(
        "error-unknown-config-key",
        &render(dir.path(), &["extract", "-c", "rcptsync.toml"]),
    );
}

#[test]
fn unreadable_source_exits_1() {
    let dir = extracted("");
    fs_err::remove_file(dir.path().join("directory.ldif")).unwrap();
    snapshot(
        "error-unreadable-source",
        &render(dir.path(), &["extract", "-c", "rcptsync.toml"]),
    );
}

#[test]
fn guard_refusal_exits_3() {
    let dir = extracted("[safety]\nmax_removed_percent = 100\ncanaries = [\"b@example.com\"]\n");
    fs_err::write(
        dir.path().join("directory.ldif"),
        "dn: CN=A,DC=example,DC=com\nproxyAddresses: SMTP:a@example.com\n\n",
    )
    .unwrap();
    snapshot(
        "error-guard-refusal",
        &render(dir.path(), &["extract", "-c", "rcptsync.toml"]),
    );
}

/// An SMTP server that accepts every recipient: what a gateway without a recipient map does.
fn accept_everything() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let _ = stream.write_all(b"220 mx.test ESMTP\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let quit = line.to_ascii_uppercase().starts_with("QUIT");
                let reply: &[u8] = if quit { b"221 bye\r\n" } else { b"250 ok\r\n" };
                if stream.write_all(reply).is_err() || quit {
                    break;
                }
                line.clear();
            }
        }
    });
    port
}

#[test]
fn verify_problems_exit_4() {
    let dir = extracted("[safety]\ncanaries = [\"a@example.com\"]\n");
    let smtp = format!("127.0.0.1:{}", accept_everything());
    let rendered = render(
        dir.path(),
        &["verify", "-c", "rcptsync.toml", "--smtp", &smtp],
    );
    // The address that must be refused is new on every run.
    let random = regex::Regex::new("rcptsync-verify-[0-9a-z]+@").unwrap();
    let rendered = random.replace_all(&rendered, "rcptsync-verify-[RANDOM]@");
    snapshot(
        "error-verify-problems",
        &rendered.replace(&smtp, "127.0.0.1:[PORT]"),
    );
}
