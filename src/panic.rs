//! Panics that are someone else's fault, not a bug to report: ldap3's parsers panic on some
//! malformed server messages (inside its connection driver), and redb asserts on some
//! damaged store files. Such a panic is caught where it happens and becomes an ordinary error
//! naming the server or the file.
//!
//! The panic hook runs when the panic happens, before anything catches it. So that it prints
//! no "internal error" for what is not one, the code that may panic runs with the thread
//! marked ([`Mark`]), and a hook installed once in front of the process's own passes over
//! panics on a marked thread, recording only where they happened; every other panic reaches
//! the process's hook as before.

use std::any::Any;
use std::cell::{Cell, RefCell};

thread_local! {
    /// Whether a panic on this thread is expected (and caught by the code that marked it).
    static MARKED: Cell<bool> = const { Cell::new(false) };
    /// Where the last passed-over panic on this thread happened, for its message: a caught
    /// payload holds the message, not the place.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// While it lives, a panic on this thread is passed over by the hook; the mark is taken off
/// again when it is dropped, after the hook has run.
pub struct Mark(bool);

impl Mark {
    /// Marks this thread.
    pub fn set() -> Self {
        install();
        Self(MARKED.replace(true))
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        MARKED.set(self.0);
    }
}

/// A caught panic's message, with the place it happened when the hook saw it.
pub fn message(payload: Box<dyn Any + Send>) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    match PANIC_AT.with_borrow_mut(Option::take) {
        Some(at) => format!("{message} at {at}"),
        None => message,
    }
}

/// A panic [`catch`] caught: its message, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Caught(pub String);

/// Runs `f` with the thread marked; a panic in it is its message ([`message`]).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Caught> {
    let _mark = Mark::set();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| Caught(message(p)))
}

/// Installs, once, the hook in front of the process's own.
fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !MARKED.try_with(Cell::get).unwrap_or(false) {
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
    fn a_caught_panic_is_its_message_and_the_mark_comes_off() {
        assert_eq!(message(Box::new("element")), "element");
        assert_eq!(message(Box::new(String::from("x"))), "x");
        assert_eq!(message(Box::new(7)), "");
        #[allow(clippy::panic, reason = "the panic is the test")]
        let caught = catch(|| panic!("boom"));
        let caught = caught.unwrap_err().0;
        assert!(caught.starts_with("boom at panic.rs:"), "{caught}");
        assert!(!MARKED.get());
        assert_eq!(catch(|| 7), Ok(7));
    }
}
