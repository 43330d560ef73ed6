//! Where a command acts: the lab's own Proxmox endpoints (credentials from the lab's secret
//! references), one endpoint given on the command line (`--proxmox URL --fingerprint SHA256` with
//! `LABFORM_PVE_TOKEN`, or `LABFORM_PVE_USER` and `LABFORM_PVE_PASSWORD`), or a simulator inside
//! the process (`--sim`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use labform_executor::engine::Endpoint;
use labform_model::SecretRef;
use labform_model::lab::{Credentials, LabFile, ProxmoxEndpoint};
use labform_proxmox::tls::{Fingerprint, TlsTrust};
use labform_proxmox::{Auth, Client, ClientOptions, ProxmoxApi, Secret};
use labform_simulator::faults::FaultConfig;
use labform_simulator::lab::LabShape;
use labform_simulator::persist::StateDirectory;
use labform_simulator::{SimConfig, Simulator, Timing};

/// Target options shared by `plan`, `apply`, `drift`, `status` and `destroy`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// Act on a Proxmox simulator inside this process, shaped like the lab's endpoints, whose
    /// state lasts between commands (per lab scope, in labform's state directory;
    /// `labform sim reset FILE` clears it).
    #[arg(long, conflicts_with = "proxmox")]
    pub sim: bool,
    /// Act on this Proxmox API instead of the lab's endpoint (credentials from LABFORM_PVE_TOKEN,
    /// or LABFORM_PVE_USER and LABFORM_PVE_PASSWORD).
    #[arg(long, value_name = "URL")]
    pub proxmox: Option<String>,
    /// SHA-256 fingerprint of the API's certificate to pin (`labform fingerprint URL` shows it).
    #[arg(long, value_name = "SHA256", requires = "proxmox")]
    pub fingerprint: Option<String>,
}

impl TargetArgs {
    /// Whether a target was chosen on the command line.
    pub fn explicit(&self) -> bool {
        self.sim || self.proxmox.is_some()
    }
}

/// The endpoints a command acts on, and what keeps them alive.
pub struct Connected {
    /// One per lab endpoint.
    pub endpoints: Vec<Endpoint>,
    /// For messages: where labform acts.
    pub description: String,
}

/// Connects to the endpoints of `lab` as `args` says.
pub fn connect(lab: &LabFile, lab_path: &Path, args: &TargetArgs) -> anyhow::Result<Connected> {
    if args.sim {
        let mut endpoints = Vec::new();
        for endpoint in &lab.proxmox {
            // The client keeps the simulator alive for as long as the command runs.
            let simulator = embedded_simulator(lab, endpoint)?;
            let api: Arc<dyn ProxmoxApi> = Arc::new(simulator.root());
            endpoints.push(Endpoint {
                name: endpoint.name.clone(),
                address: format!("the built-in simulator (endpoint `{}`)", endpoint.name),
                api,
            });
        }
        return Ok(Connected {
            endpoints,
            description: "the built-in Proxmox simulator (in this process, its state kept between commands; images pre-seeded, nothing downloaded)".to_owned(),
        });
    }
    if let Some(url) = &args.proxmox {
        if lab.proxmox.len() != 1 {
            bail!(
                "--proxmox replaces the lab's one endpoint, but the lab has {}; drop --proxmox",
                lab.proxmox.len()
            );
        }
        let auth = auth_from_environment()?;
        let tls = match &args.fingerprint {
            Some(fingerprint) => TlsTrust::Fingerprint(
                Fingerprint::parse(fingerprint)
                    .with_context(|| format!("`{fingerprint}` is not a SHA-256 fingerprint"))?,
            ),
            None => TlsTrust::SystemRoots,
        };
        let client = Client::new(ClientOptions::new(url.clone(), auth, tls))
            .with_context(|| format!("cannot set up a client for {url}"))?;
        return Ok(Connected {
            endpoints: vec![Endpoint {
                name: lab.proxmox[0].name.clone(),
                address: url.clone(),
                api: Arc::new(client),
            }],
            description: url.clone(),
        });
    }
    let base = lab_path.parent().unwrap_or(Path::new("."));
    let mut endpoints = Vec::new();
    for endpoint in &lab.proxmox {
        let auth = match &endpoint.credentials {
            Credentials::Token(token) => Auth::Token {
                token_id: token.id.clone(),
                secret: resolve_secret(&token.secret, base).with_context(|| {
                    format!(
                        "cannot read the API token secret of endpoint `{}`",
                        endpoint.name
                    )
                })?,
            },
            Credentials::Password(password) => Auth::Password {
                username: password.user.clone(),
                password: resolve_secret(&password.password, base).with_context(|| {
                    format!("cannot read the password of endpoint `{}`", endpoint.name)
                })?,
            },
        };
        let tls = match &endpoint.fingerprint {
            Some(fingerprint) => TlsTrust::Fingerprint(Fingerprint::parse(fingerprint)?),
            None => TlsTrust::SystemRoots,
        };
        let client = Client::new(ClientOptions::new(endpoint.endpoint.clone(), auth, tls))
            .with_context(|| format!("cannot set up a client for {}", endpoint.endpoint))?;
        endpoints.push(Endpoint {
            name: endpoint.name.clone(),
            address: endpoint.endpoint.clone(),
            api: Arc::new(client),
        });
    }
    let description = lab
        .proxmox
        .iter()
        .map(|endpoint| endpoint.endpoint.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Connected {
        endpoints,
        description,
    })
}

/// Where the built-in simulator keeps its state: `sim/` in labform's state directory, one
/// directory per lab scope, one below it per endpoint.
pub fn sim_state_root() -> PathBuf {
    crate::state_home().join("sim")
}

/// The built-in simulator of `lab`'s `endpoint`: shaped like it (nodes, storages, bridges,
/// images present, downloads recorded), with the state earlier commands left in
/// `sim/<scope>/<endpoint>` of labform's state directory, saved after every change.
fn embedded_simulator(lab: &LabFile, endpoint: &ProxmoxEndpoint) -> anyhow::Result<Simulator> {
    let directory = sim_state_root().join(lab.scope()).join(&endpoint.name);
    let state = StateDirectory::open_waiting(&directory, &mut || {
        eprintln!(
            "waiting for another labform command using the built-in simulator of endpoint `{}`",
            endpoint.name
        );
    })
    .with_context(|| {
        format!(
            "cannot use the built-in simulator's state of endpoint `{}`",
            endpoint.name
        )
    })?;
    let saved = state.load()?;
    let shape = LabShape {
        endpoint: endpoint.clone(),
        images: lab.images.clone(),
        networks: lab.networks.clone(),
    };
    let password = Secret::new(random_password());
    let mut config = SimConfig::cluster(1, password.clone());
    shape.apply_to(&mut config);
    config.timing = Timing::scaled(0.05);
    let simulator =
        Simulator::restore(config, FaultConfig::default(), state, saved, Some(password))?;
    for refused in shape.seed_images(&simulator) {
        eprintln!("warning: {refused}; the simulator has it all the same");
    }
    Ok(simulator)
}

fn auth_from_environment() -> anyhow::Result<Auth> {
    if let Ok(token) = std::env::var("LABFORM_PVE_TOKEN") {
        let (token_id, secret) = token
            .split_once('=')
            .context("LABFORM_PVE_TOKEN must be USER@REALM!TOKENID=SECRET")?;
        return Ok(Auth::Token {
            token_id: token_id.to_owned(),
            secret: Secret::new(secret),
        });
    }
    match (
        std::env::var("LABFORM_PVE_USER"),
        std::env::var("LABFORM_PVE_PASSWORD"),
    ) {
        (Ok(username), Ok(password)) => Ok(Auth::Password {
            username,
            password: Secret::new(password),
        }),
        _ => bail!(
            "--proxmox needs credentials: set LABFORM_PVE_TOKEN=USER@REALM!TOKENID=SECRET, or LABFORM_PVE_USER and LABFORM_PVE_PASSWORD"
        ),
    }
}

/// The value of a secret reference. Only the reference appears in errors, never the value.
pub fn resolve_secret(reference: &SecretRef, base: &Path) -> anyhow::Result<Secret> {
    match reference {
        SecretRef::Env(name) => std::env::var(name)
            .map(Secret::new)
            .with_context(|| format!("the environment variable {name} is not set")),
        SecretRef::File(path) => {
            let path = base.join(path);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
        }
        SecretRef::Vault(_) | SecretRef::Store(_) => {
            bail!(
                "secret reference `{reference}` cannot be resolved yet: labform reads env and file references today"
            )
        }
    }
}

fn random_password() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        use std::io::Read as _;
        let _ = file.read_exact(&mut bytes);
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
