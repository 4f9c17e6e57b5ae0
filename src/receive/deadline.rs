//! [`Deadline`]: receive's input, given up on at a deadline for the whole session.

use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// A reader of a file descriptor that gives up at a deadline for the whole session, however
/// the peer trickles its bytes. It reads the descriptor directly (no buffer of its own), so
/// that waiting for input and reading it agree.
pub struct Deadline<F> {
    fd: F,
    deadline: Instant,
    timeout: Duration,
}

impl<F: AsFd> Deadline<F> {
    /// Reads `fd` for at most `timeout` from now.
    pub fn new(fd: F, timeout: Duration) -> Self {
        Self {
            fd,
            deadline: Instant::now() + timeout,
            timeout,
        }
    }
}

impl<F: AsFd> Read for Deadline<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no complete map within {} (receive --timeout)",
                        humantime::format_duration(self.timeout)
                    ),
                ));
            }
            let wait = Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match poll(&mut fds, Some(&wait)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            match rustix::io::read(&self.fd, &mut *buf) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
