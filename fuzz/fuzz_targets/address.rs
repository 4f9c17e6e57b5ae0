//! `rcptsync::rules::address::normalize` on arbitrary UTF-8 (every directory value, list line
//! and map key passes it before it can become a map key).
//!
//! Invariants: no panic; a key is its own normal form (idempotent), at most 254 octets of
//! printable ASCII without upper case, with an `@` that is neither first nor followed by
//! nothing, and not a comment line; upper-casing the input changes nothing; `is_normalized`
//! (apply's one-pass check) is true only for a value that is its own key, and, for values
//! without `"`, for every such value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rcptsync::rules::address::{is_normalized, normalize};

fuzz_target!(|value: &str| {
    let result = normalize(value);
    let own_key = result.as_deref() == Ok(value);
    let fast = is_normalized(value.as_bytes());
    assert!(!fast || own_key, "is_normalized accepts {value:?}");
    assert!(
        value.contains('"') || fast == own_key,
        "is_normalized refuses {value:?}"
    );
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
