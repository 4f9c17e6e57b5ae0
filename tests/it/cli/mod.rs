//! The binary on files only: extract's map and diff, the safety guards, errors and their exit
//! codes, import-ini, the bundled example, and watch on files.

#[cfg(feature = "system-tests")]
mod check;
mod errors;
mod example;
mod extract;
mod guards;
mod held;
mod import_ini;
mod metrics;
mod plugin;
mod secrets;
pub(crate) mod util;
pub(crate) mod watch;
