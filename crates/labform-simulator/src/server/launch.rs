//! `labform sim serve`: building the cluster from the command's options
//! (nodes, timing, seed, fault file, QEMU backend), starting the server and
//! serving until Ctrl-C or SIGTERM.

use super::*;
use crate::lab::LabShape;
use crate::persist::{SavedState, StateDirectory};

/// Options of the `labform sim serve` command.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// HTTPS listen address (`127.0.0.1:8006`).
    pub listen: SocketAddr,
    /// Optional plain-HTTP listen address.
    pub http_listen: Option<SocketAddr>,
    /// Password of root@pam; generated (and printed) if `None`.
    pub root_password: Option<Secret>,
    /// Number of nodes.
    pub nodes: usize,
    /// JSON fault file.
    pub faults: Option<PathBuf>,
    /// Timing (defaults to Proxmox-like real time).
    pub timing: Timing,
    /// Seed for MACs, UPID pids and fault decisions (random if `None`);
    /// fix it for reproducible runs.
    pub seed: Option<u64>,
    /// Run VMs as QEMU processes with real disk files (state only if `None`).
    pub qemu: Option<QemuOptions>,
    /// Keep the cluster's state in this directory ([`crate::persist`]): what it holds is served
    /// on start, and every change is saved before it is answered.
    pub state: Option<PathBuf>,
    /// Shape the cluster like a lab's endpoint (nodes, storages, bridges, images present);
    /// wins over `nodes` and over the shape saved in `state`.
    pub lab: Option<LabShape>,
    /// Whether `download-url` records instead of fetching (default: yes with `lab`, else no).
    pub offline_downloads: Option<bool>,
    /// Where to write the server's certificate (PEM), for clients that
    /// verify against a CA bundle.
    pub certificate_out: Option<PathBuf>,
    /// Slow storages: extra simulated seconds per operation, by storage.
    pub slow_storages: std::collections::BTreeMap<String, f64>,
    /// Node outages to play: the node, after how many simulated seconds it goes down, and for
    /// how long.
    pub node_outages: Vec<NodeOutage>,
}

/// A node going down and coming back (`sim serve --node-outage NODE:AFTER:FOR`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeOutage {
    /// The node.
    pub node: String,
    /// Simulated seconds from the start until it goes down.
    pub after_secs: f64,
    /// Simulated seconds it stays down.
    pub down_secs: f64,
}

impl std::str::FromStr for NodeOutage {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("`{text}` is not NODE:AFTER:FOR (seconds), e.g. pve2:30:20");
        let mut parts = text.split(':');
        let (Some(node), Some(after), Some(down), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(usage());
        };
        let seconds = |value: &str| {
            value
                .parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                .ok_or_else(usage)
        };
        if node.is_empty() {
            return Err(usage());
        }
        Ok(Self {
            node: node.to_owned(),
            after_secs: seconds(after)?,
            down_secs: seconds(down)?,
        })
    }
}

impl ServeOptions {
    /// Defaults: 3 nodes, real timing, no plain HTTP, generated password.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            http_listen: None,
            root_password: None,
            nodes: 3,
            faults: None,
            timing: Timing::default(),
            seed: None,
            qemu: None,
            state: None,
            lab: None,
            offline_downloads: None,
            certificate_out: None,
            slow_storages: std::collections::BTreeMap::new(),
            node_outages: Vec::new(),
        }
    }
}

/// A server started by [`launch`], with its root password.
#[derive(Debug)]
pub struct Launched {
    /// The server.
    pub server: RunningServer,
    /// root@pam's password.
    pub root_password: Secret,
    /// Whether the password was generated (and should be shown once).
    pub password_generated: bool,
    /// The simulated cluster.
    pub simulator: Simulator,
    /// With a state directory that held a saved state: how many VMs it had.
    pub restored_vms: Option<usize>,
}

/// Builds the cluster of `options` and starts serving it in the background.
pub async fn launch(options: ServeOptions) -> Result<Launched, ServeError> {
    let directory = options
        .state
        .as_deref()
        .map(StateDirectory::open)
        .transpose()
        .map_err(ServeError::State)?;
    let saved = match &directory {
        Some(directory) => directory.load().map_err(ServeError::State)?,
        None => None,
    };
    let (password, generated) = match options.root_password.clone() {
        Some(p) => (p, false),
        // A saved state keeps root@pam's password.
        None if saved.is_some() => (Secret::new(String::new()), false),
        None => (Secret::new(crate::sim::random_uuid()), true),
    };
    let mut config = SimConfig::cluster(options.nodes, password.clone());
    if let Some(saved) = &saved {
        saved.shape.apply_to(&mut config);
    }
    if let Some(lab) = &options.lab {
        lab.apply_to(&mut config);
    }
    if let Some(offline) = options.offline_downloads {
        config.offline_downloads = offline;
    }
    config.slow_storages = options.slow_storages.clone();
    config.timing = options.timing;
    config.seed = options.seed.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b)
            .map(|()| u64::from_le_bytes(b))
            .unwrap_or(1)
    });
    let faults = match &options.faults {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ServeError::FaultFile {
                path: path.clone(),
                source,
            })?;
            FaultConfig::from_json(&text).map_err(|source| ServeError::FaultParse {
                path: path.clone(),
                source,
            })?
        }
        None => FaultConfig::default(),
    };
    if let Some(qemu) = &options.qemu {
        config.backend = Arc::new(QemuBackend::new(qemu.clone()).map_err(ServeError::Backend)?);
    }
    let restored_vms = saved.as_ref().map(SavedState::vm_count);
    let sim = match directory {
        Some(directory) => Simulator::restore(
            config,
            faults,
            directory,
            saved,
            options.root_password.clone(),
        )
        .map_err(ServeError::State)?,
        None => Simulator::with_faults(config, faults),
    };
    for outage in &options.node_outages {
        sim.schedule_node_outage(&outage.node, outage.after_secs, outage.down_secs);
    }
    if let Some(lab) = &options.lab
        && !sim.backend().runs_vms()
    {
        for refused in lab.seed_images(&sim) {
            eprintln!("warning: {refused}; the simulator has it all the same");
        }
    }
    let password = sim.with_state(|state| {
        state
            .access
            .users
            .get("root@pam")
            .and_then(|root| root.password.clone())
            .unwrap_or(password)
    });
    let server = start(
        sim.clone(),
        ServerOptions {
            https: Some(options.listen),
            http: options.http_listen,
            observer: None,
        },
    )
    .await?;
    Ok(Launched {
        server,
        root_password: password,
        password_generated: generated,
        simulator: sim,
        restored_vms,
    })
}

/// Runs `labform sim serve`: [`launch`]es, prints the URL, the certificate
/// fingerprint and (if generated) the root password to stdout, and serves
/// until Ctrl-C.
pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let certificate_out = options.certificate_out.clone();
    let launched = launch(options).await?;
    let server = &launched.server;
    // Before the address: tests and scripts stop reading once they have it and the fingerprint.
    if let Some(directory) = launched.simulator.state_directory() {
        match launched.restored_vms {
            Some(vms) => println!(
                "state: {} (restored: {vms} VMs; tasks that were running ended as after a node went down)",
                directory.display()
            ),
            None => println!("state: {} (new)", directory.display()),
        }
    }
    println!(
        "Proxmox VE simulator listening on https://{}/api2/json",
        server.https_addr
    );
    if let Some(a) = server.http_addr {
        println!("plain HTTP on http://{a}/api2/json");
    }
    println!("certificate SHA-256 fingerprint: {}", server.fingerprint);
    if let Some(path) = &certificate_out {
        std::fs::write(path, &server.certificate_pem).map_err(|source| {
            ServeError::CertificateOut {
                path: path.clone(),
                source,
            }
        })?;
        println!("certificate written to {}", path.display());
    }
    if launched.password_generated {
        // Printed once, on purpose: the operator needs it to log in.
        println!("root@pam password: {}", launched.root_password.expose());
    }
    wait_for_termination().await?;
    launched.server.shutdown();
    launched.simulator.save().map_err(ServeError::State)?;
    // QEMU processes end with the simulator.
    let backend = Arc::clone(launched.simulator.backend());
    tokio::task::spawn_blocking(move || backend.stop_all())
        .await
        .map_err(|e| ServeError::Signal(std::io::Error::other(e)))?;
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM.
async fn wait_for_termination() -> Result<(), ServeError> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Signal)?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map_err(ServeError::Signal),
        _ = terminate.recv() => Ok(()),
    }
}
