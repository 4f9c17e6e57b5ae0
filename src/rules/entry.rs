//! [`Entry`]: what a source hands to the recipient rules. It belongs to the rules (the
//! sources depend on the rules, never the other way round): one directory object, reduced to
//! the attributes the rules look at, whatever the transport it came over.

/// One directory object, reduced to what the recipient rules need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The object's DN, which every report about this entry names.
    pub dn: String,
    /// `proxyAddresses` values as stored (`SMTP:a@x`, `smtp:b@x`, `X500:/o=...`).
    pub proxy_addresses: Vec<String>,
    /// `mail` values, used only with `use_mail_attribute`.
    pub mail: Vec<String>,
    /// `msExchRequireAuthToSendTo` is TRUE: Exchange refuses unauthenticated senders anyway.
    pub require_auth: bool,
}

impl Entry {
    /// Reads an attribute's values into the entry, moving them (no copy). `name` may have any
    /// case and options (`proxyAddresses;range=0-1499`). Attributes the rules do not use are
    /// ignored (including `targetAddress`, which on contacts is an external forwarding
    /// address and must never be exported).
    pub fn add_values(&mut self, name: &str, values: Vec<String>) {
        let base = name.split(';').next().unwrap_or_default();
        if base.eq_ignore_ascii_case("proxyAddresses") {
            self.proxy_addresses.extend(values);
        } else if base.eq_ignore_ascii_case("mail") {
            self.mail.extend(values);
        } else if base.eq_ignore_ascii_case("msExchRequireAuthToSendTo") {
            self.require_auth |= values.iter().any(|v| v.eq_ignore_ascii_case("TRUE"));
        }
    }

    /// Where the object sits: its DN without the first RDN (the OU, for an AD user), for
    /// reports that group objects; empty for a DN of one RDN (a Graph object's id).
    pub fn container(&self) -> &str {
        let mut escaped = false;
        for (at, c) in self.dn.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                ',' => return self.dn[at + 1..].trim_start(),
                _ => {}
            }
        }
        ""
    }

    /// Reads one value given as bytes (LDIF); see [`Entry::add_values`].
    pub fn add_value(&mut self, name: &str, value: &[u8]) {
        self.add_values(name, vec![text(value)]);
    }

    /// The attributes [`Entry::add_values`] uses, for sources that can ask for only those.
    pub const ATTRIBUTES: [&'static str; 3] =
        ["proxyAddresses", "mail", "msExchRequireAuthToSendTo"];
}

/// Values are UTF-8 in LDAP; anything else is kept visibly broken (U+FFFD) so that the address
/// validator rejects and reports it instead of the source failing the whole run.
fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_is_the_dn_without_its_first_rdn() {
        let at = |dn: &str| {
            Entry {
                dn: dn.into(),
                ..Entry::default()
            }
            .container()
            .to_owned()
        };
        assert_eq!(at("CN=Smith\\, John,OU=Sales,DC=corp"), "OU=Sales,DC=corp");
        assert_eq!(at("uid=a, ou=people,dc=x"), "ou=people,dc=x");
        assert_eq!(at("0f1e2d3c-graph-id"), "");
    }
}
