//! What `labform render` writes for kubeadm nodes, decoded strictly against kubeadm's types for
//! the API version the cluster's Kubernetes reads (`labform_kubeadm::strict`): seed 003 as it is
//! (v1.29, `v1beta3`) and pinned to v1.22 (`v1beta3`) and v1.31 (`v1beta4`); every node's
//! `kubeadm.yaml` decodes with no unknown field, and its values are the lab's: node names and
//! addresses, the version, the API endpoint, the pod and service networks, the certificate
//! names, the kubelet's cgroup driver, the joins' discovery, and markers where the secrets go.

use std::path::Path;

use assert_cmd::Command;
use labform_kubeadm::strict::{Decoded, decode};
use labform_planner::plan::NodeRole;
use serde_json::Value;

/// The value of the kubelet argument `name` in both shapes (a map up to `v1beta3`, a list of
/// name and value from `v1beta4`).
fn kubelet_argument(registration: &Value, name: &str) -> Option<String> {
    let arguments = &registration["kubeletExtraArgs"];
    match arguments {
        Value::Array(items) => items
            .iter()
            .find(|item| item["name"] == name)
            .and_then(|item| item["value"].as_str())
            .map(str::to_owned),
        other => other[name].as_str().map(str::to_owned),
    }
}

fn kind<'a>(documents: &'a [Decoded], kind: &str) -> &'a Value {
    &documents
        .iter()
        .find(|document| document.kind == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
        .value
}

#[test]
fn rendered_kubeadm_configurations_decode_strictly_with_the_labs_values() {
    let seed = std::fs::read_to_string("../../examples/seed-003.yaml").expect("seed 003");
    let lock = std::fs::read_to_string("../../examples/seed-003.lock").expect("its lock");
    for (version, api) in [
        ("v1.29.6", "kubeadm.k8s.io/v1beta3"),
        ("v1.22.17", "kubeadm.k8s.io/v1beta3"),
        ("v1.31.2", "kubeadm.k8s.io/v1beta4"),
    ] {
        let directory = tempfile::tempdir().expect("temporary directory");
        let lab = directory.path().join("lab.yaml");
        std::fs::write(
            &lab,
            seed.replace("version: v1.29.6", &format!("version: {version}")),
        )
        .expect("write the lab");
        std::fs::write(directory.path().join("lab.lock"), &lock).expect("write the lock");
        let out = directory.path().join("rendered");
        let output = Command::cargo_bin("labform")
            .expect("the binary is built")
            .args(["render", "--locked", "--out"])
            .arg(&out)
            .arg(&lab)
            .env("LABFORM_DATA_DIR", directory.path().join("data"))
            .env("XDG_STATE_HOME", directory.path().join("state"))
            .output()
            .expect("labform runs");
        assert!(
            output.status.success(),
            "{version}: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        // The lab's values, as the planner reads them.
        let loaded = labform_model::load(&labform_model::RealFileSystem, &lab);
        let file = loaded.lab.expect("the lab loads");
        let allocations = serde_json::from_str(&lock).expect("the lock parses");
        let plan = labform_planner::plan(&file, &allocations)
            .plan
            .expect("the lab plans");
        let cluster = &plan.clusters[0];
        assert_eq!(cluster.version, version);
        let endpoint = format!("{}:6443", cluster.api_address);
        for node in &cluster.nodes {
            let path = out.join("vms").join(&node.vm).join("kubeadm.yaml");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let documents = decode(&text)
                .unwrap_or_else(|error| panic!("{version} {}: {error}\n{text}", node.vm));
            for document in &documents {
                let expected = if document.kind == "KubeletConfiguration" {
                    "kubelet.config.k8s.io/v1beta1"
                } else {
                    api
                };
                assert_eq!(document.api_version, expected, "{version} {}", node.vm);
            }
            let registration = match node.role {
                NodeRole::FirstServer => {
                    let init = kind(&documents, "InitConfiguration");
                    assert_eq!(
                        init["localAPIEndpoint"]["advertiseAddress"],
                        node.address.to_string()
                    );
                    assert!(
                        init["bootstrapTokens"][0]["token"]
                            .as_str()
                            .is_some_and(|token| token.starts_with("<secret: ")),
                        "the token is a marker"
                    );
                    let configuration = kind(&documents, "ClusterConfiguration");
                    assert_eq!(configuration["kubernetesVersion"], version);
                    assert_eq!(configuration["clusterName"], cluster.name);
                    assert_eq!(configuration["controlPlaneEndpoint"], endpoint);
                    // The lab's own networks (seed 003 writes them out).
                    assert_eq!(configuration["networking"]["podSubnet"], "192.168.0.0/16");
                    assert_eq!(configuration["networking"]["serviceSubnet"], "10.96.0.0/12");
                    let sans = configuration["apiServer"]["certSANs"]
                        .as_array()
                        .expect("certificate names");
                    for name in [cluster.api_address.to_string(), node.vm.clone()] {
                        assert!(sans.contains(&Value::from(name.clone())), "{name}");
                    }
                    assert_eq!(
                        kind(&documents, "KubeletConfiguration")["cgroupDriver"],
                        "systemd"
                    );
                    init["nodeRegistration"].clone()
                }
                NodeRole::JoiningServer | NodeRole::Agent => {
                    let join = kind(&documents, "JoinConfiguration");
                    let discovery = &join["discovery"]["bootstrapToken"];
                    assert_eq!(discovery["apiServerEndpoint"], endpoint);
                    assert!(
                        discovery["caCertHashes"][0]
                            .as_str()
                            .is_some_and(|hash| hash.starts_with("<sha256 of the public key")),
                        "the CA hash is a marker"
                    );
                    assert_eq!(
                        join["controlPlane"].is_object(),
                        node.role == NodeRole::JoiningServer
                    );
                    join["nodeRegistration"].clone()
                }
            };
            assert_eq!(registration["name"], node.vm);
            assert_eq!(
                kubelet_argument(&registration, "node-ip"),
                Some(node.address.to_string()),
                "{version} {}",
                node.vm
            );
            assert!(
                registration["criSocket"]
                    .as_str()
                    .is_some_and(|socket| socket.ends_with("/var/run/containerd/containerd.sock"))
            );
        }
        assert!(Path::new(&out).join("vms").is_dir());
    }
}
