//! SIGTERM, SIGINT and SIGHUP for `watch`, on a thread of their own: the loop hears of them as
//! messages, between runs. A stop that the loop does not reach within [`GRACE`] (a run that
//! takes long), or a second SIGTERM, ends the process at once: every write is atomic, so a run
//! cut short leaves the files as they were.

use std::time::Duration;

use tracing::info;

/// How long a stop waits for the run in progress before the process ends anyway.
pub const GRACE: Duration = Duration::from_secs(10);

/// Calls `stop` on SIGTERM or SIGINT and `reload` on SIGHUP, from a thread of their own.
pub fn handle(
    stop: impl Fn() + Send + 'static,
    reload: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::spawn(move || {
        let mut stopping = false;
        for signal in signals.forever() {
            if signal == SIGHUP {
                reload();
                continue;
            }
            if stopping {
                info!("stopped during a run (its writes are atomic: nothing is half-written)");
                std::process::exit(0);
            }
            stopping = true;
            stop();
            std::thread::spawn(|| {
                std::thread::sleep(GRACE);
                info!(
                    "stopped during a run that took longer than {}s (its writes are atomic: \
                     nothing is half-written)",
                    GRACE.as_secs()
                );
                std::process::exit(0);
            });
        }
    });
    Ok(())
}
