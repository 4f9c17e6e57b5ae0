//! What every integration test binary needs to run rcptsync itself (shared by `#[path]`).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// What a run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the rcptsync binary with `args` in `cwd`, with no bind password in its environment.
pub fn rcptsync(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_rcptsync"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RCPTSYNC_BIND_PASSWORD")
        .output()
        .unwrap();
    Run {
        code: out.status.code().expect("killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}
