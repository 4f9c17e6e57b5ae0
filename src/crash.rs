//! Crash points, for the tests that prove a run killed at any step leaves a map and a store
//! that agree: a debug build (what the test suite runs) sends itself SIGKILL at the step
//! `RCPTSYNC_TEST_KILL_AT` names, as `kill -9` would, with no unwinding and no cleanup. A
//! release build (the package) compiles every point to nothing.

/// A step a run may be killed at: `name` is the step just done.
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("RCPTSYNC_TEST_KILL_AT").is_some_and(|at| at == name) {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
