//! The `labform` command: argument parsing and dispatch to one module per subcommand.
//!
//! Exit codes: 0 success, 1 the lab has errors, 2 usage errors (from clap) and, for `drift`,
//! drift found; 3 an operational failure (a file could not be written, ...).

mod acting;
mod clusters;
mod commands;
mod lab_input;
mod progress;
mod reality;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// labform: one declarative lab file to a running homelab on Proxmox VE.
#[derive(Debug, Parser)]
#[command(name = "labform", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a lab file and report every problem with its file, line, column and field.
    Validate(commands::validate::Args),
    /// Show what labform would build (offline), or change on a Proxmox (--live, --sim, --proxmox).
    Plan(commands::plan::Args),
    /// Build the lab: create, change and delete VMs on Proxmox, then bring up and converge the
    /// clusters on them (K3s and add-ons over SSH, Talos through its API), until everything
    /// matches the lab file.
    Apply(commands::apply::Args),
    /// Show hand-made changes to the lab's VMs on Proxmox (exit 2 when there are some).
    Drift(commands::drift::Args),
    /// Show what exists of the lab on Proxmox.
    Status(commands::status::Args),
    /// Delete every VM the lab owns.
    Destroy(commands::destroy::Args),
    /// Back VMs of the lab up now (vzdump through the Proxmox API, to their backup policy's
    /// storage and mode) and print each backup volume.
    Backup(commands::backup::Args),
    /// Restore a VM of the lab from one of its backup volumes, keeping its VM ID, address and
    /// keys, then bring it to the plan.
    Restore(commands::restore::Args),
    /// Draw the lab (clusters and infrastructure) as SVG, Mermaid or Graphviz DOT; with --live,
    /// --sim or --proxmox, coloured by what exists, is missing or drifted.
    Diagram(commands::diagram::Args),
    /// Show past applies and destroys and what each did.
    History(commands::history::Args),
    /// Serve a web dashboard of the lab (status, plan, history, diagrams, JSON API, Prometheus
    /// metrics); loopback only unless TLS and a bearer token are given. With --git, a controller
    /// that applies the lab's Git repository.
    Serve(Box<commands::serve::Args>),
    /// Write the files labform would put on machines (cloud-init, K3s and Talos configs,
    /// manifests) for review.
    #[command(long_about = commands::render::LONG_ABOUT)]
    Render(commands::render::Args),
    /// Print the JSON Schema of the lab file (for editors and outside validators).
    Schema(commands::schema::Args),
    /// The Proxmox VE simulator.
    Sim(commands::sim::Args),
    /// Merge the kubeconfigs of the lab's clusters into a kubeconfig file (or print them).
    Kubeconfig(commands::kubeconfig::Args),
    /// Merge the talosconfigs of the lab's Talos clusters into a talosconfig file (or print
    /// them).
    Talosconfig(commands::talosconfig::Args),
    /// Remove a cluster and its data from every one of its nodes (the VMs stay).
    Reset(commands::reset::Args),
    /// Replace a VM with a new one of the same VM ID, MAC, address and SSH host keys: a
    /// Kubernetes node is cordoned, drained, taken out of its cluster, recreated, rejoined and
    /// uncordoned (a control plane only while etcd keeps its quorum).
    Replace(commands::replace::Args),
    /// SSH to a VM of the lab, trusting only the host key labform made for it.
    Ssh(commands::ssh::Args),
    /// Print the SHA-256 fingerprint of a Proxmox API's certificate, to pin it.
    Fingerprint(commands::fingerprint::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Render(args) => commands::render::run(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Drift(args) => commands::drift::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Destroy(args) => commands::destroy::run(args),
        Command::Backup(args) => commands::backup::run(args),
        Command::Restore(args) => commands::restore::run(args),
        Command::Diagram(args) => commands::diagram::run(args),
        Command::History(args) => commands::history::run(args),
        Command::Serve(args) => commands::serve::run(*args),
        Command::Sim(args) => commands::sim::run(args),
        Command::Ssh(args) => commands::ssh::run(args),
        Command::Kubeconfig(args) => commands::kubeconfig::run(args),
        Command::Talosconfig(args) => commands::talosconfig::run(args),
        Command::Reset(args) => commands::reset::run(args),
        Command::Replace(args) => commands::replace::run(args),
        Command::Fingerprint(args) => commands::fingerprint::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(3)
        }
    }
}

/// `error` and its causes on one line each after the first, indented (`caused by: ...`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str("\n  caused by: ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The async runtime of commands that talk to Proxmox.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the Tokio runtime starts")
}

/// The journal for `scope`: `path` when given, else one file per scope (and per `--sim`) in
/// labform's state directory (`$XDG_STATE_HOME/labform`, or `~/.local/state/labform`).
pub fn open_journal(
    path: Option<&std::path::Path>,
    scope: &str,
    sim: bool,
) -> anyhow::Result<labform_executor::Journal> {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None => {
            let name = if sim {
                format!("{scope}.sim.journal.sqlite")
            } else {
                format!("{scope}.journal.sqlite")
            };
            state_home().join(name)
        }
    };
    Ok(labform_executor::Journal::open(&path)?)
}

/// labform's state directory: `$XDG_STATE_HOME/labform`, or `~/.local/state/labform`. It holds
/// the journals and the built-in simulator's state (`sim/`).
pub fn state_home() -> std::path::PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".local/state"))
        })
        .unwrap_or_else(|| std::path::PathBuf::from("."))
        .join("labform")
}
