//! `labform sim serve`: the Proxmox VE simulator as a server, for labform and for any other
//! Proxmox client (Terraform providers, Ansible, proxmoxer) to be pointed at; with `--state DIR`
//! it keeps its state across restarts, with `--lab FILE` it is shaped like a lab's endpoint.
//! With `--qemu`, started VMs are real QEMU virtual machines on bridges in a network namespace.
//! `labform sim reset` clears the state the embedded `--sim` target keeps.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use labform_executor::inputs::{Inputs, LockMode};
use labform_proxmox::Secret;
use labform_simulator::Timing;
use labform_simulator::backend::qemu::{BridgeSpec, DirectKernel, QemuOptions};
use labform_simulator::lab::LabShape;
use labform_simulator::persist::StateDirectory;
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
    Serve(Box<ServeArgs>),
    /// Clear the state the built-in simulator (`--sim`) keeps for FILE's scope (without FILE:
    /// for every scope), or a `sim serve` state directory (--state).
    Reset(ResetArgs),
}

#[derive(Debug, clap::Args)]
struct ResetArgs {
    /// The lab whose `--sim` state to clear.
    #[arg(value_name = "FILE", conflicts_with = "state")]
    file: Option<PathBuf>,
    /// A `sim serve --state` directory to clear instead.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
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
    /// Nodes in the cluster (pve1, pve2, ...), for a new cluster without --lab.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Keep the cluster's state in DIR: every VM, volume, task and its log, user, token, ACL
    /// entry and pool survives a restart (or a kill); a restart serves what DIR holds.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Shape the cluster like the lab's endpoint: its nodes, storages and bridges (VLAN-aware
    /// where the lab uses tags), with the lab's images present and downloads recorded instead of
    /// fetched (--fetch-downloads fetches them).
    #[arg(long, value_name = "FILE")]
    lab: Option<PathBuf>,
    /// With --lab: the endpoint to stand in for, when the lab has several.
    #[arg(long, value_name = "NAME", requires = "lab")]
    endpoint: Option<String>,
    /// `download-url` records the file instead of fetching it (the task log says so); the
    /// default with --lab.
    #[arg(long, conflicts_with = "fetch_downloads")]
    offline_downloads: bool,
    /// `download-url` fetches the file, even with --lab.
    #[arg(long)]
    fetch_downloads: bool,
    /// Realism: a new VM is listed in /cluster/resources without its name, template flag and
    /// figures (status `unknown`) for this many simulated seconds, like pvestatd's broadcast lag
    /// on real Proxmox (about 10). Off (0) by default.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    resources_lag: f64,
    /// Realism: a node goes down AFTER simulated seconds from the start and comes back FOR
    /// seconds later (its tasks end, its VMs stop; those with onboot=1 start again). Repeatable.
    #[arg(long, value_name = "NODE:AFTER:FOR")]
    node_outage: Vec<labform_simulator::server::NodeOutage>,
    /// Realism: every operation on this storage takes SECONDS (simulated) longer, its lock held.
    /// Repeatable.
    #[arg(long, value_name = "STORAGE=SECONDS", value_parser = parse_slow_storage)]
    slow_storage: Vec<(String, f64)>,
    /// Fault injection file (JSON).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Write the server's self-signed certificate (PEM) to FILE, for clients that verify
    /// against a CA bundle (proxmoxer's verify_ssl, curl --cacert).
    #[arg(long, value_name = "FILE")]
    certificate_out: Option<PathBuf>,
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
    let serve_args = match args.command {
        SimCommand::Serve(serve_args) => *serve_args,
        SimCommand::Reset(reset_args) => return reset(reset_args),
    };
    let mut options = ServeOptions::new(serve_args.listen);
    options.state = serve_args.state;
    if let Some(file) = &serve_args.lab {
        let inputs = Inputs::read(file, None, LockMode::Ignore)?;
        let Some(lab) = inputs.lab.as_ref().filter(|_| {
            !inputs
                .diagnostics
                .iter()
                .any(labform_model::Diagnostic::is_error)
        }) else {
            eprint!(
                "{}",
                labform_model::diagnostic::render_all(&inputs.diagnostics, &inputs.sources)
            );
            return Ok(ExitCode::from(1));
        };
        let shape = LabShape::of(lab, serve_args.endpoint.as_deref())
            .map_err(|message| anyhow::anyhow!("{}: {message}", file.display()))?;
        options.lab = Some(shape);
    }
    if serve_args.offline_downloads {
        options.offline_downloads = Some(true);
    }
    if serve_args.fetch_downloads || (serve_args.qemu && !serve_args.offline_downloads) {
        // Real VMs need real images.
        options.offline_downloads = Some(false);
    }
    options.http_listen = serve_args.http_listen;
    options.root_password = serve_args.root_password.map(Secret::new);
    options.nodes = serve_args.nodes;
    options.faults = serve_args.faults;
    options.certificate_out = serve_args.certificate_out;
    options.timing = Timing::scaled(serve_args.time_scale);
    options.timing.resources_lag_secs = serve_args.resources_lag;
    options.node_outages = serve_args.node_outage;
    options.slow_storages = serve_args.slow_storage.into_iter().collect();
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

fn parse_slow_storage(text: &str) -> Result<(String, f64), String> {
    let (storage, seconds) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not STORAGE=SECONDS"))?;
    let seconds: f64 = seconds
        .parse()
        .ok()
        .filter(|seconds: &f64| seconds.is_finite() && *seconds >= 0.0)
        .ok_or_else(|| format!("`{text}`: SECONDS must be a number of seconds"))?;
    Ok((storage.to_owned(), seconds))
}

fn reset(args: ResetArgs) -> anyhow::Result<ExitCode> {
    if let Some(directory) = &args.state {
        clear(directory)?;
        println!("Cleared the simulator state in {}.", directory.display());
        return Ok(ExitCode::SUCCESS);
    }
    let root = crate::target::sim_state_root();
    let scopes: Vec<PathBuf> = match &args.file {
        Some(file) => {
            let inputs = Inputs::read(file, None, LockMode::Ignore)?;
            let Some(lab) = &inputs.lab else {
                eprint!(
                    "{}",
                    labform_model::diagnostic::render_all(&inputs.diagnostics, &inputs.sources)
                );
                return Ok(ExitCode::from(1));
            };
            vec![root.join(lab.scope())]
        }
        None => match std::fs::read_dir(&root) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.is_dir())
                .collect(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", root.display()));
            }
        },
    };
    let mut cleared = 0;
    for scope in &scopes {
        let Ok(endpoints) = std::fs::read_dir(scope) else {
            continue;
        };
        for endpoint in endpoints.filter_map(Result::ok) {
            clear(&endpoint.path())?;
            cleared += 1;
        }
        std::fs::remove_dir_all(scope)
            .with_context(|| format!("cannot remove {}", scope.display()))?;
    }
    match (cleared, &args.file) {
        (0, Some(_)) => println!("The built-in simulator keeps no state for this lab."),
        (0, None) => println!("The built-in simulator keeps no state."),
        (n, _) => println!(
            "Cleared the built-in simulator's state ({n} endpoint{}).",
            if n == 1 { "" } else { "s" }
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Clears the state in `directory`, refusing while a simulator or command uses it.
fn clear(directory: &Path) -> anyhow::Result<()> {
    let state = StateDirectory::open(directory)?;
    state.clear()?;
    Ok(())
}
