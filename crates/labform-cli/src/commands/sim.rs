//! `labform sim serve`: the Proxmox VE simulator as a server, for labform and for any other
//! Proxmox client (Terraform providers, Ansible, proxmoxer) to be pointed at.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use labform_proxmox::Secret;
use labform_simulator::Timing;
use labform_simulator::server::{ServeOptions, serve};

/// Arguments of `labform sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: SimCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SimCommand {
    /// Serve a simulated Proxmox VE cluster over HTTPS (self-signed; the fingerprint is printed)
    /// until Ctrl-C.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// HTTPS address (port 0 picks a free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8006")]
    listen: SocketAddr,
    /// Also serve plain HTTP here.
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<SocketAddr>,
    /// Password of root@pam (default: generated and printed once).
    #[arg(long, env = "LABFORM_SIM_ROOT_PASSWORD", hide_env_values = true)]
    root_password: Option<String>,
    /// Nodes in the cluster (pve1, pve2, ...).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Fault injection file (JSON).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Multiplies every simulated duration (1 = like Proxmox; 0.01 = a hundred times faster).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let SimCommand::Serve(serve_args) = args.command;
    let mut options = ServeOptions::new(serve_args.listen);
    options.http_listen = serve_args.http_listen;
    options.root_password = serve_args.root_password.map(Secret::new);
    options.nodes = serve_args.nodes;
    options.faults = serve_args.faults;
    options.timing = Timing::scaled(serve_args.time_scale);
    crate::runtime().block_on(serve(options))?;
    Ok(ExitCode::SUCCESS)
}
