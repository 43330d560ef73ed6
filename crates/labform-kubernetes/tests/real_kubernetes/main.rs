//! labform's Kubernetes API layer (`cluster_api`) against a real Kubernetes v1.20.2
//! (`labform-kube-real`: etcd, kube-apiserver, controller-manager, scheduler, containerd and a
//! kubelet on this machine): readiness, node versions, cordon, drain with real evictions
//! (`policy/v1beta1`, the level 1.20 serves), PodDisruptionBudgets, DaemonSet and mirror pods,
//! a pod that ignores SIGTERM, deleting a dropped add-on's objects (K3s's kinds served as
//! CRDs), the Secrets add-ons read, and tenants' namespaces, ServiceAccounts and tokens as
//! rendered from seed 000.
//!
//! Tier `real-kubernetes` (root, the release in `../shared/k8s`, Debian's etcd-server,
//! containerd, runc, containernetworking-plugins, busybox-static). One cluster serves every test
//! of this file; it starts in about 40 s (plus about 15 s the first time, to unpack the
//! release), and the tests take about 1.5 minutes more, most of it the drains waiting for pods
//! to stop (2 to 2.5 minutes in all on a busy 2-core machine). Tests that run pods, cordon or drain take turns on the one node
//! ([`NODE_IN_USE`]); each works in namespaces of its own.
//!
//! The tests are one binary, so they share the one cluster: the node's readiness, cordon and
//! drains in `nodes.rs`, add-on manifests (deleted, refused, applied server-side) in
//! `addons.rs`, Secrets and tenants in `secrets.rs`.

#[path = "../common/mod.rs"]
mod common;

mod addons;
mod nodes;
mod secrets;

use std::collections::BTreeMap;
use std::time::Duration;

use labform_kube_real::{BUSYBOX_IMAGE, NODE_NAME, RealCluster, STATIC_POD, VERSION};
use labform_kubernetes::cluster_api::{ClusterApi, ClusterApiError, WantedSecret, WhyLeft};
use secrecy::{ExposeSecret as _, SecretString};

/// The one node is shared: a drain evicts every pod on it, and a cordon stops every test's
/// pods from being scheduled. Tests that run pods or change the node hold this lock.
static NODE_IN_USE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Pause between the client's retries and checks.
const POLL: Duration = Duration::from_millis(500);

/// A limit for things that take seconds on an idle machine and must not fail on a busy one.
const PATIENCE: Duration = Duration::from_secs(600);

fn real_cluster() -> Option<&'static RealCluster> {
    if !labform_test_tiers::REAL_KUBERNETES.available() {
        return None;
    }
    Some(RealCluster::shared())
}

async fn connect(cluster: &RealCluster) -> ClusterApi {
    ClusterApi::from_kubeconfig(&SecretString::from(cluster.admin_kubeconfig()))
        .await
        .expect("the real cluster's kubeconfig is usable")
        .with_retry_interval(POLL)
}

fn kubectl(cluster: &RealCluster, arguments: &[&str]) -> String {
    cluster
        .kubectl(arguments)
        .unwrap_or_else(|error| panic!("{error}"))
}

fn apply(cluster: &RealCluster, yaml: &str) {
    cluster
        .apply(yaml)
        .unwrap_or_else(|error| panic!("{error}"));
}

/// Polls `check` until it returns `Some`, within [`PATIENCE`].
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {PATIENCE:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A fresh namespace (deleted first if an earlier run left it).
async fn fresh_namespace(cluster: &RealCluster, namespace: &str) {
    let _ = cluster.kubectl(&["delete", "namespace", namespace, "--wait=true"]);
    apply(
        cluster,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"),
    );
    // Pods need the namespace's default ServiceAccount, made by the controller-manager.
    eventually(&format!("the ServiceAccount of {namespace}"), || {
        cluster
            .kubectl(&["-n", namespace, "get", "serviceaccount", "default"])
            .ok()
    })
    .await;
}

/// Waits until every pod of `namespace` is Running and Ready.
async fn pods_ready(cluster: &RealCluster, namespace: &str, count: usize) {
    eventually(&format!("{count} ready pods in {namespace}"), || {
        let ready = cluster
            .kubectl(&[
                "-n",
                namespace,
                "get",
                "pods",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ])
            .ok()?;
        let statuses: Vec<&str> = ready.lines().collect();
        (statuses.len() == count && statuses.iter().all(|status| *status == "True")).then_some(())
    })
    .await;
}

/// The names and node of the pods in `namespace`, with their UIDs.
fn pods(cluster: &RealCluster, namespace: &str) -> BTreeMap<String, (String, String)> {
    kubectl(
        cluster,
        &[
            "-n",
            namespace,
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.metadata.uid}{\"\\n\"}{end}",
        ],
    )
    .lines()
    .filter_map(|line| {
        let mut parts = line.split(' ');
        let name = parts.next()?.to_owned();
        let node = parts.next().unwrap_or_default().to_owned();
        let uid = parts.next().unwrap_or_default().to_owned();
        Some((name, (node, uid)))
    })
    .collect()
}

fn unschedulable(cluster: &RealCluster) -> String {
    kubectl(
        cluster,
        &[
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.spec.unschedulable}",
        ],
    )
}

/// A busybox container spec that sleeps, as YAML lines indented for a pod template.
fn sleeper(indent: &str, grace_seconds: u32) -> String {
    format!(
        "{indent}terminationGracePeriodSeconds: {grace_seconds}\n\
         {indent}automountServiceAccountToken: false\n\
         {indent}containers:\n\
         {indent}- name: sleeper\n\
         {indent}  image: {BUSYBOX_IMAGE}\n\
         {indent}  imagePullPolicy: Never\n\
         {indent}  command: [/bin/busybox, sleep, \"2147483647\"]\n"
    )
}
