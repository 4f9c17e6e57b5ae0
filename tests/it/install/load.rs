//! Swaps under load: a client keeps asking smtpd about a known and an unknown address while
//! the map is replaced over and over; not one answer may be a temporary failure or wrong.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::util::Gateway;
use crate::fixture::postfix::Smtp;

const KNOWN: &str = "known@example.com";
const UNKNOWN: &str = "nobody@example.com";

#[derive(Debug, Default)]
struct Tally {
    right: usize,
    temporary: Vec<String>,
    wrong: Vec<String>,
}

fn probe_until(port: u16, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        // New sessions pick up a new map; a session in progress keeps the map it opened.
        let mut smtp = Smtp::connect(port);
        for _ in 0..5 {
            for (address, expected) in [(KNOWN, 250), (UNKNOWN, 550)] {
                let (code, text) = smtp.rcpt(address);
                if code == expected {
                    tally.right += 1;
                } else if (400..500).contains(&code) {
                    tally.temporary.push(text);
                } else {
                    tally.wrong.push(format!("{address}: {text}"));
                }
            }
        }
        smtp.quit();
    }
    tally
}

fn swap_under_load(kind: &str) {
    let mut gw = Gateway::new(kind, "");
    let a = [KNOWN, "a@example.com", "postmaster@example.com"];
    let b = [KNOWN, "b@example.com", "postmaster@example.com"];
    gw.apply_keys(&a);
    gw.postfix.start();
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (stop, port) = (stop.clone(), gw.postfix.port);
        std::thread::spawn(move || probe_until(port, &stop))
    };
    for i in 0..100 {
        gw.apply_keys(if i % 2 == 0 { &b } else { &a });
    }
    stop.store(true, Ordering::Relaxed);
    let tally = prober.join().expect("the probing client failed");
    assert!(
        tally.temporary.is_empty(),
        "{kind}: temporary failures: {:?}",
        tally.temporary
    );
    assert!(
        tally.wrong.is_empty(),
        "{kind}: wrong answers: {:?}",
        tally.wrong
    );
    assert!(tally.right >= 100, "{kind}: only {} probes", tally.right);
    eprintln!("{kind}: {} right answers during 100 swaps", tally.right);
}

#[test]
fn hash_under_load() {
    swap_under_load("hash");
}

#[test]
fn cdb_under_load() {
    swap_under_load("cdb");
}

#[test]
fn lmdb_under_load() {
    swap_under_load("lmdb");
}

#[test]
fn texthash_under_load() {
    swap_under_load("texthash");
}
