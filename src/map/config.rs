//! `[output]`: where `extract` writes the map and what each line says after the address. The
//! table lives beside the map's code, so that a new setting of the map touches this folder
//! only; [`super::Output`] is what the check makes of it.

use crate::table::{Checker, Error, table};

table! {
    /// `[output]`.
    pub struct Output {
        /// the Postfix text map to write; its directory is created if missing
        #[default_text = "(required)"]
        path: String,
        /// the right-hand side of every line (one word)
        value: String = "OK",
    }
}

impl Checker<'_> {
    /// `[output]` checked: Postfix needs a value of one word, and the path is resolved against
    /// the config's directory.
    pub(crate) fn output(&self, raw: Output) -> Result<super::Output, Error> {
        if raw.path.is_empty() {
            return Err(self.invalid("output.path", "empty path"));
        }
        if raw.value.is_empty()
            || raw
                .value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(self.invalid(
                "output.value",
                format!("{:?}: the map value must be one non-empty word without spaces (Postfix needs a non-empty value; \"OK\" is usual)", raw.value),
            ));
        }
        Ok(super::Output {
            path: self.resolve(&raw.path),
            value: raw.value,
        })
    }
}
