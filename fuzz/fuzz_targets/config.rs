//! `rcptsync::config::Config::parse` on arbitrary UTF-8 (the TOML config).
//!
//! Invariants: no panic; a config that is accepted holds only normalized extra addresses and
//! an output value that is one word.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rcptsync::config::Config;
use rcptsync::rules::address::normalize;

fuzz_target!(|text: &str| {
    let Ok(config) = Config::parse(text, Path::new("/etc/rcptsync/rcptsync.toml")) else {
        return;
    };
    if let Some(recipients) = &config.recipients {
        for extra in &recipients.extra {
            assert_eq!(normalize(extra).as_ref(), Ok(extra));
        }
    }
    if let Some(output) = &config.output {
        assert!(!output.value.is_empty());
        assert!(
            !output
                .value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()),
            "output.value {:?}",
            output.value
        );
        assert!(output.path.is_absolute());
    }
});
