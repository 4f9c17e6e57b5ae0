//! push against real sshd servers.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::fixture::require;
use crate::fixture::sshd::Sshd;
use crate::support::{Run, rcptsync};

/// A working directory with a map already extracted from a list, and a config that pushes
/// it to `gateways` (TOML).
struct Sender {
    dir: tempfile::TempDir,
}

impl Sender {
    fn new(gateways: &str) -> Self {
        let sender = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        sender.write("list.txt", "alice@example.com\nbob@example.com\n");
        sender.config(gateways);
        sender.run(&["extract"]).ok();
        sender
    }

    fn write(&self, name: &str, text: &str) {
        fs_err::write(self.dir.path().join(name), text).unwrap();
    }

    fn config(&self, gateways: &str) {
        self.write(
            "rcptsync.toml",
            &format!(
                "[[source]]\nname = \"list\"\nkind = \"list\"\npath = \"list.txt\"\n\
                 [recipients]\ndomains = [\"example.com\"]\n[output]\npath = \"out/relay_recipients\"\n\
                 [safety]\nmax_removed_percent = 100\n{gateways}"
            ),
        );
    }

    fn run(&self, args: &[&str]) -> Run {
        rcptsync(self.dir.path(), &[&["-c", "rcptsync.toml"], args].concat())
    }

    fn map(&self) -> Vec<u8> {
        fs_err::read(self.dir.path().join("out/relay_recipients")).unwrap()
    }
}

/// The map text in the spool (the payload's body).
fn spooled(spool: &Path) -> Option<Vec<u8>> {
    let bytes = fs_err::read(spool.join("relay_recipients")).ok()?;
    Some(crate::library::body(&bytes).to_vec())
}

#[test]
fn push_delivers_the_exact_map_once() {
    let sshd = Sshd::start(None);
    let sender = Sender::new(&sshd.gateway_toml("mx1"));
    let r = sender.run(&["push"]);
    assert_eq!(r.code, 0, "{r}\n{}", sshd.log());
    assert!(
        r.stdout
            .starts_with("mx1: pushed 2 recipients to 127.0.0.1 (OK 2 "),
        "{}",
        r.stdout
    );
    assert_eq!(spooled(&sshd.spool).unwrap(), sender.map());
    let header = fs_err::read_to_string(sshd.spool.join("relay_recipients")).unwrap();
    // Version 3: the relay domains extract wrote beside the map follow it.
    assert!(header.starts_with("rcptsync-map 3\ncount: 2\n"), "{header}");
    assert!(
        header.contains("\ndomains: 12\n") && header.ends_with(" OK\nexample.com\n"),
        "{header}"
    );

    // status: the map, and what the gateway acknowledged (the current map), when.
    let status = sender.run(&["status", "--json"]).ok();
    let s: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let sha256 = rcptsync::map::digest::sha256_hex(&sender.map());
    assert_eq!(s["map"]["recipients"], 2, "{s}");
    assert_eq!(s["map"]["sha256"], sha256.as_str(), "{s}");
    assert!(s["map"]["updated"].is_string(), "{s}");
    assert_eq!(s["sources"][0]["name"], "list", "{s}");
    assert!(s["sources"][0]["last_full_run"].is_string(), "{s}");
    let gateway = &s["gateways"][0];
    assert_eq!(gateway["name"], "mx1", "{s}");
    assert_eq!(gateway["acknowledged_sha256"], sha256.as_str(), "{s}");
    assert!(gateway["pushed_at"].as_str().unwrap().ends_with('Z'), "{s}");
    assert_eq!(
        (&gateway["current"], &gateway["last_result"]),
        (&serde_json::json!(true), &serde_json::json!("ok")),
        "{s}"
    );
    let text = sender.run(&["status"]).ok();
    assert!(
        text.stdout.contains(
            &format!(
                "gateway mx1 (postrelay@127.0.0.1:{}): acknowledged sha256 {sha256} ",
                sshd.port
            )
            .replace("postrelay@", "root@")
        ),
        "{text}"
    );
    assert!(
        text.stdout.contains(" (the current map); last push "),
        "{text}"
    );

    // Unchanged: nothing is sent (the spool file is not even rewritten).
    let mtime = fs_err::metadata(sshd.spool.join("relay_recipients"))
        .unwrap()
        .modified()
        .unwrap();
    let again = sender.run(&["push"]);
    assert_eq!(
        (again.code, again.stdout.as_str(), again.stderr.as_str()),
        (0, "", "")
    );
    let verbose = sender.run(&["-v", "push"]);
    assert_eq!(verbose.stdout, "mx1: unchanged, not pushed\n");
    assert_eq!(
        fs_err::metadata(sshd.spool.join("relay_recipients"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );

    // A changed map goes out; --resend sends an unchanged one.
    sender.write("list.txt", "alice@example.com\ncarol@example.com\n");
    sender.run(&["extract"]).ok();
    sender.run(&["push"]).ok();
    assert_eq!(spooled(&sshd.spool).unwrap(), sender.map());
    let resent = sender.run(&["push", "--resend"]).ok();
    assert!(
        resent.stdout.starts_with("mx1: pushed 2 recipients"),
        "{resent}"
    );
    assert_eq!(resent.stderr, "", "{resent}");
    // --dry-run --resend says it would push, and pushes nothing: the spooled file and the
    // push record are as they were.
    let spool_file = sshd.spool.join("relay_recipients");
    let stamp = |path: &Path| fs_err::metadata(path).unwrap().modified().unwrap();
    let record = sender.dir.path().join("out/relay_recipients.pushed");
    let (spooled_at, record_text) = (stamp(&spool_file), fs_err::read(&record).unwrap());
    let dry = sender.run(&["push", "--dry-run", "--resend"]).ok();
    assert!(
        dry.stdout.starts_with("mx1: would push 2 recipients"),
        "{dry}"
    );
    assert_eq!(stamp(&spool_file), spooled_at, "{dry}");
    assert_eq!(fs_err::read(&record).unwrap(), record_text, "{dry}");
    // The old spelling still works for one release, with a warning.
    let forced = sender.run(&["push", "--force"]).ok();
    assert!(
        forced.stdout.starts_with("mx1: pushed 2 recipients"),
        "{forced}"
    );
    assert!(
        forced
            .stderr
            .contains("warning: push --force is now push --resend"),
        "{forced}"
    );
    // sync: --force overrides the guards and, for this release, still resends (said, naming
    // both flags); --force --resend says nothing; --resend alone resends.
    let sync = sender.run(&["sync", "--force"]).ok();
    assert!(sync.stdout.contains("mx1: pushed 2 recipients"), "{sync}");
    assert!(
        sync.stderr
            .contains("sync --force overrides the safety guards")
            && sync.stderr.contains("add --resend"),
        "{sync}"
    );
    let sync = sender.run(&["sync", "--force", "--resend"]).ok();
    assert!(sync.stdout.contains("mx1: pushed 2 recipients"), "{sync}");
    assert_eq!(sync.stderr, "", "{sync}");
    let sync = sender.run(&["sync", "--resend"]).ok();
    assert!(sync.stdout.contains("mx1: pushed 2 recipients"), "{sync}");
    let sync = sender.run(&["sync"]).ok();
    assert_eq!(sync.stdout, "", "{sync}");
}

#[test]
fn an_unknown_or_changed_host_key_is_refused() {
    let sshd = Sshd::start(None);
    let sender = Sender::new(&sshd.gateway_toml("mx1"));
    fs_err::write(sshd.path("known_hosts"), "").unwrap();
    let r = sender.run(&["push"]).code(1);
    // Off port 22, known_hosts names the host [host]:port, and so does the advice.
    assert!(
        r.stderr.contains(&format!(
            "the host key of [127.0.0.1]:{} is not known",
            sshd.port
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("ssh-keyscan -p {} 127.0.0.1 >> ", sshd.port)),
        "{}",
        r.stderr
    );
    assert!(spooled(&sshd.spool).is_none());

    // Another key recorded for the same host: a changed key, called out as such.
    crate::fixture::sshd::keygen(&sshd.path("impostor"));
    let impostor = fs_err::read_to_string(sshd.path("impostor.pub")).unwrap();
    fs_err::write(
        sshd.path("known_hosts"),
        format!("[127.0.0.1]:{} {impostor}", sshd.port),
    )
    .unwrap();
    let r = sender.run(&["push"]).code(1);
    assert!(r.stderr.contains("has CHANGED"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "(ssh-keygen -R '[127.0.0.1]:{}' -f {})",
            sshd.port,
            sshd.path("known_hosts").display()
        )),
        "{}",
        r.stderr
    );
    assert!(spooled(&sshd.spool).is_none());
}

#[test]
fn a_key_the_gateway_does_not_know_is_refused() {
    let sshd = Sshd::start(None);
    crate::fixture::sshd::keygen(&sshd.path("stranger"));
    let gateway = sshd.gateway_toml("mx1").replace("client_key", "stranger");
    let sender = Sender::new(&gateway);
    let r = sender.run(&["push"]).code(1);
    assert!(
        r.stderr.contains("root@127.0.0.1 refused the key"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("authorized_keys"), "{}", r.stderr);
    assert!(spooled(&sshd.spool).is_none());
}

#[test]
fn one_gateway_down_does_not_keep_the_map_from_the_other() {
    let up = Sshd::start(None);
    let mut down = Sshd::start(None);
    down.stop();
    let sender = Sender::new(&format!(
        "{}{}",
        up.gateway_toml("mx1"),
        down.gateway_toml("mx2")
    ));
    let r = sender.run(&["push"]).code(1);
    assert!(
        r.stdout.contains("mx1: pushed 2 recipients"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("gateway mx2 (127.0.0.1): push failed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("1 of 2 gateway(s) did not get the map"),
        "{}",
        r.stderr
    );
    assert_eq!(spooled(&up.spool).unwrap(), sender.map());

    // The next run retries only the gateway that missed it.
    let r = sender.run(&["push"]).code(1);
    assert!(!r.stdout.contains("mx1"), "{}", r.stdout);
    assert!(r.stderr.contains("1 of 1 gateway(s)"), "{}", r.stderr);
}

#[test]
fn a_gateway_moved_to_another_server_gets_the_map_again() {
    let old = Sshd::start(None);
    let sender = Sender::new(&old.gateway_toml("mx1"));
    sender.run(&["push"]).ok();
    // Same name, another server: the record is per destination, so it is pushed again.
    let new = Sshd::start(None);
    sender.config(&new.gateway_toml("mx1"));
    let r = sender.run(&["push"]).ok();
    assert!(
        r.stdout.starts_with("mx1: pushed 2 recipients"),
        "{}",
        r.stdout
    );
    assert_eq!(spooled(&new.spool).unwrap(), sender.map());
}

#[test]
fn a_receiver_that_cannot_store_the_map_is_reported_as_such() {
    let sshd = Sshd::start(None);
    let sender = Sender::new(&sshd.gateway_toml("mx1"));
    fs_err::remove_dir_all(&sshd.spool).unwrap();
    let r = sender.run(&["push"]).code(1);
    assert!(
        r.stderr
            .contains("the gateway's rcptsync receive refused the map: spool directory"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("refused the key"), "{}", r.stderr);
    // Not recorded as delivered: once the spool is back, the next push sends it.
    fs_err::create_dir_all(&sshd.spool).unwrap();
    sender.run(&["push"]).ok();
    assert_eq!(spooled(&sshd.spool).unwrap(), sender.map());
}

/// Options that make an ssh or scp client log in to `sshd` with its client key, checking the
/// host key, never asking anything.
fn client_options(sshd: &Sshd) -> Vec<String> {
    [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
    ]
    .map(String::from)
    .into_iter()
    .chain([
        format!("UserKnownHostsFile={}", sshd.path("known_hosts").display()),
        "-i".into(),
        sshd.path("client_key").display().to_string(),
    ])
    .collect()
}

#[test]
fn the_documented_authorized_keys_line_lets_the_key_push_and_do_nothing_else() {
    // The fixture's authorized_keys is contrib/authorized_keys with this binary, this spool
    // and this key put in, as the file says.
    let sshd = Sshd::start(None);
    let line = fs_err::read_to_string(sshd.path("authorized_keys")).unwrap();
    assert!(
        line.starts_with(&format!(
            "restrict,command=\"{} receive --spool {}\" ssh-ed25519 ",
            env!("CARGO_BIN_EXE_rcptsync"),
            sshd.spool.display()
        )),
        "{line}"
    );

    // A command of the client's choosing gets the receiver's refusal, not the command.
    let r = Run::from(
        Command::new(require("ssh", "openssh-client"))
            .arg("-T")
            .args(client_options(&sshd))
            .args([
                "-p",
                &sshd.port.to_string(),
                "root@127.0.0.1",
                "cat /etc/passwd",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
    .code(1);
    assert_eq!(
        r.stdout,
        "ERROR this key may only deliver maps; refusing the command \"cat /etc/passwd\"\n",
        "{r}"
    );
    assert!(
        !r.stdout.contains("root:") && !r.stderr.contains("root:"),
        "{r}"
    );
    assert!(r.stderr.contains("the spool is unchanged"), "{r}");

    // So does scp (its classic protocol runs `scp -t TARGET` as the remote command).
    let file = sshd.path("payload.txt");
    fs_err::write(&file, "x@example.com OK\n").unwrap();
    let target = sshd.path("copied-by-scp");
    let out = Command::new(require("scp", "openssh-client"))
        .arg("-O")
        .args(client_options(&sshd))
        .args(["-P", &sshd.port.to_string()])
        .arg(&file)
        .arg(format!("root@127.0.0.1:{}", target.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "scp got through: {stderr}");
    assert!(
        stderr.contains("this key may only deliver maps; refusing the command \"scp "),
        "{stderr}"
    );
    assert!(!target.exists(), "scp wrote {}", target.display());
    assert!(spooled(&sshd.spool).is_none());

    // And a push through the same line delivers the map.
    let sender = Sender::new(&sshd.gateway_toml("mx1"));
    let r = sender.run(&["push"]).ok();
    assert!(r.stdout.starts_with("mx1: pushed 2 recipients"), "{r}");
    assert_eq!(spooled(&sshd.spool).unwrap(), sender.map());
}

#[test]
fn a_gateway_that_never_answers_times_out_without_holding_up_the_others() {
    let hung = Sshd::start(None);
    hung.force_command("sleep 600");
    let good = Sshd::start(None);
    let gateways = format!(
        "{}timeout = \"20s\"\n{}",
        hung.gateway_toml("hung"),
        good.gateway_toml("good")
    );
    let sender = Sender::new(&gateways);
    let started = std::time::Instant::now();
    let config = sender.dir.path().join("rcptsync.toml");
    let push = crate::support::command()
        .arg("-c")
        .arg(&config)
        .arg("push")
        .current_dir(sender.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The good gateway has its map long before the hung one's 20 s are up: the pushes run
    // side by side, not one after the other.
    while spooled(&good.spool).is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the good gateway waited for the hung one"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let r = Run::from(push.wait_with_output().unwrap()).code(1);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(20) && took < std::time::Duration::from_secs(40),
        "push took {took:?}"
    );
    assert!(
        r.stderr.contains(
            "gateway hung (127.0.0.1): push failed: no answer within 20s ([[gateway]] timeout)"
        ),
        "{r}"
    );
    assert!(r.stdout.contains("good: pushed 2 recipients"), "{r}");
    assert_eq!(spooled(&good.spool).unwrap(), sender.map());
    assert_eq!(spooled(&hung.spool), None);
}
