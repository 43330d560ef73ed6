//! One module per subcommand; each has its clap `Args` and a `run` returning the exit code.

pub mod apply;
pub mod backup;
pub mod destroy;
pub mod diagram;
pub mod drift;
pub mod fingerprint;
pub mod history;
pub mod kubeconfig;
pub mod plan;
pub mod render;
pub mod replace;
pub mod reset;
pub mod restore;
pub mod schema;
pub mod serve;
pub mod sim;
pub mod ssh;
pub mod status;
pub mod talosconfig;
pub mod validate;
