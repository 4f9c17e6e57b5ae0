//! `rcptsync watch` on files, with nothing but the binary: a list source is polled every
//! `[watch].poll`, and its log names the addresses of a small change only; systemd's notify
//! socket (a datagram socket the test binds, as systemd does) hears READY=1 once the first
//! map is written, STATUS= and STOPPING=1; SIGTERM ends it with exit 0, also while its
//! directory is down (and then READY=1 never came, and the wait for the directory costs no
//! CPU to speak of). [`Watch`] runs watch for every test of it, here and elsewhere.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running `rcptsync -v watch -c rcptsync.toml` in a directory, its stderr in `watch.log`
/// and its stdout (the diffs) in `watch.out`; killed on drop. The one helper of every test of
/// watch.
pub struct Watch {
    child: Child,
    log: PathBuf,
}

impl Watch {
    /// Starts watch in `dir`, without systemd's notify socket.
    pub fn start(dir: &Path) -> Self {
        Self::spawn(dir, None)
    }

    /// Starts watch in `dir`, telling systemd through `socket`.
    pub fn notifying(dir: &Path, socket: &Path) -> Self {
        Self::spawn(dir, Some(socket))
    }

    fn spawn(dir: &Path, socket: Option<&Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rcptsync"));
        match socket {
            Some(socket) => command.env("NOTIFY_SOCKET", socket),
            None => command.env_remove("NOTIFY_SOCKET"),
        };
        let file = |name: &str| fs_err::File::create(dir.join(name)).unwrap().into_parts().0;
        let child = command
            .args(["-v", "watch", "-c", "rcptsync.toml"])
            .current_dir(dir)
            .stdout(file("watch.out"))
            .stderr(file("watch.log"))
            .spawn()
            .unwrap();
        Self {
            child,
            log: dir.join("watch.log"),
        }
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        fs_err::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends it `signal`.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// SIGTERM, then the exit code, which must come within `limit`.
    pub fn stop(mut self, limit: Duration) -> i32 {
        self.signal(rustix::process::Signal::TERM);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("exited, not killed");
            }
            assert!(
                started.elapsed() < limit,
                "watch did not stop within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `limit` for `ready`; panics with the log when it does not come or watch
    /// exits first. How long it took.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Duration {
        let started = Instant::now();
        loop {
            if ready() {
                return started.elapsed();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "watch exited with {status} waiting for {what}:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The notifications received until `until` is among them, or `limit` passed.
fn heard(socket: &UnixDatagram, until: &str, limit: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut messages = Vec::new();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < limit {
        if let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let done = message == until;
            messages.push(message);
            if done {
                break;
            }
        }
    }
    messages
}

fn listening(dir: &Path) -> UnixDatagram {
    let socket = UnixDatagram::bind(dir.join("notify.sock")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    socket
}

#[test]
fn a_list_is_polled_and_systemd_hears_ready_status_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let list: String = (0..150).map(|i| format!("user{i}@example.com\n")).collect();
    fs_err::write(dir.join("list.txt"), &list).unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        "[[source]]\nname = \"list\"\nkind = \"list\"\npath = \"list.txt\"\n\n\
         [recipients]\ndomains = [\"example.com\"]\n\n[output]\npath = \"out/relay_recipients\"\n\n\
         [watch]\npoll = \"1s\"\n",
    )
    .unwrap();
    let socket = listening(dir);
    let mut watch = Watch::notifying(dir, &dir.join("notify.sock"));
    let messages = heard(&socket, "READY=1", Duration::from_secs(20));
    assert_eq!(
        messages.last().map(String::as_str),
        Some("READY=1"),
        "{messages:?}"
    );
    let map = dir.join("out/relay_recipients");
    assert!(
        fs_err::read_to_string(&map)
            .unwrap()
            .contains("user9@example.com OK")
    );

    // A new address in the file: in the map after the next poll.
    fs_err::write(dir.join("list.tmp"), format!("{list}newhire@example.com\n")).unwrap();
    fs_err::rename(dir.join("list.tmp"), dir.join("list.txt")).unwrap();
    watch.wait_for("the poll", Duration::from_secs(10), || {
        fs_err::read_to_string(&map)
            .unwrap()
            .contains("newhire@example.com OK")
    });
    // The log names a small change address by address, not a first map of 150.
    let out = fs_err::read_to_string(dir.join("watch.out")).unwrap();
    assert!(out.contains("(its 150 address lines left out)"), "{out}");
    assert!(!out.contains("+user9@example.com"), "{out}");
    assert!(out.contains("+newhire@example.com\n"), "{out}");
    let status = heard(&socket, "", Duration::from_secs(2));
    assert!(
        status
            .iter()
            .any(|m| m.starts_with("STATUS=map current as of ")),
        "{status:?}"
    );
    assert_eq!(watch.stop(Duration::from_secs(5)), 0);
    let end = heard(&socket, "STOPPING=1", Duration::from_secs(2));
    assert!(end.iter().any(|m| m == "STOPPING=1"), "{end:?}");
}

#[test]
fn sigterm_ends_watch_while_its_directory_is_down_and_it_was_never_ready() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // Nothing listens on port 9 of loopback: every read and every follow fails at once.
    fs_err::write(
        dir.join("rcptsync.toml"),
        "[[source]]\nname = \"ad\"\nkind = \"ldap\"\nservers = [\"ldap://127.0.0.1:9\"]\n\
         base_dn = \"DC=example,DC=com\"\n\n\
         [recipients]\ndomains = [\"example.com\"]\n\n[output]\npath = \"out/relay_recipients\"\n",
    )
    .unwrap();
    let socket = listening(dir);
    let mut watch = Watch::notifying(dir, &dir.join("notify.sock"));
    let log = dir.join("watch.log");
    watch.wait_for("a retry", Duration::from_secs(20), || {
        fs_err::read_to_string(&log)
            .unwrap()
            .contains("reading again in")
    });
    // Waiting for the directory costs next to nothing: no busy loop.
    let cpu = || {
        let stat = fs_err::read_to_string(format!("/proc/{}/stat", watch.pid())).unwrap();
        let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
        // utime and stime (fields 14 and 15 of proc(5), counted from the state, field 3).
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(3));
    let ticks = cpu() - before;
    assert!(ticks < 30, "{ticks} clock ticks of CPU in 3 s of waiting");
    assert_eq!(watch.stop(Duration::from_secs(3)), 0);
    let messages = heard(&socket, "STOPPING=1", Duration::from_secs(2));
    assert!(!messages.iter().any(|m| m == "READY=1"), "{messages:?}");
    assert!(messages.iter().any(|m| m == "STOPPING=1"), "{messages:?}");
    assert!(!dir.join("out/relay_recipients").exists());
    assert!(!dir.join("out/relay_recipients.watch").exists());
}

#[test]
fn status_never_follows_a_link_or_waits_on_a_fifo_at_the_watch_file() {
    // `status` may run as root and reads PATH.watch from the directory the unprivileged
    // account owns: a link there (to a file that looks like a running watch) is not followed,
    // a FIFO is not waited on; each is named in a warning.
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fs_err::write(dir.join("list.txt"), "user@example.com\n").unwrap();
    fs_err::write(
        dir.join("rcptsync.toml"),
        "[[source]]\nname = \"list\"\nkind = \"list\"\npath = \"list.txt\"\n\n\
         [recipients]\ndomains = [\"example.com\"]\n\n[output]\npath = \"out/relay_recipients\"\n",
    )
    .unwrap();
    fs_err::create_dir(dir.join("out")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let elsewhere = dir.join("elsewhere.toml");
    fs_err::write(
        &elsewhere,
        format!("pid = 1\nstarted_at = {now}\nheartbeat_at = {now}\n"),
    )
    .unwrap();
    let beacon = dir.join("out/relay_recipients.watch");
    fs_err::os::unix::fs::symlink(&elsewhere, &beacon).unwrap();
    let run = crate::support::rcptsync_within(
        dir,
        &["status", "-c", "rcptsync.toml"],
        Duration::from_secs(10),
    );
    assert!(!run.stdout.contains("watch:"), "{run}");
    assert!(run.stderr.contains("relay_recipients.watch"), "{run}");

    fs_err::remove_file(&beacon).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &beacon,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let run = crate::support::rcptsync_within(
        dir,
        &["status", "-c", "rcptsync.toml"],
        Duration::from_secs(10),
    );
    assert!(!run.stdout.contains("watch:"), "{run}");
    assert!(run.stderr.contains("relay_recipients.watch"), "{run}");
}
