//! One module per subcommand: each wires the pipeline stages together for one job and
//! returns the exit status; the stages themselves live in their own modules.

pub mod apply;
pub mod extract;
pub mod push;
pub mod receive;
pub mod sync;
