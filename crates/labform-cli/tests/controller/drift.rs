//! Drift between commits: against `labform sim serve`, the controller applies a commit, then a
//! VM's memory is changed by hand while the commit stays the same. The controller reports it
//! once, with the commit, on `/controller` (page and JSON) and as a `drift` run of the journal
//! with that commit (on `/history` too), and, automatically, puts it back with an apply of the
//! same commit, after which the drift count is zero again and the report stays.

use labform_ids::{NodeName, VmId};
use labform_proxmox::ProxmoxApi as _;
use labform_proxmox::types::{ConfigUpdate, ResourceType};

use crate::LAB;
use crate::common::{SIM_PASSWORD, SimServer, metric, promtool_accepts};
use crate::support::{Repository, controller};

#[test]
fn drift_between_commits_is_reported_with_the_commit_and_put_back() {
    if !labform_test_tiers::GIT_SERVERS.available() {
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let root = directory.path();
    let (_repository, first) = Repository::new(root);
    let lab_file = root.join("lab-shape.yaml");
    std::fs::write(&lab_file, LAB).expect("write");
    let simulator = SimServer::start(&[
        "--lab",
        &lab_file.display().to_string(),
        "--time-scale",
        "0",
    ]);
    let bare = root.join("lab.git").display().to_string();
    let served = controller(
        &root.join("controller"),
        &[
            "--proxmox",
            &simulator.url,
            "--fingerprint",
            &simulator.fingerprint,
            "--git",
            &bare,
            "--apply",
            "automatic",
            "--interval",
            "1s",
            "--skip-clusters",
        ],
        &[
            ("LABFORM_PVE_USER", "root@pam"),
            ("LABFORM_PVE_PASSWORD", SIM_PASSWORD),
        ],
    );
    let status = served.wait_applied(&first);
    assert_eq!(status["controller"]["last_apply"]["outcome"], "ok");
    assert!(status["controller"]["drift_report"].is_null(), "{status:#}");

    // By hand, while the commit stays the same: home-worker-0's memory.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = simulator.root_client();
    let resources = runtime
        .block_on(client.cluster_resources(Some(ResourceType::Vm)))
        .expect("the VMs");
    let worker = resources
        .iter()
        .find(|resource| resource.name.as_deref() == Some("home-worker-0"))
        .expect("home-worker-0 exists");
    runtime
        .block_on(client.update_vm_config_sync(
            &NodeName::new(worker.node.clone().expect("a node")),
            VmId::new(worker.vmid.expect("an ID") as u32).expect("a VM ID"),
            &ConfigUpdate::new().set("memory", 1024),
        ))
        .expect("memory changed by hand");

    let status = served.wait("the drift reported", |status| {
        status["controller"]["drift_report"].is_object()
    });
    let report = &status["controller"]["drift_report"];
    assert_eq!(report["commit"], first.as_str(), "{report:#}");
    assert_eq!(report["applied"], first.as_str(), "{report:#}");
    assert_eq!(
        report["changes"],
        serde_json::json!(["home-worker-0: memory"]),
        "{report:#}"
    );
    assert_eq!(report["drift"]["drift"][0]["name"], "home-worker-0");
    let runs = status["runs"].as_array().expect("runs");
    let drift_run = runs
        .iter()
        .find(|run| run["command"] == "drift")
        .unwrap_or_else(|| panic!("a drift run: {runs:#?}"));
    assert_eq!(drift_run["revision"], first.as_str());
    assert_eq!(
        drift_run["outcome"],
        "changed by hand: home-worker-0: memory"
    );
    let (code, _, page) = served.get("/controller");
    assert_eq!(code, 200);
    assert!(page.contains("Drift between commits"), "{page}");
    assert!(page.contains("<li>home-worker-0: memory</li>"), "{page}");
    let (_, _, history) = served.get("/history");
    assert!(history.contains("<td>drift</td>"), "{history}");

    // Automatic: an apply of the same commit puts it back; the report stays, reported once.
    let status = served.wait("the drift put back", |status| {
        status["controller"]["drift"] == 0
            && status["runs"][0]["command"] == "apply"
            && status["runs"][1]["command"] == "drift"
    });
    assert_eq!(status["runs"][0]["revision"], first.as_str());
    assert_eq!(status["runs"][0]["outcome"], "ok");
    assert_eq!(
        status["controller"]["drift_report"]["commit"],
        first.as_str()
    );
    let drift_runs = status["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|run| run["command"] == "drift")
        .count();
    assert_eq!(drift_runs, 1, "{:#}", status["runs"]);
    let metrics = served.metrics();
    assert_eq!(metric(&metrics, "labform_controller_drift_changes"), 0.0);
    assert_eq!(
        metric(&metrics, "labform_controller_drift_reports_total"),
        1.0
    );
    promtool_accepts(&metrics);
}
