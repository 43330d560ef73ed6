//! One module per subcommand; each has its clap `Args` and a `run` returning the exit code.

pub mod plan;
pub mod schema;
pub mod validate;
