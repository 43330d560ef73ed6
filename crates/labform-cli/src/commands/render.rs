//! `labform render FILE --out DIR`: writes everything labform would put on machines, for review
//! and for outside validators (the way `helm template` does): one folder per VM under `vms/`
//! (`user-data`, `meta-data`, `network-config`, `host-key.pub`, and `config.yaml` for K3s nodes;
//! `kubeadm.yaml` for kubeadm nodes, its secrets as markers;
//! `talos-machine-config.yaml` for Talos nodes, every secret a placeholder) and one per cluster under `clusters/` (manifests numbered in apply order and the list of
//! Secrets apply creates).
//!
//! Nothing secret is written: host keys appear as public keys, the join token as the path K3s
//! reads it from, add-on secrets as the names of Kubernetes Secrets with their lab references.
//! Host keys are made on first use and kept in labform's encrypted secret store, so later renders
//! (and apply) use the same keys and the output is byte-for-byte stable.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use labform_cloudinit::StoredHostKeys;
use labform_secrets::SecretStore;

use crate::lab_input::{LockArgs, plan_offline};

/// The long help of `labform render` (for `#[command(long_about = LONG_ABOUT)]` on the
/// subcommand, since the variant's doc comment would otherwise replace it).
pub const LONG_ABOUT: &str = "Write everything labform would put on machines into a directory, for review and \
for outside validators (like `helm template`): vms/VM/ with the cloud-init files (user-data, \
meta-data, network-config), the VM's public SSH host key and, for K3s nodes, config.yaml; for \
Talos nodes, talos-machine-config.yaml (every secret in it a placeholder; the real one goes only \
into the node's seed image); clusters/NAME/ with the add-on manifests numbered in apply order and required-secrets.yaml.\n\n\
Nothing secret is written to the directory: private host keys only go into the VMs' seed images, \
the K3s join token is referenced as the file /etc/rancher/k3s/token, and add-on secrets are \
referenced as Kubernetes Secrets that apply creates from the lab's secret references. Host keys \
are generated on first use and kept in labform's encrypted secret store (LABFORM_DATA_DIR, else \
XDG_DATA_HOME/labform, else ~/.local/share/labform), so renders are stable.\n\n\
Kubeadm nodes: kubeadm.yaml, the configuration in the API version the cluster's Kubernetes \
version reads (the bootstrap token, certificate key and CA hash as markers naming where labform \
keeps them), and on control planes the etcd snapshot timer, service and script.\n\n\
An existing output directory is replaced only if it holds an earlier render.";

/// Arguments of `labform render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The directory to write (created; an earlier render there is replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The lock file (read and checked; render never writes it).
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = plan_offline(&args.file, &args.lock)?;
    if !outcome.diagnostics.is_empty() {
        eprint!("{}", outcome.render_diagnostics());
    }
    let Some(planned) = outcome.planned.as_ref() else {
        return Ok(ExitCode::from(1));
    };
    let Some(plan) = planned.plan.as_ref() else {
        return Ok(ExitCode::from(1));
    };
    if let Err(error) = outcome.inputs.lock.check(&args.file, &planned.allocations) {
        return Ok(crate::lab_input::refused(&error));
    }
    if !args.lock.no_lock && planned.allocations != *outcome.inputs.lock.recorded() {
        eprintln!(
            "note: {} does not record every allocation of this render yet; run `labform plan {}` to record them",
            outcome.inputs.lock.path().display(),
            args.file.display()
        );
    }
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let host_keys = StoredHostKeys::new(&store, plan.scope.clone());
    let distributions = crate::clusters::distributions(None, None)?;
    let files = labform_kubernetes::render_lab(plan, &host_keys, &distributions)
        .with_context(|| format!("cannot render {}", args.file.display()))?;
    labform_kubernetes::write_rendered(&args.out, &files)
        .with_context(|| format!("cannot write the render to {}", args.out.display()))?;
    eprintln!("wrote {} files to {}", files.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}
