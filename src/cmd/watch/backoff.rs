//! The waits between tries of something that failed (a directory, a read, a push).

use std::time::Duration;

/// Waits that double from one second up to a cap, each cut by up to a quarter at random, so
/// that watchers that lost the same server do not all come back at the same moment.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

/// A wait as a log line says it: seconds with a tenth (`1.4s`), not to the nanosecond.
pub fn show(wait: Duration) -> String {
    format!("{:.1}s", wait.as_secs_f64())
}

impl Backoff {
    /// Starts at one second (or `max`, when smaller).
    pub fn new(max: Duration) -> Self {
        Self {
            next: Duration::from_secs(1).min(max),
            max,
        }
    }

    /// The next wait.
    pub fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        // RandomState is seeded at random: its hash of nothing is a random number.
        use std::hash::{BuildHasher as _, Hasher as _};
        let cut = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            % 256;
        wait - wait.mul_f64(cut as f64 / 1024.0)
    }

    /// After a success: the next failure waits a second again.
    pub fn reset(&mut self) {
        self.next = Duration::from_secs(1).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_with_jitter_and_start_again_after_a_reset() {
        let mut backoff = Backoff::new(Duration::from_secs(30));
        let waits: Vec<Duration> = (0..8).map(|_| backoff.wait()).collect();
        for (wait, full) in waits.iter().zip([1, 2, 4, 8, 16, 30, 30, 30]) {
            let full = Duration::from_secs(full);
            assert!(*wait <= full && *wait >= full * 3 / 4, "{waits:?}");
        }
        backoff.reset();
        assert!(backoff.wait() <= Duration::from_secs(1));
        // A cap far beyond anything real does not overflow.
        let mut huge = Backoff::new(Duration::MAX);
        for _ in 0..200 {
            huge.wait();
        }
    }
}
