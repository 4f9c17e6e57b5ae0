//! One page of a Graph listing or delta round, parsed into what rcptsync uses and nothing
//! more: the objects' selected properties, handed on one at a time while the page is parsed,
//! and the page's links. Everything else in the page (`@odata.context`, properties nobody
//! asked for, whatever a broken or hostile server adds) is skipped by the parser without being
//! kept.
//!
//! Why not a generic JSON tree: a tree of a body of tiny values (`[0,0,0,...]`) costs some 16
//! times the body's size, about 200 MB for a 16 MiB page. Here a page costs its body, the
//! largest string in it and one object, whose lists hold at most [`MAX_VALUES`] values.
//!
//! Security: the page is the tenant's (or whoever answers at `graph_url`), read before anything
//! in it is checked; this module only bounds what reading it costs. The values themselves are
//! checked later: the links by [`super::http::Http::check_origin`], the addresses by the
//! recipient rules.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The most values one property of one object may hold (`proxyAddresses`,
/// `supportedServices`): ten times the 400 proxy addresses Exchange Online allows a recipient.
/// Each value costs a few dozen bytes beside its text, so a list of empty strings filling a
/// page would otherwise cost some ten times the page.
pub const MAX_VALUES: usize = 4_000;

/// One Graph object: the properties rcptsync selects, by their Graph names. A property of the
/// wrong type makes the page unusable (Graph's schema fixes them); a value in a list that is
/// not a string is kept visibly (see [`Values`]).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    /// The object's id (a GUID; a domain's name for `/domains`).
    pub id: Option<String>,
    /// A user's UPN.
    pub user_principal_name: Option<String>,
    /// The addresses, `SMTP:` first.
    #[serde(default)]
    pub proxy_addresses: Values,
    /// False for a disabled user (a shared mailbox, among others).
    pub account_enabled: Option<bool>,
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
    /// Whether a domain is verified.
    pub is_verified: Option<bool>,
    /// A domain's services (`Email`, ...).
    #[serde(default)]
    pub supported_services: Values,
    /// Whether a group is mail-enabled (tracked by the groups' delta rounds, which cannot
    /// filter on it).
    pub mail_enabled: Option<bool>,
    /// In a delta round: the object is gone (deleted, or out of the collection's scope).
    #[serde(rename = "@removed")]
    pub removed: Option<serde::de::IgnoredAny>,
}

/// The values of a list property, at most [`MAX_VALUES`]. A value that is not a string is
/// kept as its JSON text (a list or object as `[...]` or `{...}`), so that the recipient rules
/// reject it visibly instead of it vanishing; `null` or a non-list is an empty list, as Graph
/// means it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Values(pub Vec<String>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValuesVisitor)
    }
}

struct ValuesVisitor;

impl<'de> Visitor<'de> for ValuesVisitor {
    type Value = Values;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of values")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
        let mut values = Vec::new();
        while let Some(Value(value)) = seq.next_element()? {
            if values.len() == MAX_VALUES {
                return Err(de::Error::custom(format_args!(
                    "an object has more than {MAX_VALUES} values in one property (Exchange Online \
                     allows 400 addresses)"
                )));
            }
            values.push(value);
        }
        Ok(Values(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Values, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Values::default())
    }

    fn visit_unit<E>(self) -> Result<Values, E> {
        Ok(Values::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Values, E> {
        Ok(Values::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Values, E> {
        Ok(Values::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Values, E> {
        Ok(Values::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Values, E> {
        Ok(Values::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<Values, E> {
        Ok(Values::default())
    }
}

/// One value of a list: a string as it is, anything else as its JSON text.
struct Value(String);

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value(v))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value(v.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value("null".to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value("[...]".to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value("{...}".to_owned()))
    }
}

/// A page's links, read after its objects were handed on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// Whether the page had its `value` list.
    pub has_value: bool,
    /// `@odata.nextLink`: the next page.
    pub next: Link,
    /// `@odata.deltaLink`: where the next delta round starts (the last page of a round).
    pub delta: Link,
}

/// One of a page's links.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Link {
    /// There is none (or it is `null`).
    #[default]
    Absent,
    /// The link.
    Text(String),
    /// Something that is not a string.
    NotText,
}

impl<'de> Deserialize<'de> for Link {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LinkVisitor)
    }
}

struct LinkVisitor;

impl<'de> Visitor<'de> for LinkVisitor {
    type Value = Link;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a link")
    }

    fn visit_str<E>(self, v: &str) -> Result<Link, E> {
        Ok(Link::Text(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Link, E> {
        Ok(Link::Text(v))
    }

    fn visit_unit<E>(self) -> Result<Link, E> {
        Ok(Link::Absent)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Link, E> {
        Ok(Link::NotText)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Link, E> {
        Ok(Link::NotText)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Link, E> {
        Ok(Link::NotText)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Link, E> {
        Ok(Link::NotText)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Link, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Link::NotText)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Link, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Link::NotText)
    }
}

/// The keys of a page that rcptsync reads; every other key is skipped.
#[derive(Deserialize)]
enum Key {
    #[serde(rename = "value")]
    Value,
    #[serde(rename = "@odata.nextLink")]
    Next,
    #[serde(rename = "@odata.deltaLink")]
    Delta,
    #[serde(other)]
    Other,
}

/// Parses `body`, a page, handing each object to `each` as soon as it is parsed; returns the
/// page's links, or why the page is not one (serde_json's message, which quotes any value it
/// names).
pub fn read(body: &[u8], each: &mut dyn FnMut(Object)) -> Result<Links, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let links = Page { each }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(links)
}

/// The page as a whole: a map whose `value` is read by [`Objects`].
struct Page<'a> {
    each: &'a mut dyn FnMut(Object),
}

impl<'de> DeserializeSeed<'de> for Page<'_> {
    type Value = Links;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Links, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Page<'_> {
    type Value = Links;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Graph page (a JSON object with a \"value\" list)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Links, A::Error> {
        let mut links = Links::default();
        let mut next = false;
        let mut delta = false;
        while let Some(key) = map.next_key()? {
            // A key given twice would let one page say two things; serde_json keeps neither.
            let again = |seen: &mut bool, name: &str| {
                if std::mem::replace(seen, true) {
                    Err(de::Error::custom(format_args!("{name} appears twice")))
                } else {
                    Ok(())
                }
            };
            match key {
                Key::Value => {
                    again(&mut links.has_value, "\"value\"")?;
                    map.next_value_seed(Objects {
                        each: &mut *self.each,
                    })?;
                }
                Key::Next => {
                    again(&mut next, "@odata.nextLink")?;
                    links.next = map.next_value()?;
                }
                Key::Delta => {
                    again(&mut delta, "@odata.deltaLink")?;
                    links.delta = map.next_value()?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(links)
    }
}

/// The `value` list, each object handed on as soon as it is parsed.
struct Objects<'a> {
    each: &'a mut dyn FnMut(Object),
}

impl<'de> DeserializeSeed<'de> for Objects<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Objects<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a \"value\" list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(object) = seq.next_element::<Object>()? {
            (self.each)(object);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<(Vec<Object>, Links), String> {
        let mut objects = Vec::new();
        let links = read(body.as_bytes(), &mut |o| objects.push(o)).map_err(|e| e.to_string())?;
        Ok((objects, links))
    }

    #[test]
    fn a_page_yields_its_objects_selected_properties_and_links() {
        let (objects, links) = parse(
            r#"{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                "value": [{"id": "u1", "userPrincipalName": "a@contoso.com", "displayName": "A",
                           "proxyAddresses": ["SMTP:a@contoso.com", 7, null, [1], {"a": 1}],
                           "accountEnabled": false, "userType": "Member", "extra": {"deep": [1, 2]}},
                          {"id": "d", "isVerified": true, "supportedServices": ["Email"]}],
                "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=x"}"#,
        )
        .unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].id.as_deref(), Some("u1"));
        assert_eq!(
            objects[0].user_principal_name.as_deref(),
            Some("a@contoso.com")
        );
        assert_eq!(
            objects[0].proxy_addresses.0,
            ["SMTP:a@contoso.com", "7", "null", "[...]", "{...}"]
        );
        assert_eq!(objects[0].account_enabled, Some(false));
        assert_eq!(objects[1].supported_services.0, ["Email"]);
        assert_eq!(objects[1].is_verified, Some(true));
        assert_eq!(
            links,
            Links {
                has_value: true,
                next: Link::Text("https://graph.microsoft.com/v1.0/users?$skiptoken=x".into()),
                delta: Link::Absent,
            }
        );
    }

    #[test]
    fn odd_links_and_a_missing_value_are_reported_not_guessed() {
        let (_, links) = parse(r#"{"@odata.deltaLink": 7, "@odata.nextLink": null}"#).unwrap();
        assert!(!links.has_value);
        assert_eq!(links.next, Link::Absent);
        assert_eq!(links.delta, Link::NotText);
        for (body, message) in [
            (r#"{"value": null}"#, "expected a \"value\" list of objects"),
            (r#"{"value": [], "value": []}"#, "\"value\" appears twice"),
            (
                r#"{"value": [], "@odata.nextLink": "https://a/1", "@odata.nextLink": "https://a/2"}"#,
                "@odata.nextLink appears twice",
            ),
            (r#"[]"#, "expected a Graph page"),
            (r#"{"value": []} x"#, "trailing characters"),
            (
                r#"{"value": [{"accountEnabled": "no"}]}"#,
                "expected a boolean",
            ),
        ] {
            let e = parse(body).map(|_| ()).unwrap_err();
            assert!(e.contains(message), "{body}: {e}");
        }
    }

    #[test]
    fn a_property_with_more_values_than_any_recipient_has_is_refused() {
        let list = |n: usize| vec!["\"\""; n].join(",");
        let body = format!(
            r#"{{"value": [{{"proxyAddresses": [{}]}}]}}"#,
            list(MAX_VALUES)
        );
        let (objects, _) = parse(&body).unwrap();
        assert_eq!(objects[0].proxy_addresses.0.len(), MAX_VALUES);
        let body = format!(
            r#"{{"value": [{{"proxyAddresses": [{}]}}]}}"#,
            list(MAX_VALUES + 1)
        );
        let e = parse(&body).map(|_| ()).unwrap_err();
        assert!(e.contains("more than 4000 values in one property"), "{e}");
    }

    #[test]
    fn objects_are_handed_on_while_the_page_is_parsed() {
        // The first object is handed on before the parser meets the broken second one: a
        // page is never held as a whole.
        let mut seen = Vec::new();
        let e = read(
            br#"{"value": [{"id": "a"}, {"id": 1}]}"#,
            &mut |o: Object| seen.push(o.id),
        )
        .unwrap_err();
        assert_eq!(seen, [Some("a".to_owned())]);
        assert!(e.to_string().contains("expected a string"), "{e}");
    }
}
