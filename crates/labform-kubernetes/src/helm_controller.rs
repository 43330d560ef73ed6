//! The Helm controller for clusters without K3s (kubeadm, Talos): the same controller K3s runs
//! inside its server (k3s-io/helm-controller), as a Deployment, so every distribution installs
//! add-ons from the same `HelmChart` and `HelmChartConfig` objects (see ARCHITECTURE.md, "How
//! add-ons reach a cluster").
//!
//! What is rendered follows the controller's own release manifests (`manifests/` of
//! k3s-io/helm-controller at the pinned tag): a namespace, a ServiceAccount, a binding to a
//! cluster-wide role, and a one-replica Deployment running `helm-controller` with `NODE_NAME` and
//! `DEFAULT_JOB_IMAGE` set. It watches every namespace (no `NAMESPACE`), so the charts stay in
//! `kube-system` as on K3s. Two differences, both so it can install the CNI itself (Calico or
//! Cilium are `bootstrap` charts): the pod runs on a control-plane node in the host network and
//! tolerates the taints of a node without a network yet, and it reaches the API at
//! `127.0.0.1:6443`, as the controller's own bootstrap jobs do.
//!
//! The CRDs are not rendered: the controller creates (and, on every start, updates) its
//! embedded `helmcharts.helm.cattle.io` and `helmchartconfigs.helm.cattle.io` itself, so a
//! second copy would fight it. Apply waits until both are Established ([`HELM_CRDS`]) before it
//! applies the add-ons. Jobs run as the controller's default `cluster-admin` role.

use serde_json::{Value, json};

use crate::manifest::ManifestFile;

/// The controller's image, pinned to a release tag.
pub const HELM_CONTROLLER_IMAGE: &str = "rancher/helm-controller:v0.17.7";

/// The image of the jobs that run `helm` for each chart: the one that release's manifests set
/// (the controller's built-in default is an unpinned `latest`).
pub const HELM_JOB_IMAGE: &str = "ghcr.io/k3s-io/klipper-helm:v0.9.10-build20251111";

/// The namespace the controller runs in.
pub const HELM_CONTROLLER_NAMESPACE: &str = "helm-controller";

/// The CRDs the controller creates at start; add-ons are applied once both are Established.
pub const HELM_CRDS: [&str; 2] = [
    "helmcharts.helm.cattle.io",
    "helmchartconfigs.helm.cattle.io",
];

/// The label the control-plane nodes of every distribution carry (K3s with the value `true`,
/// kubeadm and Talos with an empty one).
const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// The controller's objects in apply order: Namespace, ServiceAccount, ClusterRoleBinding and
/// Deployment, as one manifest file for clusters whose distribution has no Helm controller of
/// its own.
pub fn helm_controller_manifest() -> ManifestFile {
    ManifestFile {
        name: "helm-controller".to_owned(),
        comments: vec![
            format!(
                "The Helm controller K3s runs in its server ({HELM_CONTROLLER_IMAGE}), for a cluster without K3s: it installs the add-ons' HelmCharts the same way."
            ),
            "It creates its CRDs itself at start; it runs in the host network of a control-plane node so it can install the CNI chart before pods have a network.".to_owned(),
        ],
        documents: helm_controller_documents(),
    }
}

fn helm_controller_documents() -> Vec<Value> {
    let name = "helm-controller";
    let labels = json!({"app": name, "app.kubernetes.io/managed-by": "labform"});
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": HELM_CONTROLLER_NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "labform"}},
        }),
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": HELM_CONTROLLER_NAMESPACE, "labels": labels},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": HELM_CONTROLLER_NAMESPACE}],
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": HELM_CONTROLLER_NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "hostNetwork": true,
                        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchExpressions": [
                                {"key": CONTROL_PLANE_LABEL, "operator": "Exists"},
                            ]}],
                        }}},
                        "tolerations": [
                            {"key": CONTROL_PLANE_LABEL, "operator": "Exists", "effect": "NoSchedule"},
                            // kubeadm before 1.24 taints control planes with the older name.
                            {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
                            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"},
                            {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"},
                            {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        ],
                        "containers": [{
                            "name": name,
                            "image": HELM_CONTROLLER_IMAGE,
                            "command": ["helm-controller"],
                            "env": [
                                {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                                {"name": "DEFAULT_JOB_IMAGE", "value": HELM_JOB_IMAGE},
                                {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                                {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
                            ],
                        }],
                    },
                },
            },
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_pinned_to_tags() {
        for image in [HELM_CONTROLLER_IMAGE, HELM_JOB_IMAGE] {
            let (_, tag) = image.rsplit_once(':').expect("a tag");
            assert!(tag.starts_with('v') && tag != "latest", "{image}");
        }
    }

    #[test]
    fn the_controller_watches_every_namespace_and_needs_no_cni() {
        let manifest = helm_controller_manifest();
        let deployment = manifest
            .documents
            .iter()
            .find(|document| document["kind"] == "Deployment")
            .expect("a Deployment");
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["hostNetwork"], true);
        let names: Vec<&str> = pod["containers"][0]["env"]
            .as_array()
            .expect("env")
            .iter()
            .map(|variable| variable["name"].as_str().expect("name"))
            .collect();
        assert!(!names.contains(&"NAMESPACE"), "{names:?}");
        assert!(names.contains(&"DEFAULT_JOB_IMAGE"), "{names:?}");
        let kinds: Vec<&str> = manifest
            .documents
            .iter()
            .map(|document| document["kind"].as_str().expect("kind"))
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRoleBinding",
                "Deployment"
            ]
        );
    }
}
