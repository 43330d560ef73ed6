//! kube-vip for an HA cluster's API VIP: a DaemonSet on the servers in ARP mode with leader
//! election, bound to the interface cloud-init named (`eth0`, matched by MAC), and the RBAC it
//! needs for its lease. Service load balancing stays with MetalLB.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

/// The kube-vip image.
pub const KUBE_VIP_IMAGE: &str = "ghcr.io/kube-vip/kube-vip:v0.8.9";

/// kube-vip's settings for `vip` on `interface`, as its container's environment.
fn environment(vip: Ipv4Addr, interface: &str) -> Vec<Value> {
    [
        ("vip_arp", "true"),
        ("port", "6443"),
        ("vip_interface", interface),
        ("vip_cidr", "32"),
        ("cp_enable", "true"),
        ("cp_namespace", "kube-system"),
        ("vip_leaderelection", "true"),
        ("vip_leasename", "plndr-cp-lock"),
        ("vip_leaseduration", "5"),
        ("vip_renewdeadline", "3"),
        ("vip_retryperiod", "1"),
        ("svc_enable", "false"),
        ("address", &vip.to_string()),
    ]
    .iter()
    .map(|(name, value)| json!({"name": name, "value": value}))
    .collect()
}

/// kube-vip as a static pod of a kubeadm control plane (the manifest kubeadm's kubelet runs
/// from `/etc/kubernetes/manifests` before the API exists, so `kubeadm init` can reach the API
/// through the VIP), reading the API with the kubeconfig at `kubeconfig` on the node. It
/// reaches the API as `kubernetes` (resolved to the node itself), a name kubeadm puts in the
/// API server's certificate.
pub fn kube_vip_static_pod(vip: Ipv4Addr, interface: &str, kubeconfig: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "kube-vip",
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/name": "kube-vip", "app.kubernetes.io/managed-by": "labform"},
        },
        "spec": {
            "hostNetwork": true,
            "hostAliases": [{"hostnames": ["kubernetes"], "ip": "127.0.0.1"}],
            "containers": [{
                "name": "kube-vip",
                "image": KUBE_VIP_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "args": ["manager"],
                "env": environment(vip, interface),
                "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                "volumeMounts": [{"name": "kubeconfig", "mountPath": "/etc/kubernetes/admin.conf"}],
            }],
            "volumes": [{"name": "kubeconfig", "hostPath": {"path": kubeconfig, "type": "File"}}],
        },
    })
}

/// The kube-vip objects for `vip` on `interface`: ServiceAccount, ClusterRole,
/// ClusterRoleBinding and DaemonSet, in that order.
pub fn kube_vip_documents(vip: Ipv4Addr, interface: &str) -> Vec<Value> {
    let labels = json!({"app.kubernetes.io/name": "kube-vip"});
    let environment = environment(vip, interface);
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "kube-vip", "namespace": "kube-system", "labels": labels},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:kube-vip-role", "labels": labels},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services/status"],
                    "verbs": ["update"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["services", "endpoints"],
                    "verbs": ["list", "get", "watch", "update"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["nodes"],
                    "verbs": ["list", "get", "watch", "update", "patch"],
                },
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["list", "get", "watch", "update", "create"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "get", "watch", "update"],
                },
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:kube-vip-binding", "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:kube-vip-role",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "kube-vip", "namespace": "kube-system"}],
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kube-vip", "namespace": "kube-system", "labels": labels},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "kube-vip",
                        "hostNetwork": true,
                        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchExpressions": [{
                                "key": "node-role.kubernetes.io/control-plane",
                                "operator": "Exists",
                            }]}],
                        }}},
                        "tolerations": [
                            {"effect": "NoSchedule", "operator": "Exists"},
                            {"effect": "NoExecute", "operator": "Exists"},
                        ],
                        "containers": [{
                            "name": "kube-vip",
                            "image": KUBE_VIP_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["manager"],
                            "env": environment,
                            "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                        }],
                    },
                },
            },
        }),
    ]
}
