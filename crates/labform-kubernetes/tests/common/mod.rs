//! Shared test fixtures: the example labs (planned with their lock files) and this crate's test
//! labs, and host keys derived from the VM name so snapshots are stable (test-only: real host
//! keys are random).

use std::path::{Path, PathBuf};

use labform_cloudinit::{CloudInitError, HostKeyPair, HostKeySource};
use labform_model::LabFile;
use labform_planner::{Allocations, Plan};
use labform_secrets::SecretString;
use ssh_key::LineEnding;
use ssh_key::private::{Ed25519Keypair, PrivateKey};

/// Every lab the render tests cover: the five examples and the test labs.
#[allow(dead_code, reason = "not every test file uses every fixture")]
pub const LABS: [&str; 8] = [
    "examples/seed-000",
    "examples/seed-001",
    "examples/seed-002",
    "examples/seed-003",
    "examples/seed-004",
    "tests/k3s-cilium-external",
    "tests/k3s-calico-single",
    "tests/k3s-bitwarden",
];

fn lab_path(lab: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match lab.split_once('/') {
        Some(("examples", name)) => manifest.join("../../examples").join(format!("{name}.yaml")),
        Some(("tests", name)) => manifest.join("tests/labs").join(format!("{name}.yaml")),
        _ => panic!("unknown lab {lab}"),
    }
}

/// Loads and plans a lab of [`LABS`]; examples with their lock files.
pub fn planned(lab: &str) -> (LabFile, Plan) {
    let path = lab_path(lab);
    let loaded = labform_model::load(&labform_model::RealFileSystem, &path);
    let file = loaded.lab.unwrap_or_else(|| panic!("{lab} loads"));
    let allocations: Allocations = match std::fs::read_to_string(path.with_extension("lock")) {
        Ok(text) => serde_json::from_str(&text).expect("lock parses"),
        Err(_) => Allocations::empty(),
    };
    let planned = labform_planner::plan(&file, &allocations);
    let plan = planned.plan.unwrap_or_else(|| panic!("{lab} plans"));
    (file, plan)
}

/// A snapshot-friendly name for a lab (`seed-001`).
#[allow(dead_code, reason = "not every test file uses every fixture")]
pub fn short_name(lab: &str) -> &str {
    lab.rsplit('/').next().expect("a name")
}

/// Host keys whose seed is the SHA-256 of the VM name: stable for snapshots, never for real use.
#[allow(dead_code, reason = "not every test file uses every fixture")]
pub struct FixtureHostKeys;

impl HostKeySource for FixtureHostKeys {
    fn host_key(&self, vm: &str) -> Result<HostKeyPair, CloudInitError> {
        use ssh_key::sha2::{Digest as _, Sha256};
        let seed: [u8; 32] = Sha256::digest(format!("labform test host key {vm}")).into();
        let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        key.set_comment(vm);
        let text = key.to_openssh(LineEnding::LF).expect("encode");
        HostKeyPair::from_private_openssh(vm, &SecretString::from(text.as_str()))
    }

    fn login_key(&self) -> Result<HostKeyPair, CloudInitError> {
        // Not a VM name (VM names are DNS labels), so it never equals a host key.
        self.host_key("labform login key")
    }
}

/// The distributions `labform render` writes node files for (K3s from `labform-k3s`, kubeadm
/// from `labform-kubeadm`, Talos from `labform-talos`; no release files are read and no node is
/// reached for rendering).
#[allow(dead_code, reason = "not every test file uses every fixture")]
pub fn distributions() -> labform_kubernetes::Distributions {
    labform_kubernetes::Distributions::new()
        .with(labform_k3s::K3s::new(
            labform_k3s::artifacts::ArtifactSource::official(),
            std::env::temp_dir(),
        ))
        .with(labform_kubeadm::Kubeadm::new(None, None))
        .with(labform_talos::Talos::default())
}
