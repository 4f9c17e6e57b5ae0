//! Running the rcptsync binary, and what a run printed and how it exited.

use std::fmt;
use std::path::Path;
use std::process::{Command, Output};

/// What a run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics, showing stdout and stderr, unless the run exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.code(0)
    }

    /// Panics, showing stdout and stderr, unless the run exited with `expected`.
    #[track_caller]
    pub fn code(self, expected: i32) -> Self {
        assert!(
            self.code == expected,
            "expected exit code {expected}, got {self}"
        );
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout:\n{}--- stderr:\n{}---",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().expect("killed by a signal"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

/// The rcptsync binary, not yet run, with no bind password in its environment.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcptsync"));
    cmd.env_remove("RCPTSYNC_BIND_PASSWORD");
    cmd
}

/// Runs the rcptsync binary with `args` in `cwd`.
pub fn rcptsync(cwd: &Path, args: &[&str]) -> Run {
    command()
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
        .into()
}

/// Runs the rcptsync binary with `args` in `cwd`, killed (and the test failed, with its
/// stderr) if it takes more than `limit`: a hung run fails the test instead of hanging it.
/// The output is collected by another thread as it comes, so a run that writes much is not
/// mistaken for a hung one.
pub fn rcptsync_within(cwd: &Path, args: &[&str], limit: std::time::Duration) -> Run {
    use std::process::Stdio;
    let child = command()
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = rustix::process::Pid::from_child(&child);
    let (done, finished) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let output = child.wait_with_output().unwrap();
        let _ = done.send(());
        output
    });
    if finished.recv_timeout(limit).is_err() {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        let out = waiter.join().unwrap();
        panic!(
            "rcptsync {args:?} did not end within {limit:?}; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    waiter.join().unwrap().into()
}

/// Runs the rcptsync binary with `args` in `cwd` under GNU time, returning the run and its
/// peak resident memory in MiB.
pub fn rcptsync_peak(cwd: &Path, args: &[&str]) -> (Run, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let run: Run = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(env!("CARGO_BIN_EXE_rcptsync"))
        .args(args)
        .env_remove("RCPTSYNC_BIND_PASSWORD")
        .current_dir(cwd)
        .output()
        .unwrap()
        .into();
    let kib: u64 = fs_err::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time for {run}"));
    (run, kib / 1024)
}

/// Makes a FIFO at `path`, as another account would put one where rcptsync expects a file:
/// a plain open of it blocks until someone writes.
pub fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o666),
        0,
    )
    .unwrap();
}
