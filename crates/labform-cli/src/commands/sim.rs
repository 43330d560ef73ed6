//! `labform sim serve`: the Proxmox VE simulator as a server, for labform and for any other
//! Proxmox client (Terraform providers, Ansible, proxmoxer) to be pointed at. With `--qemu`,
//! started VMs are real QEMU virtual machines on bridges in a network namespace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use labform_proxmox::Secret;
use labform_simulator::Timing;
use labform_simulator::backend::qemu::{BridgeSpec, DirectKernel, QemuOptions};
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
    /// Run started VMs as real QEMU virtual machines, with real disk files (needs root,
    /// qemu-system-x86, qemu-utils and genisoimage).
    #[arg(long, requires = "state_dir")]
    qemu: bool,
    /// With --qemu: where disk files, ISOs and QEMU's run files are kept.
    #[arg(long, value_name = "DIR", requires = "qemu")]
    state_dir: Option<PathBuf>,
    /// With --qemu: the network namespace the VMs' taps and bridges live in; created if missing
    /// (and then deleted when the simulator stops). Default: the host's own namespace.
    #[arg(long, value_name = "NAME", requires = "qemu")]
    netns: Option<String>,
    /// With --qemu: a bridge to create, with an address for the host side (the lab's gateway),
    /// e.g. vmbr0=10.0.20.1/24. Repeatable.
    #[arg(long, value_name = "NAME[=ADDRESS/PREFIX]", requires = "qemu")]
    bridge: Vec<BridgeSpec>,
    /// With --qemu: boot VMs with this directory's kernel (vmlinuz, initrd.img, KERNEL_CMDLINE)
    /// instead of the disk's boot loader, for root-filesystem images.
    #[arg(long, value_name = "DIR", requires = "qemu")]
    kernel_dir: Option<PathBuf>,
    /// With --qemu: hardware acceleration (kvm) or software emulation (tcg).
    #[arg(long, value_name = "ACCEL", default_value = "tcg", value_parser = ["kvm", "tcg"])]
    accel: String,
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
    if serve_args.qemu {
        let state_dir = serve_args
            .state_dir
            .ok_or_else(|| anyhow::anyhow!("--qemu needs --state-dir"))?;
        let mut qemu = QemuOptions::new(state_dir);
        qemu.netns = serve_args.netns;
        qemu.create_netns = true;
        qemu.bridges = serve_args.bridge;
        qemu.kernel = serve_args
            .kernel_dir
            .map(|dir| DirectKernel::from_image_dir(&dir))
            .transpose()?;
        qemu.cpu = if serve_args.accel == "kvm" {
            "host"
        } else {
            "max"
        }
        .into();
        qemu.accelerator = serve_args.accel;
        options.qemu = Some(qemu);
    }
    crate::runtime().block_on(serve(options))?;
    Ok(ExitCode::SUCCESS)
}
