//! Shared test fixtures: seed 003 (planned with its lock file) and this crate's test labs.

use std::path::{Path, PathBuf};

use labform_planner::plan::PlannedCluster;
use labform_planner::{Allocations, Plan};

fn lab_path(lab: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match lab.split_once('/') {
        Some(("examples", name)) => manifest.join("../../examples").join(format!("{name}.yaml")),
        Some(("tests", name)) => manifest.join("tests/labs").join(format!("{name}.yaml")),
        _ => panic!("unknown lab {lab}"),
    }
}

/// Loads and plans `lab` (`examples/seed-003`, `tests/kubeadm-v1-20`); examples with their lock
/// files.
pub fn planned(lab: &str) -> Plan {
    let path = lab_path(lab);
    let loaded = labform_model::load(&labform_model::RealFileSystem, &path);
    let file = loaded.lab.unwrap_or_else(|| panic!("{lab} loads"));
    let allocations: Allocations = match std::fs::read_to_string(path.with_extension("lock")) {
        Ok(text) => serde_json::from_str(&text).expect("lock parses"),
        Err(_) => Allocations::empty(),
    };
    let planned = labform_planner::plan(&file, &allocations);
    planned.plan.unwrap_or_else(|| panic!("{lab} plans"))
}

/// The only cluster of `plan`.
pub fn only_cluster(plan: &Plan) -> &PlannedCluster {
    assert_eq!(plan.clusters.len(), 1, "one cluster");
    &plan.clusters[0]
}

/// A fresh secret store in a temporary directory.
#[allow(dead_code, reason = "not every test file uses every fixture")]
pub fn store() -> (tempfile::TempDir, labform_secrets::SecretStore) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let store = labform_secrets::SecretStore::open(directory.path()).expect("store opens");
    (directory, store)
}
