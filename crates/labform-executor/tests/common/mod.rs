//! Shared test helpers: a simulated Proxmox shaped like a lab's endpoint, and one full
//! discover → plan → reconcile → apply cycle.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use labform_cloudinit::{CloudInitError, HostKeyPair, HostKeySource, PlanSeeds, SeedSource};
use labform_executor::engine::NoSeeds;

use labform_executor::engine::{ApplyOptions, ApplyReport, Endpoint, apply};
use labform_executor::events::Collect;
use labform_executor::inputs::plan_against_endpoints;
use labform_executor::metered::Metered;
use labform_executor::{Journal, discover, discover_access};
use labform_model::lab::LabFile;
use labform_model::{RealFileSystem, load};
use labform_planner::inventory::Inventory;
use labform_planner::reconcile::Reconciliation;
use labform_planner::{Allocations, Plan};
use labform_proxmox::task::WaitOptions;
use labform_proxmox::{ProxmoxApi, Secret};
use labform_simulator::{Simulator, Timing};

/// Host keys made on first use and kept for the test process (like labform's secret store).
#[derive(Default)]
pub struct TestHostKeys {
    keys: Mutex<HashMap<String, HostKeyPair>>,
}

impl HostKeySource for TestHostKeys {
    fn host_key(&self, vm: &str) -> Result<HostKeyPair, CloudInitError> {
        let mut keys = self.keys.lock().expect("not poisoned");
        if let Some(pair) = keys.get(vm) {
            return Ok(pair.clone());
        }
        let pair = HostKeyPair::generate(vm)?;
        keys.insert(vm.to_owned(), pair.clone());
        Ok(pair)
    }

    fn login_key(&self) -> Result<HostKeyPair, CloudInitError> {
        // Not a VM name (VM names are DNS labels), so it never equals a host key.
        self.host_key("labform login key")
    }
}

/// The host keys every [`cycle`] renders seed images with.
pub static HOST_KEYS: LazyLock<TestHostKeys> = LazyLock::new(TestHostKeys::default);

pub fn load_lab(path: &str) -> LabFile {
    let loaded = load(&RealFileSystem, Path::new(path));
    loaded
        .lab
        .unwrap_or_else(|| panic!("{path} does not load: {:?}", loaded.diagnostics))
}

/// A simulator with the lab's first endpoint's nodes and storages, fast timing, and the lab's
/// images already in their storages (the simulator cannot reach the internet).
pub fn simulator_for(lab: &LabFile, scale: f64) -> Simulator {
    labform_simulator::lab::simulator_for_endpoint(
        &lab.proxmox[0],
        &lab.images,
        Secret::new("test-root-password"),
        Timing::scaled(scale),
    )
}

pub struct Cycle {
    pub plan: Plan,
    pub reconciliation: Reconciliation,
    pub inventory: Inventory,
    pub report: ApplyReport,
    pub reads: u64,
    pub writes: u64,
    pub events: Arc<Collect>,
}

/// A secret store in a temporary directory, shared by the test process (never the user's).
pub static SECRETS: LazyLock<(tempfile::TempDir, Arc<labform_secrets::SecretStore>)> =
    LazyLock::new(|| {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let store = labform_secrets::SecretStore::open(directory.path()).expect("a secret store");
        (directory, Arc::new(store))
    });

pub fn fast_options() -> ApplyOptions {
    ApplyOptions {
        secrets: Some(Arc::clone(&SECRETS.1)),
        task_wait: WaitOptions {
            initial_interval: std::time::Duration::from_millis(5),
            max_interval: std::time::Duration::from_millis(50),
            deadline: std::time::Duration::from_secs(120),
            log_lines: 20,
        },
        retry: labform_executor::engine::RetryPolicy {
            attempts: 10,
            initial: std::time::Duration::from_millis(20),
            max: std::time::Duration::from_millis(500),
        },
        agent_timeout: Some(std::time::Duration::from_secs(60)),
        ..ApplyOptions::default()
    }
}

/// Seeds from the lab with [`HOST_KEYS`] (Talos nodes': their machine configurations, from
/// [`SECRETS`]), except that rendering the seed of `fail` fails.
struct FailingSeeds<'a> {
    inner: PlanSeeds<'a>,
    talos: labform_talos::seed::TalosSeeds<'a>,
    fail: Option<&'a str>,
}

impl SeedSource for FailingSeeds<'_> {
    fn seed_files(
        &self,
        vm: &labform_planner::plan::PlannedVm,
    ) -> Result<labform_cloudinit::SeedFiles, CloudInitError> {
        if self.fail == Some(vm.name.as_str()) {
            return Err(CloudInitError::NoSeed {
                vm: vm.name.clone(),
                detail: "the secret store is locked (injected)".to_owned(),
            });
        }
        if vm.boot == "talos" {
            return self.talos.seed_files(vm);
        }
        self.inner.seed_files(vm)
    }
}

/// Discovers, plans against what exists, reconciles and applies once.
pub async fn cycle(
    lab: &LabFile,
    api: Arc<dyn ProxmoxApi>,
    journal: Arc<Journal>,
    options: ApplyOptions,
) -> Cycle {
    cycle_failing_seed(lab, api, journal, options, None).await
}

/// [`cycle`], with the seed of VM `fail` failing to render.
pub async fn cycle_failing_seed(
    lab: &LabFile,
    api: Arc<dyn ProxmoxApi>,
    journal: Arc<Journal>,
    options: ApplyOptions,
    fail: Option<&str>,
) -> Cycle {
    let metered = Arc::new(Metered::new(api));
    let endpoints = vec![Endpoint {
        name: lab.proxmox[0].name.clone(),
        address: "the simulator".to_owned(),
        api: metered.clone(),
    }];
    // The one way in, as every command takes it: discover, plan once, reconcile.
    let against =
        plan_against_endpoints(lab, &Allocations::empty(), &endpoints, 8, Some(&SECRETS.1))
            .await
            .expect("discovery");
    let inventory = against.inventory;
    let (Some(plan), Some(reconciliation)) = (against.planned.plan, against.reconciliation) else {
        panic!("does not plan: {:?}", against.planned.diagnostics);
    };
    let events = Arc::new(Collect::default());
    let seeds = FailingSeeds {
        inner: PlanSeeds::new(&plan, &*HOST_KEYS),
        talos: labform_talos::seed::TalosSeeds::new(&plan, &SECRETS.1),
        fail,
    };
    let report = apply(
        &plan,
        &reconciliation,
        &endpoints,
        &seeds,
        options,
        journal,
        events.clone(),
    )
    .await
    .expect("apply runs");
    Cycle {
        plan,
        reconciliation,
        inventory,
        report,
        reads: metered.reads(),
        writes: metered.writes(),
        events,
    }
}

/// A simulator served over HTTPS on loopback, a real client pinned to its certificate, and a
/// count of the write requests it received.
pub struct Served {
    pub server: labform_simulator::server::RunningServer,
    pub client: Arc<dyn ProxmoxApi>,
    pub writes: Arc<std::sync::atomic::AtomicU64>,
}

pub async fn serve(simulator: Simulator) -> Served {
    use labform_simulator::server::{ServerOptions, start};
    let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = writes.clone();
    let observer: labform_simulator::server::Observer = Arc::new(move |exchange| {
        if exchange.method != "GET" && exchange.template.as_deref() != Some("/access/ticket") {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let server = start(
        simulator,
        ServerOptions {
            https: Some("127.0.0.1:0".parse().unwrap()),
            http: None,
            observer: Some(observer),
        },
    )
    .await
    .expect("the simulator serves");
    let fingerprint = labform_proxmox::tls::Fingerprint::parse(&server.fingerprint).unwrap();
    let client = labform_proxmox::Client::new(labform_proxmox::ClientOptions::new(
        server.https_url(),
        labform_proxmox::Auth::Password {
            username: "root@pam".into(),
            password: Secret::new("test-root-password"),
        },
        labform_proxmox::tls::TlsTrust::Fingerprint(fingerprint),
    ))
    .expect("client");
    Served {
        server,
        client: Arc::new(client),
        writes,
    }
}

/// Deletes everything the lab's scope owns.
pub async fn destroy(lab: &LabFile, api: Arc<dyn ProxmoxApi>, plan: &Plan) -> ApplyReport {
    let endpoint_name = lab.proxmox[0].name.clone();
    let observed = discover(&endpoint_name, api.clone(), &plan.scope, 8)
        .await
        .expect("discovery");
    let inventory = Inventory {
        vms: observed,
        access: vec![
            discover_access(&endpoint_name, api.clone(), plan)
                .await
                .expect("discovery of users and pools"),
        ],
    };
    let teardown = labform_planner::reconcile::teardown(&inventory, &plan.scope);
    let endpoints = vec![Endpoint {
        name: endpoint_name,
        address: "the simulator".to_owned(),
        api,
    }];
    apply(
        plan,
        &teardown,
        &endpoints,
        &NoSeeds,
        fast_options(),
        Arc::new(Journal::in_memory()),
        Arc::new(Collect::default()),
    )
    .await
    .expect("destroy runs")
}
