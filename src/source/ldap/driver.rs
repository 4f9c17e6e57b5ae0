//! ldap3's connection driver, spawned and joined by rcptsync itself: ldap3's parsers panic on
//! some malformed server messages, inside the driver, and that is the server's fault, not a
//! bug to report. The panic ends the driver's task (the connection closes under the
//! operation waiting on it); joining the task gives its message, which the search error then
//! names ([`Driver::panic`]) instead of ldap3's closed connection.
//!
//! The panic hook still runs when the panic happens, before anything can join the task. So
//! that it prints no "internal error" for the server's fault, the driver is polled with the
//! thread marked as being inside it, and a hook installed once in front of the process's own
//! passes over panics on a marked thread; every other panic reaches the process's hook as
//! before.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ldap3::LdapConnAsync;
use ldap3::tokio::runtime::Runtime;
use ldap3::tokio::task::JoinHandle;

thread_local! {
    /// Whether this thread is polling an ldap3 driver.
    static IN_DRIVER: Cell<bool> = const { Cell::new(false) };
    /// Where in ldap3 (or its parser) the last driver panic on this thread happened, for its
    /// message: the task's join hands over the message, not the place.
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The driver task of one connection, and what it panicked on once that is known.
#[derive(Debug)]
pub(super) struct Driver {
    /// The task, until it has finished and been joined.
    task: Option<JoinHandle<()>>,
    /// Its panic, once joined.
    panic: Option<Panic>,
}

/// The driver panicked: the server sent a message ldap3 (or its BER parser) cannot parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the server sent a message the LDAP library cannot parse ({message})")]
pub(super) struct Panic {
    /// The panic's message.
    message: String,
}

impl Panic {
    /// The panic of a task, from its payload (the message of `panic!` or `expect`).
    fn of(payload: Box<dyn Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        match PANIC_AT.with_borrow_mut(Option::take) {
            Some(at) => Self {
                message: format!("{message} at {at}"),
            },
            None => Self { message },
        }
    }
}

impl Driver {
    /// Spawns the driver of `conn` on `rt`, ldap3's runtime (it runs whenever an operation
    /// is waited for there).
    pub(super) fn spawn(rt: &Runtime, conn: LdapConnAsync) -> Self {
        pass_over_driver_panics();
        let task = rt.spawn(Marked(Box::pin(async move {
            // The driver's own error is the connection's end, which the operation waiting
            // on it reports (ldap3's `drive!` only logs it, through a logger rcptsync has not).
            let _ = conn.drive().await;
        })));
        Self {
            task: Some(task),
            panic: None,
        }
    }

    /// What the driver panicked on, if it has ended with a panic: the task is joined once it
    /// has finished (never waited for), and the panic kept for later errors.
    pub(super) fn panic(&mut self, rt: &Runtime) -> Option<Panic> {
        if let Some(task) = self.task.take_if(|task| task.is_finished())
            && let Err(ended) = rt.block_on(task)
            && ended.is_panic()
        {
            self.panic = Some(Panic::of(ended.into_panic()));
        }
        self.panic.clone()
    }
}

/// A future polled with the thread marked as inside an ldap3 driver.
struct Marked<F>(Pin<Box<F>>);

impl<F: Future> Future for Marked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _mark = Mark::set();
        self.0.as_mut().poll(cx)
    }
}

/// The mark of [`Marked`], taken off again when the poll returns or unwinds (after the
/// panic hook has run).
struct Mark(bool);

impl Mark {
    fn set() -> Self {
        Self(IN_DRIVER.replace(true))
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        IN_DRIVER.set(self.0);
    }
}

/// Installs, once, a panic hook in front of the process's own that passes over panics in an
/// ldap3 driver (their message reaches the admin in the search error) and hands every
/// other panic to the hook that was there.
fn pass_over_driver_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_DRIVER.try_with(Cell::get).unwrap_or(false) {
                previous(info);
            } else if let Some(place) = info.location() {
                // The file's name, not its path: the message is for the admin's report.
                let file = std::path::Path::new(place.file())
                    .file_name()
                    .map_or_else(|| place.file().into(), |n| n.to_string_lossy());
                let at = format!("{file}:{}", place.line());
                let _ = PANIC_AT.try_with(|slot| slot.replace(Some(at)));
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_named_with_its_message() {
        let panic = Panic::of(Box::new("element"));
        assert_eq!(
            panic.to_string(),
            "the server sent a message the LDAP library cannot parse (element)"
        );
        assert_eq!(Panic::of(Box::new(String::from("x"))).message, "x");
        assert_eq!(Panic::of(Box::new(7)).message, "");
    }

    #[test]
    fn the_mark_is_taken_off_after_a_poll_that_unwinds() {
        let marked = std::panic::catch_unwind(|| {
            let _mark = Mark::set();
            assert!(IN_DRIVER.get());
            std::panic::resume_unwind(Box::new("unwinding"));
        });
        assert!(marked.is_err());
        assert!(!IN_DRIVER.get());
    }
}
