//! ldap3's connection driver, spawned and joined by rcptsync itself: ldap3's parsers panic on
//! some malformed server messages, inside the driver, and that is the server's fault, not a
//! bug to report. The panic ends the driver's task (the connection closes under the
//! operation waiting on it); joining the task gives its message, which the search error then
//! names ([`Driver::panic`]) instead of ldap3's closed connection.
//!
//! So that the panic hook prints no "internal error" for the server's fault, the driver is
//! polled with the thread marked ([`crate::panic::Mark`]).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ldap3::LdapConnAsync;
use ldap3::tokio::runtime::Runtime;
use ldap3::tokio::task::JoinHandle;

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
        Self {
            message: crate::panic::message(payload),
        }
    }
}

impl Driver {
    /// Spawns the driver of `conn` on `rt`, ldap3's runtime (it runs whenever an operation
    /// is waited for there).
    pub(super) fn spawn(rt: &Runtime, conn: LdapConnAsync) -> Self {
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
        let _mark = crate::panic::Mark::set();
        self.0.as_mut().poll(cx)
    }
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
}
