//! A SearchResultEntry taken apart from the BER tree ldap3 hands over, by rcptsync itself.
//!
//! ldap3's `SearchEntry::construct` panics on an entry that is not shaped as RFC 4511 4.5.2
//! says (a DN or an attribute name that is not UTF-8, a primitive where the attribute list
//! belongs), which any server can send; here such an entry is None, which the search turns
//! into an error naming the server. It also copies every value once more into a map; these
//! take the bytes over as they are, which is most of what a full read of a large directory
//! spends on an entry once it is off the wire.

use ldap3::SearchEntry;
use ldap3::asn1::{PL, StructureTag, TagClass};

/// What a search says of an entry it could not take apart.
pub(in crate::source::ldap) const MALFORMED: &str =
    "the server sent a malformed search result entry (RFC 4511 4.5.2)";

/// An entry's attributes as the server sent them, in its order: name (possibly with options
/// such as `;range=0-1499`) and values. Consumers match names with [`is_attribute`]; a name
/// may come twice (the rest of a ranged attribute follows its first range).
pub type Attributes = Vec<(String, Vec<String>)>;

/// The SearchResultEntry's application tag (RFC 4511 4.5.2).
const SEARCH_RESULT_ENTRY: u64 = 4;

/// One attribute as sent: its description (name and options) and its values.
type Raw = (String, Vec<Vec<u8>>);

/// The entry's DN and its attributes, values as sent; None when it is not a well-formed
/// SearchResultEntry.
fn parts(tag: StructureTag) -> Option<(String, Vec<Raw>)> {
    if tag.class != TagClass::Application || tag.id != SEARCH_RESULT_ENTRY {
        return None;
    }
    let [dn, list] = <[StructureTag; 2]>::try_from(constructed(tag)?).ok()?;
    let dn = String::from_utf8(octets(dn)?).ok()?;
    let list = universal(list, SEQUENCE)?;
    let mut attributes = Vec::with_capacity(list.len());
    for attribute in list {
        let [name, values] = <[StructureTag; 2]>::try_from(universal(attribute, SEQUENCE)?).ok()?;
        let name = String::from_utf8(octets(name)?).ok()?;
        let values = universal(values, SET)?
            .into_iter()
            .map(octets)
            .collect::<Option<Vec<_>>>()?;
        attributes.push((name, values));
    }
    Some((dn, attributes))
}

/// Universal tags: SEQUENCE, SET, OCTET STRING.
const SEQUENCE: u64 = 16;
const SET: u64 = 17;
const OCTET_STRING: u64 = 4;

fn constructed(tag: StructureTag) -> Option<Vec<StructureTag>> {
    match tag.payload {
        PL::C(inner) => Some(inner),
        PL::P(_) => None,
    }
}

/// The elements of a universal SEQUENCE or SET (`id`).
fn universal(tag: StructureTag, id: u64) -> Option<Vec<StructureTag>> {
    (tag.class == TagClass::Universal && tag.id == id)
        .then(|| constructed(tag))
        .flatten()
}

/// The bytes of an OCTET STRING.
fn octets(tag: StructureTag) -> Option<Vec<u8>> {
    match tag.payload {
        PL::P(bytes) if tag.class == TagClass::Universal && tag.id == OCTET_STRING => Some(bytes),
        _ => None,
    }
}

/// The entry's DN and attributes as the rules read them: values that are not UTF-8 (which
/// recipient attributes never are) kept visibly broken, so that the address validator
/// reports them; `objectGUID`, AD's binary identity, as the hex of its bytes (16 random
/// bytes may happen to be valid UTF-8). None when the entry is malformed.
pub(in crate::source::ldap) fn attributes(tag: StructureTag) -> Option<(String, Attributes)> {
    let (dn, raw) = parts(tag)?;
    let attributes = raw
        .into_iter()
        .map(|(name, values)| {
            let values = if name.eq_ignore_ascii_case("objectGUID") {
                values.iter().map(|v| hex(v)).collect()
            } else {
                values.into_iter().map(text).collect()
            };
            (name, values)
        })
        .collect();
    Some((dn, attributes))
}

/// ldap3's own form of the entry (text values in `attrs`, the others in `bin_attrs`), for
/// the few single reads (the rootDSE, an NTDS Settings object) that look attributes up by
/// name. None when the entry is malformed.
pub(super) fn search_entry(tag: StructureTag) -> Option<SearchEntry> {
    let (dn, raw) = parts(tag)?;
    let mut entry = SearchEntry {
        dn,
        attrs: Default::default(),
        bin_attrs: Default::default(),
    };
    for (name, values) in raw {
        if values.iter().all(|v| std::str::from_utf8(v).is_ok()) {
            let values = values.into_iter().map(text);
            entry.attrs.entry(name).or_default().extend(values);
        } else {
            entry.bin_attrs.entry(name).or_default().extend(values);
        }
    }
    Some(entry)
}

fn text(value: Vec<u8>) -> String {
    String::from_utf8(value).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u64, bytes: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::P(bytes.to_vec()),
        }
    }

    fn c(id: u64, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(inner),
        }
    }

    fn entry(dn: &[u8], attributes: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class: TagClass::Application,
            id: SEARCH_RESULT_ENTRY,
            payload: PL::C(vec![p(4, dn), c(16, attributes)]),
        }
    }

    fn attribute(name: &[u8], values: &[&[u8]]) -> StructureTag {
        c(
            16,
            vec![p(4, name), c(17, values.iter().map(|v| p(4, v)).collect())],
        )
    }

    #[test]
    fn values_are_taken_over_guids_in_hex_and_broken_text_kept_visibly_broken() {
        let tag = entry(
            b"CN=a,DC=x",
            vec![
                attribute(b"proxyAddresses", &[b"SMTP:a@x", b"smtp:b@x"]),
                attribute(b"objectGUID", &[b"\x01\xab"]),
                attribute(b"mail", &[b"a\xff@x"]),
                attribute(b"proxyAddresses", &[b"smtp:c@x"]),
            ],
        );
        let (dn, attrs) = attributes(tag.clone()).unwrap();
        assert_eq!(dn, "CN=a,DC=x");
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            attrs,
            vec![
                (
                    "proxyAddresses".to_string(),
                    strings(&["SMTP:a@x", "smtp:b@x"])
                ),
                ("objectGUID".to_string(), strings(&["01ab"])),
                ("mail".to_string(), strings(&["a\u{fffd}@x"])),
                ("proxyAddresses".to_string(), strings(&["smtp:c@x"])),
            ]
        );
        let entry = search_entry(tag).unwrap();
        assert_eq!(entry.attrs["proxyAddresses"].len(), 3);
        assert_eq!(entry.bin_attrs["mail"], vec![b"a\xff@x".to_vec()]);
    }

    #[test]
    fn a_malformed_entry_is_none_not_a_panic() {
        let broken = [
            // Not a SearchResultEntry at all.
            StructureTag {
                class: TagClass::Application,
                id: 5,
                payload: PL::C(vec![]),
            },
            // A DN that is not UTF-8.
            entry(b"CN=\xff", vec![]),
            // No attribute list.
            StructureTag {
                class: TagClass::Application,
                id: SEARCH_RESULT_ENTRY,
                payload: PL::C(vec![p(4, b"CN=a")]),
            },
            // The attribute list primitive.
            StructureTag {
                class: TagClass::Application,
                id: SEARCH_RESULT_ENTRY,
                payload: PL::C(vec![p(4, b"CN=a"), p(16, b"x")]),
            },
            // An attribute without values, one whose name is not UTF-8, a constructed value.
            entry(b"CN=a", vec![c(16, vec![p(4, b"mail")])]),
            // Trailing fields; values in a SEQUENCE instead of a SET; a DN that is an INTEGER.
            StructureTag {
                class: TagClass::Application,
                id: SEARCH_RESULT_ENTRY,
                payload: PL::C(vec![p(4, b"CN=a"), c(16, vec![]), p(4, b"x")]),
            },
            entry(
                b"CN=a",
                vec![c(16, vec![p(4, b"mail"), c(16, vec![p(4, b"v")])])],
            ),
            StructureTag {
                class: TagClass::Application,
                id: SEARCH_RESULT_ENTRY,
                payload: PL::C(vec![p(2, b"\x01"), c(16, vec![])]),
            },
            entry(b"CN=a", vec![attribute(b"m\xffil", &[b"v"])]),
            entry(
                b"CN=a",
                vec![c(16, vec![p(4, b"mail"), c(17, vec![c(4, vec![])])])],
            ),
        ];
        for tag in broken {
            assert!(attributes(tag.clone()).is_none(), "{tag:?}");
            assert!(search_entry(tag).is_none());
        }
    }
}
