//! `labform fingerprint URL`: the SHA-256 fingerprint of a Proxmox API's TLS certificate, to pin
//! with `fingerprint:` in the lab file or `--fingerprint`. Check it against the Proxmox web UI
//! (Node > System > Certificates) before trusting it.

use std::process::ExitCode;

/// Arguments of `labform fingerprint`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The API URL, `https://pve.lan:8006`.
    pub url: String,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let fingerprint = crate::runtime().block_on(labform_proxmox::fetch_fingerprint(&args.url))?;
    println!("{fingerprint}");
    Ok(ExitCode::SUCCESS)
}
