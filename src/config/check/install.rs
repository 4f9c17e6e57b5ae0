//! `[install]` (apply's side): the map, the spool, reload, the cdb writer and the open domains.

use super::super::{Error, raw};
use super::Checker;
use crate::install::{self, CdbWriter, Reload};
use crate::postfix::{MapSpec, MapType};
use crate::rules::config::open_domains;

impl Checker<'_> {
    pub(super) fn install(&self, raw: raw::Install) -> Result<install::Settings, Error> {
        let map_text = raw.map;
        let Some(map) = MapSpec::parse(&map_text) else {
            let types: Vec<&str> = MapType::ALL.iter().map(|t| t.name()).collect();
            return Err(self.invalid(
                "install.map",
                format!(
                    "{map_text:?} is not TYPE:PATH with TYPE one of {}",
                    types.join(", ")
                ),
            ));
        };
        if !map.path.is_absolute() {
            return Err(self.invalid(
                "install.map",
                format!("{map_text:?}: the path must be absolute, as in relay_recipient_maps"),
            ));
        }
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
        Ok(install::Settings {
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
}
