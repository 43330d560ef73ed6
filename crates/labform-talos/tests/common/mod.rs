//! Shared test fixtures: seed 004 planned with its lock file, a Talos cluster with workers at a
//! chosen version, one secrets bundle per test process, and Talos's published interfaces
//! (`tests/talos-reference/`).

#![allow(dead_code, reason = "not every test file uses every fixture")]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use labform_model::LabFile;
use labform_planner::{Allocations, Plan};
use labform_talos::SecretsBundle;

/// The repository's `examples/` directory.
pub fn examples_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The copies of Talos's published interfaces.
pub fn reference_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/talos-reference")
}

/// Loads and plans `examples/NAME.yaml` with its lock file.
pub fn planned_example(name: &str) -> (LabFile, Plan) {
    let path = examples_directory().join(format!("{name}.yaml"));
    let loaded = labform_model::load(&labform_model::RealFileSystem, &path);
    let lab = loaded.lab.unwrap_or_else(|| panic!("{name} loads"));
    let lock = std::fs::read_to_string(examples_directory().join(format!("{name}.lock")))
        .expect("lock file");
    let allocations: Allocations = serde_json::from_str(&lock).expect("lock parses");
    let planned = labform_planner::plan(&lab, &allocations);
    let plan = planned.plan.unwrap_or_else(|| panic!("{name} plans"));
    (lab, plan)
}

/// A lab with one Talos cluster of three control planes behind a VIP and two workers at
/// `version`, with `cni` and Longhorn, labels and taints on the workers.
pub fn talos_lab_with_workers(version: &str, cni: &str) -> String {
    talos_lab_pinned(version, cni, None)
}

/// [`talos_lab_with_workers`] with Kubernetes `kubernetes` pinned, if given.
pub fn talos_lab_pinned(version: &str, cni: &str, kubernetes: Option<&str>) -> String {
    talos_lab(version, cni, kubernetes, None)
}

/// [`talos_lab_pinned`] with etcd snapshots on `snapshots` (a cron schedule, 7 kept), if given.
pub fn talos_lab(
    version: &str,
    cni: &str,
    kubernetes: Option<&str>,
    snapshots: Option<&str>,
) -> String {
    let pinned = kubernetes
        .map(|kubernetes| format!("    kubernetes_version: {kubernetes}\n"))
        .unwrap_or_default();
    let backups = snapshots
        .map(|schedule| {
            format!(
                "    backups: {{etcd_snapshot_schedule: '{schedule}', etcd_snapshot_retention: 7}}\n"
            )
        })
        .unwrap_or_default();
    format!(
        r#"lab: talos-workers
proxmox:
  - name: pve
    endpoint: https://10.3.0.2:8006
    fingerprint: "71:C8:2E:A4:0B:F6:93:5D:18:E7:4C:B0:26:9A:D3:61:F8:05:7B:C2:3E:A9:14:D6:82:5F:0C:B7:49:E3:6A:10"
    credentials:
      token: {{id: labform@pve!lab, secret: {{env: PVE_TOKEN_SECRET}}}}
    nodes:
      - {{name: pve1, cpu: 32, memory: 256GiB}}
    storages:
      - {{name: local, content: [iso, import], capacity: 100GiB, type: dir}}
      - {{name: nvme, content: [images], capacity: 2TiB, type: zfspool}}
images:
  - name: talos
    url: https://factory.talos.dev/image/88d1f7a5c4f1d3aba7df787c448c1d3d008ed29cfb34af53fa0df4336a56040b/{version}/nocloud-amd64.raw
    checksum: sha256:63c6dfc1dd64864695381b933a9549498525a9c9abfd502b05005f2148b4034c
    os: talos
networks:
  - name: lan
    bridge: vmbr0
    cidr: 10.3.0.0/24
    gateway: 10.3.0.1
    dns: [10.3.0.1, 1.1.1.1]
    domain: lab.internal
    mtu: 1500
    pools:
      - {{name: nodes, purpose: nodes, range: 10.3.0.20-10.3.0.59}}
clusters:
  - name: talos
    distribution: talos
    version: {version}
{pinned}    network: lan
    cni: {cni}
    api_vip: {{address: 10.3.0.10}}
    servers:
      count: 3
      cpu: 2
      memory: 4GiB
      image: talos
      disks: [{{size: 20GiB}}]
    agents:
      - name: worker
        count: 2
        cpu: 4
        memory: 8GiB
        image: talos
        disks: [{{size: 50GiB}}]
        labels: [node.kubernetes.io/pool=workers]
        taints: [dedicated=storage:NoSchedule]
    addons:
      longhorn: {{replicas: 2}}
{backups}"#
    )
}

/// Plans `text` (a lab file) with no earlier allocations.
pub fn plan_text(text: &str) -> Plan {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("lab.yaml");
    std::fs::write(&path, text).expect("write lab");
    let loaded = labform_model::load(&labform_model::RealFileSystem, &path);
    let lab = loaded.lab.unwrap_or_else(|| {
        panic!(
            "lab loads: {:?}",
            loaded
                .diagnostics
                .iter()
                .map(|diagnostic| diagnostic.message.clone())
                .collect::<Vec<_>>()
        )
    });
    let planned = labform_planner::plan(&lab, &Allocations::default());
    planned.plan.unwrap_or_else(|| {
        panic!(
            "lab plans: {:?}",
            planned
                .diagnostics
                .iter()
                .map(|diagnostic| diagnostic.message.clone())
                .collect::<Vec<_>>()
        )
    })
}

/// One secrets bundle for the whole test process (a bundle's RSA key takes a moment).
pub fn bundle() -> &'static SecretsBundle {
    static BUNDLE: OnceLock<SecretsBundle> = OnceLock::new();
    BUNDLE.get_or_init(|| SecretsBundle::generate().expect("bundle"))
}
