//! Shared test fixtures: the example labs planned with their lock files, and host keys derived
//! from the VM name so snapshots are stable (test-only: real host keys are random).

use std::path::{Path, PathBuf};

use labform_cloudinit::{CloudInitError, HostKeyPair, HostKeySource};
use labform_model::LabFile;
use labform_planner::{Allocations, Plan};
use labform_secrets::SecretString;
use ssh_key::LineEnding;
use ssh_key::private::{Ed25519Keypair, PrivateKey};

/// The repository's `examples/` directory.
pub fn examples_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Loads and plans `examples/NAME.yaml` with its lock file.
pub fn planned_example(name: &str) -> (LabFile, Plan) {
    let path = examples_directory().join(format!("{name}.yaml"));
    let loaded = labform_model::load(&labform_model::RealFileSystem, &path);
    let lab = loaded.lab.unwrap_or_else(|| panic!("{name} loads"));
    let plan = plan_with_lock(name, &lab);
    (lab, plan)
}

/// Plans `lab` (`examples/NAME.yaml`, possibly changed by a test) with the example's lock file.
#[allow(dead_code, reason = "not every test file changes a lab")]
pub fn plan_with_lock(name: &str, lab: &LabFile) -> Plan {
    let path = examples_directory().join(format!("{name}.lock"));
    let lock = std::fs::read_to_string(path).expect("lock file");
    let allocations: Allocations = serde_json::from_str(&lock).expect("lock parses");
    let planned = labform_planner::plan(lab, &allocations);
    planned.plan.unwrap_or_else(|| panic!("{name} plans"))
}

/// Host keys whose seed is the SHA-256 of the VM name: stable for snapshots, never for real use.
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
