//! `labform replace` through the binary, against `labform sim serve` over HTTPS and the
//! kube-apiserver double (`labform-kube-sim`) standing for the cluster's API.
//!
//! A VM in no cluster and a node with its cluster steps skipped come back with the same VM ID,
//! MAC, address, seed image and SSH host key; an unknown VM is refused with the closest name; the
//! first K3s server is refused; a control plane is refused while another is not Ready (etcd's
//! quorum) and planned once all are; an agent is cordoned, drained through refused and then
//! allowed evictions, taken out of the cluster (its Node object deleted), deleted and created
//! again with its identity, and the run stops at the rejoin, which needs VMs that boot (the
//! real-VM tier covers it); the journal keeps the steps done, so `apply` leaves it to `replace`
//! and the next `replace` resumes at the rejoin.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::sim_lab::SimLab;
use common::{SimServer, output_text, runtime};
use labform_kube_sim::{KubeSim, NodeReadiness, PodSpec};
use labform_proxmox::ProxmoxApi;
use labform_proxmox::types::ResourceType;
use labform_secrets::{SecretKey, SecretStore, SecretString};

/// A K3s cluster of three servers (embedded etcd) and one agent, and a VM in no cluster.
const LAB: SimLab = SimLab {
    name: "replace",
    proxmox_nodes: 1,
    fingerprint: None,
    api_vip: Some("10.9.0.100"),
    servers: 3,
    agents: 1,
    agent_disks: "[{size: 16GiB}]",
    rest: "vms:
  - name: dns
    cpu: 1
    memory: 1GiB
    disks: [{size: 8GiB}]
    network: lan
    address: {static: 10.9.0.5}
",
};

/// A lab applied (VMs only) on a fresh `sim serve`, in a home of its own.
struct Applied {
    simulator: SimServer,
    home: tempfile::TempDir,
    lab: String,
}

impl Applied {
    fn new() -> Self {
        let simulator = SimServer::start(&["--time-scale", "0.02"]);
        let home = tempfile::tempdir().unwrap();
        let lab = LAB.write(home.path(), 16, 2654435761);
        let applied = Applied {
            simulator,
            lab: lab.display().to_string(),
            home,
        };
        let output = applied.labform(&["apply", "--yes", "--skip-clusters"]);
        assert!(output.status.success(), "{}", output_text(&output));
        applied
    }

    /// `labform COMMAND LAB ARGS...` against the simulator.
    fn labform(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec![args[0], self.lab.as_str()];
        all.extend(&args[1..]);
        self.simulator.labform(self.home.path(), &all)
    }

    fn store(&self) -> SecretStore {
        SecretStore::open(&self.home.path().join("data")).unwrap()
    }

    fn api(&self) -> Arc<dyn ProxmoxApi> {
        Arc::new(self.simulator.root_client())
    }

    /// What makes `vm` the same VM: its VM ID, NIC (MAC), address, seed image (which carries
    /// its host keys) and the host key labform keeps for it; and that it runs fully configured.
    fn identity(&self, runtime: &tokio::runtime::Runtime, vm: &str) -> BTreeMap<String, String> {
        let api = self.api();
        runtime.block_on(async {
            let resources = api.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
            let found: Vec<_> = resources
                .iter()
                .filter(|resource| resource.name.as_deref() == Some(vm))
                .collect();
            assert_eq!(found.len(), 1, "exactly one {vm}");
            let resource = found[0];
            assert_eq!(resource.status.as_deref(), Some("running"), "{vm} runs");
            let node = labform_ids::NodeName::new(resource.node.clone().unwrap());
            let vm_id = labform_ids::VmId::new(resource.vmid.unwrap() as u32).unwrap();
            let config = api.vm_config(&node, vm_id, false).await.unwrap();
            let description = config
                .values
                .get("description")
                .cloned()
                .unwrap_or_default();
            assert!(!description.contains("spec: pending"), "{vm} is configured");
            let mut identity = BTreeMap::new();
            identity.insert("vmid".to_owned(), vm_id.to_string());
            for key in ["net0", "ipconfig0", "ide2"] {
                identity.insert(key.to_owned(), config.values[key].clone());
            }
            let host_key = self
                .store()
                .get(&labform_cloudinit::host_key_store_key("replace", vm).unwrap())
                .unwrap()
                .expect("labform keeps the VM's host key");
            let public = labform_cloudinit::HostKeyPair::from_private_openssh(vm, &host_key)
                .unwrap()
                .public_openssh()
                .to_owned();
            identity.insert("host key".to_owned(), public);
            identity
        })
    }
}

/// Standard error without the `Target:` line (it names the simulator's random port).
fn stderr_without_target(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| !line.starts_with("Target: "))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn vms_come_back_with_their_identity_and_refusals_say_why() {
    let applied = Applied::new();
    let runtime = runtime();

    // A VM in no cluster is deleted and created again.
    let before = applied.identity(&runtime, "dns");
    let output = applied.labform(&["replace", "dns", "--yes"]);
    assert!(output.status.success(), "{}", output_text(&output));
    let text = output_text(&output);
    assert!(
        text.contains("delete-vm") && text.contains("clone-vm"),
        "{text}"
    );
    assert_eq!(applied.identity(&runtime, "dns"), before);

    // A node with its cluster steps skipped is recreated the same way.
    let before = applied.identity(&runtime, "k-agent-0");
    let output = applied.labform(&["replace", "k-agent-0", "--yes", "--skip-clusters"]);
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(applied.identity(&runtime, "k-agent-0"), before);

    // Nothing is left over: the next apply has nothing to do.
    let output = applied.labform(&["apply", "--yes", "--skip-clusters"]);
    assert!(
        output.status.success() && output_text(&output).contains("Nothing to do."),
        "{}",
        output_text(&output)
    );

    let output = applied.labform(&["replace", "k-agnet-0", "--dry-run"]);
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output));
    insta::assert_snapshot!("unknown_vm", stderr_without_target(&output));

    let output = applied.labform(&["replace", "k-server-0", "--dry-run", "--skip-clusters"]);
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output));
    insta::assert_snapshot!("first_server", stderr_without_target(&output));

    // An agent's whole replacement, as the plan shows it (no API needed for an agent).
    let output = applied.labform(&["replace", "k-agent-0", "--dry-run"]);
    assert!(output.status.success(), "{}", output_text(&output));
    insta::assert_snapshot!("agent_plan", stderr_without_target(&output));
}

#[test]
fn nodes_are_cordoned_drained_and_taken_out_and_quorum_is_kept() {
    let applied = Applied::new();
    let runtime = runtime();
    let kube = runtime.block_on(KubeSim::start()).unwrap();
    for node in ["k-server-0", "k-server-1", "k-server-2", "k-agent-0"] {
        kube.add_node(node);
    }
    // labform reaches the cluster through the kubeconfig it keeps for it.
    applied
        .store()
        .put(
            &SecretKey::new("kubeconfig/replace/k").unwrap(),
            &SecretString::from(kube.kubeconfig()),
        )
        .unwrap();

    // One server down: replacing another would leave 1 of 3 etcd members.
    kube.set_node_ready("k-server-2", &NodeReadiness::not_ready("kubelet stopped"));
    let output = applied.labform(&["replace", "k-server-1", "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output));
    insta::assert_snapshot!("quorum_refused", stderr_without_target(&output));
    assert!(
        !kube
            .requests()
            .iter()
            .any(|request| request.method != "GET"),
        "a refused replacement writes nothing"
    );
    // All servers Ready: the replacement of a joining server is planned.
    kube.set_node_ready("k-server-2", &NodeReadiness::ready());
    let output = applied.labform(&["replace", "k-server-1", "--dry-run"]);
    assert!(output.status.success(), "{}", output_text(&output));
    insta::assert_snapshot!("server_plan", stderr_without_target(&output));

    // An agent with pods, one of them protected by a budget that refuses twice.
    kube.add_pod(&PodSpec::new("default", "web-1", "k-agent-0"));
    kube.add_pod(&PodSpec::new("default", "db-0", "k-agent-0"));
    kube.add_pod(&PodSpec::new("kube-system", "svclb-1", "k-agent-0").daemon_set("svclb"));
    kube.block_evictions("default", "db-0", Some(2), "db-budget");
    let before = applied.identity(&runtime, "k-agent-0");
    // K3s's release files are not there: the rejoin fails at once (and would need VMs that boot).
    let no_release = tempfile::tempdir().unwrap();
    let artifacts = no_release.path().display().to_string();
    let replace_agent = || {
        let output = applied.labform(&[
            "replace",
            "k-agent-0",
            "--yes",
            "--k3s-artifacts",
            &artifacts,
        ]);
        let text = output_text(&output);
        (output, text)
    };
    let (output, text) = replace_agent();
    // Cordoned, drained (the budget honoured), its Node object deleted, the VM recreated; the
    // rejoin needs a VM that boots, which `sim serve` without QEMU does not have.
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(text.contains("Stopped at step 6 of 8"), "{text}");
    assert!(text.contains("2 pod(s) evicted"), "{text}");
    let requests = kube.requests();
    let cordon = requests
        .iter()
        .position(|request| {
            request.method == "PATCH" && request.path.starts_with("/api/v1/nodes/k-agent-0")
        })
        .expect("the node was cordoned");
    let refused = requests
        .iter()
        .filter(|request| request.path.contains("/pods/db-0/eviction") && request.status == 429)
        .count();
    assert_eq!(refused, 2, "the budget refused two evictions");
    let deleted = requests
        .iter()
        .position(|request| {
            request.method == "DELETE" && request.path.starts_with("/api/v1/nodes/k-agent-0")
        })
        .expect("the Node object was deleted");
    assert!(cordon < deleted);
    assert!(!kube.pod_exists("default", "web-1") && !kube.pod_exists("default", "db-0"));
    assert!(
        kube.pod_exists("kube-system", "svclb-1"),
        "DaemonSet pods stay"
    );
    assert!(kube.node("k-agent-0").is_none());
    assert_eq!(applied.identity(&runtime, "k-agent-0"), before);

    // apply leaves a replacement with cluster steps to `replace`, which resumes at the rejoin.
    let output = applied.labform(&["apply", "--yes", "--skip-clusters"]);
    let text = output_text(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("the replacement of k-agent-0 was stopped before it finished"),
        "{text}"
    );
    let (output, text) = replace_agent();
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(
        text.contains("Finish replacing k-agent-0") && text.contains("5 of 8 steps were done"),
        "{text}"
    );
    assert!(!text.contains("[1/8]") && text.contains("[6/8]"), "{text}");
    // Another VM is not replaced while this one is unfinished.
    let output = applied.labform(&["replace", "dns", "--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", output_text(&output));
    assert!(
        output_text(&output).contains("finish it first"),
        "{}",
        output_text(&output)
    );
}
