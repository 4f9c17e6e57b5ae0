//! `rcptsync::rules::address::normalize` on arbitrary UTF-8 (every directory value, list line
//! and map key passes it before it can become a map key).
//!
//! Invariants: no panic; a key is its own normal form (idempotent), at most 254 octets of
//! printable ASCII without upper case, with an `@` that is neither first nor followed by
//! nothing, and not a comment line; upper-casing the input changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rcptsync::rules::address::normalize;

fuzz_target!(|value: &str| {
    let result = normalize(value);
    assert_eq!(
        normalize(&value.to_ascii_uppercase()).ok(),
        result.clone().ok(),
        "case changes the key of {value:?}"
    );
    let Ok(key) = result else { return };
    assert_eq!(
        normalize(&key).as_ref(),
        Ok(&key),
        "not idempotent on {value:?}"
    );
    assert!(key.len() <= 254, "{key:?}");
    assert!(key.bytes().all(|b| (0x21..0x7f).contains(&b)), "{key:?}");
    assert!(!key.bytes().any(|b| b.is_ascii_uppercase()), "{key:?}");
    let at = key.rfind('@').expect("a key has an @");
    assert!(at > 0 && at + 1 < key.len(), "{key:?}");
    assert!(!key.starts_with('#'), "{key:?}");
    assert!(key.len() <= value.len());
});
