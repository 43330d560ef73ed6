//! `labform ssh FILE VM [-- COMMAND...]`: OpenSSH to a VM of the lab at its planned address, as its
//! cloud-init user, trusting only the host key labform generated for it (the first connection is
//! already verified; no trust on first use). Exits with ssh's exit code.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use labform_cloudinit::{HostKeyPair, host_key_store_key};
use labform_secrets::SecretStore;

use crate::lab_input::offline_plan;

/// Arguments of `labform ssh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// The VM, by name (`home-server-0`).
    pub vm: String,
    /// Private key to log in with (passed to ssh as `-i`; default: ssh's own choice).
    #[arg(long, short = 'i', value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// A command to run instead of a shell.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = match offline_plan(&args.file, &args.lock)? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let Some(vm) = plan.vms.iter().find(|vm| vm.name == args.vm) else {
        let names: Vec<&str> = plan.vms.iter().map(|vm| vm.name.as_str()).collect();
        bail!(
            "the lab has no VM `{}`; its VMs: {}",
            args.vm,
            names.join(", ")
        );
    };
    let Some(cloud_init) = &vm.cloud_init else {
        bail!(
            "`{}` is not configured by cloud-init (it boots an installer or Talos), so labform made no user or host key for it",
            vm.name
        );
    };
    let Some(address) = vm.nic.address else {
        bail!(
            "`{}` gets its address by DHCP; labform does not know where to connect",
            vm.name
        );
    };
    let store = SecretStore::open_default().context("cannot open labform's secret store")?;
    let key = host_key_store_key(&plan.scope, &vm.name)?;
    let Some(private) = store
        .get(&key)
        .context("cannot read the host key from labform's secret store")?
    else {
        bail!(
            "labform's secret store has no host key for `{}`: it was not created (or rendered) from this machine's store",
            vm.name
        );
    };
    let pair = HostKeyPair::from_private_openssh(&vm.name, &private)?;
    let mut known_hosts =
        tempfile::NamedTempFile::new().context("cannot write a known_hosts file")?;
    writeln!(known_hosts, "{address} {}", pair.public_openssh())
        .context("cannot write a known_hosts file")?;
    let mut ssh = std::process::Command::new("ssh");
    ssh.arg("-o")
        .arg("StrictHostKeyChecking=yes")
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            known_hosts.path().display()
        ))
        .arg("-o")
        .arg("GlobalKnownHostsFile=/dev/null");
    if let Some(identity) = &args.identity {
        ssh.arg("-i").arg(identity);
    }
    ssh.arg(format!("{}@{address}", cloud_init.user));
    if !args.command.is_empty() {
        ssh.arg("--").args(&args.command);
    }
    let status = ssh
        .status()
        .context("cannot run ssh (install OpenSSH's client)")?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(code.clamp(0, 255) as u8),
        None => ExitCode::from(255),
    })
}
