//! `rcptsync::verify::smtp::ReplyParser::line` fed arbitrary bytes split after each `\n` (what
//! a probed SMTP server sends).
//!
//! Invariants: no panic; a reply has a code in 200..=599 that every one of its lines starts
//! with, at most `MAX_LINES` lines, and its text is the lines' texts joined with spaces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rcptsync::verify::smtp::{MAX_LINES, ReplyParser};

fuzz_target!(|data: &[u8]| {
    let mut parser = ReplyParser::default();
    // The lines of the reply being read, as the model below sees them.
    let mut lines: Vec<&[u8]> = Vec::new();
    for raw in data.split_inclusive(|&b| b == b'\n') {
        lines.push(raw);
        match parser.line(raw) {
            Ok(None) => {}
            Ok(Some(reply)) => {
                assert!((200..600).contains(&reply.code));
                assert!(lines.len() <= MAX_LINES);
                let mut texts = Vec::new();
                for line in &lines {
                    let line = line.strip_suffix(b"\n").unwrap_or(line);
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let line = std::str::from_utf8(line).expect("an accepted line is UTF-8");
                    assert_eq!(line[..3].parse::<u16>(), Ok(reply.code));
                    texts.push(line.get(4..).unwrap_or_default());
                }
                assert_eq!(reply.text, texts.join(" "));
                lines.clear();
            }
            Err(_) => {
                // A session gives up on a broken reply; start afresh.
                parser = ReplyParser::default();
                lines.clear();
            }
        }
    }
});
