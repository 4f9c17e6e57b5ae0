//! import-ini: the legacy relay_recipients.ini converted to TOML.
