//! The harness itself: the shared cluster starts, its node is Ready with the release's
//! version, pods run on it, and its kubeconfig is K3s-shaped.

use labform_kube_real::{NODE_NAME, RealCluster, STATIC_POD, VERSION};

#[test]
fn the_shared_cluster_has_a_ready_node_running_pods() {
    if !labform_test_tiers::REAL_KUBERNETES.available() {
        return;
    }
    let cluster = RealCluster::shared();
    let version = cluster
        .kubectl(&[
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.nodeInfo.kubeletVersion}",
        ])
        .unwrap();
    assert_eq!(version, VERSION);
    let address = cluster
        .kubectl(&[
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
        ])
        .unwrap();
    assert_eq!(address, cluster.node_address().to_string());
    let mirror = cluster
        .kubectl(&[
            "-n",
            "kube-system",
            "get",
            "pod",
            &format!("{STATIC_POD}-{NODE_NAME}"),
            "-o",
            "jsonpath={.metadata.annotations.kubernetes\\.io/config\\.mirror}",
        ])
        .unwrap();
    assert!(!mirror.is_empty());
    let kubeconfig = cluster.admin_kubeconfig();
    assert!(kubeconfig.contains("certificate-authority-data:"));
    assert!(kubeconfig.contains("client-key-data:"));
    assert!(kubeconfig.contains(&format!("server: {}", cluster.server())));
}
