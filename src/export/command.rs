//! An export's `command`: the admin's program, run after its file changed, with the file's
//! path as its last argument. No shell: the argument list is run as written. It runs in a
//! process group of its own, so that a timeout stops whatever it started too (a `curl` under a
//! script), and what it prints is kept only as far as an error message needs.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How much of the program's standard error a failure quotes.
const STDERR_KEPT: usize = 2048;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It could not be started.
    #[error("could not run {program}: {cause}")]
    Start {
        /// The program.
        program: String,
        /// Why.
        cause: std::io::Error,
    },
    /// It ran past its timeout and was killed.
    #[error("{program} did not finish within {}; it was stopped", humantime::format_duration(*.timeout))]
    TimedOut {
        /// The program.
        program: String,
        /// The timeout.
        timeout: Duration,
    },
    /// It exited with a failure; what it said is quoted with its line breaks and control
    /// characters escaped, so that it cannot forge a log line or reach a terminal.
    #[error("{program} failed ({status}){}", if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) })]
    Failed {
        /// The program.
        program: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// The end of what it printed on standard error, control characters escaped.
        stderr: String,
    },
}

/// Runs `argv` with `path` appended, waiting at most `timeout`.
pub fn run(argv: &[String], path: &Path, timeout: Duration) -> Result<(), Error> {
    let program = argv
        .first()
        .map(String::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        let mut command = Command::new(&program);
        // systemd's notify socket is watch's: the admin's program must not be able to tell
        // systemd that the service is ready or alive (as for ssh); and a bind password given
        // in the environment is the directory's, not the program's.
        for private in [
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "RCPTSYNC_BIND_PASSWORD",
        ] {
            command.env_remove(private);
        }
        command
            .args(&argv[1.min(argv.len())..])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|cause| Error::Start {
                program: program.clone(),
                cause,
            })?
    };
    // The pipe is read on a thread of its own, keeping only its end, so that a chatty program
    // never blocks on a full pipe and never fills this process's memory.
    let (sender, received) = std::sync::mpsc::channel::<Vec<u8>>();
    let reading = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut kept: Vec<u8> = Vec::new();
            let mut buffer = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buffer[..n]);
                if kept.len() > 2 * STDERR_KEPT {
                    kept.drain(..kept.len() - STDERR_KEPT);
                }
            }
            let _ = sender.send(kept);
        })
    });
    let deadline = Instant::now() + timeout;
    let group = rustix::process::Pid::from_raw(child.id() as i32);
    let kill_group = || {
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group();
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(cause) => {
                kill_group();
                return Err(Error::Start { program, cause });
            }
        }
    };
    // Something the program left running in the background may still hold the pipe: it is
    // waited for until the deadline, then killed with its group, and the pipe given up on.
    let left = deadline.saturating_duration_since(Instant::now());
    let stderr = match received.recv_timeout(left) {
        Ok(kept) => kept,
        Err(_) => {
            kill_group();
            received
                .recv_timeout(Duration::from_secs(1))
                .unwrap_or_default()
        }
    };
    drop(reading);
    match status {
        None => Err(Error::TimedOut { program, timeout }),
        Some(status) if status.success() => Ok(()),
        Some(status) => {
            let start = stderr.len().saturating_sub(STDERR_KEPT);
            let text = String::from_utf8_lossy(&stderr[start..]);
            Err(Error::Failed {
                program,
                status,
                stderr: text
                    .trim()
                    .chars()
                    .map(|c| match c.is_control() {
                        true => c.escape_default().to_string(),
                        false => c.to_string(),
                    })
                    .collect(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn the_path_is_the_last_argument_and_a_failure_quotes_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recipients.txt");
        let differ = argv(&["/bin/sh", "-c", "test \"$1\" = \"$0\"", ""]);
        // $0 is the empty string, $1 the path: they differ, so sh exits 1.
        assert!(run(&differ, &file, Duration::from_secs(10)).is_err());
        let script = format!(
            "test \"$1\" = {} || {{ echo wrong >&2; exit 3; }}",
            file.display()
        );
        run(
            &argv(&["/bin/sh", "-c", &script, "sh"]),
            &file,
            Duration::from_secs(10),
        )
        .unwrap();
        let e = run(
            &argv(&["/bin/sh", "-c", "echo 'no\x1b[31m token' >&2; exit 4", "sh"]),
            &file,
            Duration::from_secs(10),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("exit status: 4") && text.contains("no\\u{1b}[31m token"),
            "{text}"
        );
    }

    #[test]
    fn a_command_past_its_timeout_is_stopped_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-running");
        // The grandchild would write the marker after the timeout, unless its group is killed.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let e = run(
            &argv(&["/bin/sh", "-c", &script, "sh"]),
            dir.path(),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(matches!(e, Error::TimedOut { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the grandchild outlived the timeout");
    }

    #[test]
    fn a_program_that_leaves_something_running_with_its_stderr_costs_at_most_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-running");
        // It exits 0 at once, but its background child keeps stderr open for 30 s.
        let script = format!("(sleep 2; touch {}) & exit 0", marker.display());
        let started = Instant::now();
        run(
            &argv(&["/bin/sh", "-c", &script, "sh"]),
            dir.path(),
            Duration::from_millis(500),
        )
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(2500));
        assert!(
            !marker.exists(),
            "the background child outlived the timeout"
        );
    }

    #[test]
    fn a_program_that_is_not_there_is_named() {
        let e = run(
            &argv(&["/nonexistent/upload"]),
            Path::new("/tmp/x"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/upload"), "{e}");
    }
}
