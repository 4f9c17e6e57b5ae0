//! One module per subcommand: each wires the pipeline stages together for one job and
//! returns the exit status; the stages themselves live in their own modules.

pub mod apply;
pub mod doctor;
pub mod extract;
pub mod import_ini;
pub mod prune;
pub mod push;
pub mod receive;
pub mod sync;
pub mod verify;
