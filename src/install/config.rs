//! `[install]` (apply's side): the map, the spool, reload, the cdb writer and the open domains.
//! The table lives beside the gateway's code, so that a new setting of `apply` touches this
//! folder only; [`super::Settings`] is what the check makes of it.

use super::{CdbWriter, Reload};
use crate::postfix::{MapSpec, MapType};
use crate::rules::config::open_domains;
use crate::table::{Checker, Error, table};

table! {
    /// `[install]`.
    pub struct Install {
        /// where `receive` leaves the map (`relay_recipients`, the payload as received); `apply`
        /// takes exactly that file
        spool: String = "/var/spool/rcptsync",
        /// `TYPE:PATH` exactly as in `relay_recipient_maps`; TYPE is `hash`, `btree`, `cdb`,
        /// `lmdb` or `texthash`
        map: String = "lmdb:/etc/postfix/relay_recipients",
        /// passed as `-c` to every `postmap`, `postconf` and `postfix` command
        postfix_config_dir: String = "/etc/postfix",
        /// `auto`: `postfix reload` only for texthash (the other types are picked up by the
        /// daemons when the file is replaced); `always`; `never`
        reload: String = "auto",
        /// `native` writes cdb files itself (byte-identical to postmap's, keys without NUL);
        /// `postmap` uses `postmap cdb:`
        cdb_writer: String = "native",
        // Far above any real directory (a million recipients make about 80 MB), far below what
        // would hurt the gateway. `receive --max-bytes` defaults to it too.
        /// the largest map `apply` reads; a larger file is refused before a byte of it is read
        #[default_text = "(256 MiB)"]
        max_bytes: u64 = 268435456,
        /// the domains whose `@domain` wild-card line `apply` installs (shared address spaces:
        /// see `[recipients].internal_relay`); a map that opens any other domain is refused, so
        /// that whoever can write the spool cannot switch recipient checking off. Exact names
        internal_relay_domains: Vec<String> = [],
        /// the public keys (OpenSSH `.pub` lines, ed25519) whose signed approvals let a map
        /// past this gateway's removal guards, each approval once and only for the removals
        /// it names (see `rcptsync approve`); empty: a map over the limits is refused, as
        /// without approvals
        approval_keys: Vec<String> = [],
        /// whether the backend accepts `user+tag@` for a listed user (Exchange Online does by
        /// default since 2022, Exchange Server does not): `rcptsync doctor` compares it with
        /// `recipient_delimiter`, `rcptsync verify` probes a canary with a `+tag`
        backend_plus_addressing: Option<bool>,
        /// `TYPE:PATH` of a table of the accepted domains (`domain OK` lines) that apply
        /// installs from each map's payload, as the recipient map is, for the admin's
        /// `relay_domains` to name; unset: relay_domains is left to the admin
        relay_domains_map: Option<String>,
        /// the domains this gateway may relay (exact, or `*.example.com` for subdomains): a
        /// payload whose relay domains include any other is refused, so that whoever can
        /// write the spool cannot make the gateway relay for someone else's domain; required
        /// with relay_domains_map
        relay_domains_allowed: Vec<String> = [],
        /// how long the installed map may go without being confirmed current (by a new map,
        /// or the confirmation `sync` and `watch` send every `confirm_every`) before unknown
        /// recipients get a temporary 450 instead of 550, until it is confirmed again (apply
        /// switches `unknown_relay_recipient_reject_code`; `rcptsync-apply.timer` runs it);
        /// `"0"` never
        stale_after: String = "2d",
    }
}

impl Checker<'_> {
    /// `[install]` checked: the map's type and path as Postfix takes them, and a spool apart
    /// from the map's directory, which the receiving account must not be able to write.
    pub(crate) fn install(&self, raw: Install) -> Result<super::Settings, Error> {
        let map = self.map_spec("install.map", &raw.map, "relay_recipient_maps")?;
        let reload = match raw.reload.as_str() {
            "auto" => Reload::Auto,
            "always" => Reload::Always,
            "never" => Reload::Never,
            other => {
                return Err(self.invalid(
                    "install.reload",
                    format!("{other:?} is not auto, always or never"),
                ));
            }
        };
        let cdb_writer = match raw.cdb_writer.as_str() {
            "native" => CdbWriter::Native,
            "postmap" => CdbWriter::Postmap,
            other => {
                return Err(self.invalid(
                    "install.cdb_writer",
                    format!("{other:?} is not native or postmap"),
                ));
            }
        };
        let spool = self.resolve(&raw.spool);
        if crate::map::atomic::dir_of(&map.path) == spool {
            return Err(self.invalid(
                "install.spool",
                format!(
                    "{} is also the directory of install.map: the receiving account must not \
                     be able to write where Postfix's map lives; use a spool of its own",
                    spool.display()
                ),
            ));
        }
        let relay_domains = match &raw.relay_domains_map {
            None => None,
            Some(text) => Some(self.relay_table(text, &raw.relay_domains_allowed, &map, &spool)?),
        };
        let approval_keys = raw
            .approval_keys
            .iter()
            .map(|line| {
                crate::hold::approval::parse_public(line)
                    .map_err(|e| self.invalid("install.approval_keys", format!("{line:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let stale_after = match raw.stale_after.trim() {
            "0" => None,
            text => Some(self.duration("install.stale_after", text)?),
        };
        Ok(super::Settings {
            stale_after,
            relay_domains,
            approval_keys,
            backend_plus_addressing: raw.backend_plus_addressing,
            spool,
            map,
            postfix_config_dir: self.resolve(&raw.postfix_config_dir),
            reload,
            cdb_writer,
            max_bytes: raw.max_bytes,
            internal_relay_domains: open_domains(
                self,
                "install.internal_relay_domains",
                &raw.internal_relay_domains,
            )?,
        })
    }

    /// A `TYPE:PATH` setting as Postfix takes it in `parameter`.
    fn map_spec(&self, key: &str, text: &str, parameter: &str) -> Result<MapSpec, Error> {
        let Some(spec) = MapSpec::parse(text) else {
            let types: Vec<&str> = MapType::ALL.iter().map(|t| t.name()).collect();
            return Err(self.invalid(
                key,
                format!(
                    "{text:?} is not TYPE:PATH with TYPE one of {}",
                    types.join(", ")
                ),
            ));
        };
        if !spec.path.is_absolute() {
            return Err(self.invalid(
                key,
                format!("{text:?}: the path must be absolute, as in {parameter}"),
            ));
        }
        Ok(spec)
    }

    /// `relay_domains_map` and `relay_domains_allowed` checked: a table of its own, out of the
    /// spool's reach, and the patterns that bound it.
    fn relay_table(
        &self,
        text: &str,
        allowed: &[String],
        map: &MapSpec,
        spool: &std::path::Path,
    ) -> Result<super::RelayTable, Error> {
        let key = "install.relay_domains_map";
        let table = self.map_spec(key, text, "relay_domains")?;
        if table.path == map.path {
            return Err(self.invalid(
                key,
                format!("{text:?} is install.map's file; the domains need a table of their own"),
            ));
        }
        if crate::map::atomic::dir_of(&table.path) == spool {
            return Err(self.invalid(
                key,
                format!(
                    "{text:?} is in the spool {}: the receiving account must not be able to \
                     write where Postfix's tables live",
                    spool.display()
                ),
            ));
        }
        if allowed.is_empty() {
            return Err(self.invalid(
                "install.relay_domains_allowed",
                "empty, so every relay domain a map brings would be refused: list the domains \
                 this gateway may relay (`example.com`, `*.example.com`)",
            ));
        }
        let allowed = super::relay::Domains::from_config(allowed)
            .map_err(|e| self.invalid("install.relay_domains_allowed", e.to_string()))?;
        Ok(super::RelayTable {
            map: table,
            allowed,
        })
    }
}
