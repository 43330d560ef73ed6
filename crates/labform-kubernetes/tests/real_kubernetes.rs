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

mod common;

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

#[tokio::test]
async fn the_real_cluster_is_ready_and_reports_its_kubelet_version() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let api = connect(cluster).await;
    api.wait_ready(&[NODE_NAME.to_owned()], PATIENCE, POLL)
        .await
        .unwrap();
    let versions = api.node_versions().await.unwrap();
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        [(NODE_NAME.to_owned(), VERSION.to_owned())]
    );

    let error = api
        .wait_ready(
            &[NODE_NAME.to_owned(), "labform-missing-node".to_owned()],
            Duration::from_secs(2),
            POLL,
        )
        .await
        .unwrap_err();
    insta::assert_snapshot!(error.to_string().replace(cluster.server(), "https://NODE:6443"), @r"
    the cluster at https://NODE:6443 was not ready within 2s: 1 of 2 nodes is not Ready
      - labform-missing-node: not registered: the API has no Node of this name (its kubelet has not joined the cluster)
    ");
}

#[tokio::test]
async fn cordon_and_uncordon_show_in_the_real_node_spec() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let _node = NODE_IN_USE.lock().await;
    let api = connect(cluster).await;
    api.cordon(NODE_NAME).await.unwrap();
    assert_eq!(unschedulable(cluster), "true");
    // Twice is fine.
    api.cordon(NODE_NAME).await.unwrap();
    api.uncordon(NODE_NAME).await.unwrap();
    assert_eq!(unschedulable(cluster), "");
    // The rest of the node is untouched.
    assert_eq!(
        kubectl(
            cluster,
            &[
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.status.nodeInfo.kubeletVersion}"
            ]
        ),
        VERSION
    );

    let error = api.cordon("labform-missing-node").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot cordon node labform-missing-node: HTTP 404 NotFound: nodes \"labform-missing-node\" not found"
    );
}

/// A Deployment, a StatefulSet guarded by a PodDisruptionBudget (`policy/v1beta1`), a pod
/// without a controller, and a DaemonSet, all sleeping on the node.
fn drain_workloads(namespace: &str) -> String {
    let template = sleeper("      ", 1);
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {namespace}\n\
         spec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n{template}\
         ---\n\
         apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: postgres\n  namespace: {namespace}\n\
         spec:\n  replicas: 1\n  serviceName: postgres\n  selector:\n    matchLabels: {{app: postgres}}\n  template:\n    metadata:\n      labels: {{app: postgres}}\n    spec:\n{template}\
         ---\n\
         apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: node-agent\n  namespace: {namespace}\n\
         spec:\n  selector:\n    matchLabels: {{app: node-agent}}\n  template:\n    metadata:\n      labels: {{app: node-agent}}\n    spec:\n{template}\
         ---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: bare\n  namespace: {namespace}\nspec:\n{bare}\
         ---\n\
         apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: postgres\n  namespace: {namespace}\n\
         spec:\n  minAvailable: 1\n  selector:\n    matchLabels: {{app: postgres}}\n",
        bare = sleeper("  ", 1),
    )
}

#[tokio::test]
async fn drain_evicts_through_the_real_eviction_api_respecting_a_disruption_budget() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let _node = NODE_IN_USE.lock().await;
    let namespace = "labform-drain";
    let api = connect(cluster).await;
    api.uncordon(NODE_NAME).await.unwrap();
    fresh_namespace(cluster, namespace).await;
    apply(cluster, &drain_workloads(namespace));
    pods_ready(cluster, namespace, 4).await;
    // The budget counts the pod as healthy once the disruption controller has seen it;
    // before that, evictions are refused as "still being processed".
    eventually("the disruption budget's status", || {
        let status = cluster
            .kubectl(&[
                "-n",
                namespace,
                "get",
                "poddisruptionbudget",
                "postgres",
                "-o",
                "jsonpath={.status.currentHealthy}/{.status.desiredHealthy}",
            ])
            .ok()?;
        (status == "1/1").then_some(())
    })
    .await;
    let before = pods(cluster, namespace);
    let postgres_uid = before["postgres-0"].1.clone();

    // v1.20 serves evictions as policy/v1beta1 and refuses a policy/v1 Eviction; the client
    // asks discovery which one to send.
    assert_eq!(api.eviction_api_version().await.unwrap(), "policy/v1beta1");
    let refused_v1 = cluster
        .kubectl_with_input(
            &[
                "create",
                "--raw",
                &format!("/api/v1/namespaces/{namespace}/pods/bare/eviction"),
                "-f",
                "-",
            ],
            Some(&format!(
                "{{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{{\"name\":\"bare\",\"namespace\":\"{namespace}\"}}}}"
            )),
        )
        .unwrap_err();
    assert!(refused_v1.contains("policy/v1"), "{refused_v1}");
    assert!(pods(cluster, namespace).contains_key("bare"));

    // The budget refuses the StatefulSet's pod every time; the rest is evicted.
    let error = api
        .drain(NODE_NAME, Duration::from_secs(20))
        .await
        .unwrap_err();
    let ClusterApiError::Drain(failure) = &error else {
        panic!("expected a drain failure, got {error}");
    };
    let refused: Vec<_> = failure
        .left
        .iter()
        .filter(|left| matches!(left.why, WhyLeft::EvictionRefused { .. }))
        .collect();
    assert_eq!(refused.len(), 1, "{error}");
    assert_eq!(
        refused[0].pod.to_string(),
        format!("{namespace}/postgres-0")
    );
    let WhyLeft::EvictionRefused { attempts, refusal } = &refused[0].why else {
        unreachable!("filtered above");
    };
    assert!(*attempts >= 2, "evictions are retried: {attempts}");
    assert_eq!(
        refusal,
        "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget postgres needs 1 healthy pods and has 1 currently"
    );
    // Whatever else is left is only still stopping.
    assert!(
        failure
            .left
            .iter()
            .all(|left| left.pod.name == "postgres-0" || left.why == WhyLeft::StillTerminating),
        "{error}"
    );
    assert_eq!(unschedulable(cluster), "true", "the node stays cordoned");

    // Without the budget the drain finishes: the StatefulSet's pod is evicted and made again
    // under the same name (it waits, unscheduled, on the cordoned node), the DaemonSet's pod
    // and the static pod's mirror stay.
    kubectl(
        cluster,
        &["-n", namespace, "delete", "poddisruptionbudget", "postgres"],
    );
    let report = api.drain(NODE_NAME, PATIENCE).await.unwrap();
    let evicted: Vec<String> = report.evicted.iter().map(ToString::to_string).collect();
    assert!(
        evicted.contains(&format!("{namespace}/postgres-0")),
        "{evicted:?}"
    );
    let daemon_set: Vec<String> = report
        .daemon_set_pods
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(daemon_set.len(), 1, "{daemon_set:?}");
    assert!(
        daemon_set[0].starts_with(&format!("{namespace}/node-agent-")),
        "{daemon_set:?}"
    );
    let mirror: Vec<String> = report.mirror_pods.iter().map(ToString::to_string).collect();
    assert_eq!(mirror, [format!("kube-system/{STATIC_POD}-{NODE_NAME}")]);

    let after = pods(cluster, namespace);
    let on_node: Vec<&String> = after
        .iter()
        .filter(|(_, (node, _))| node == NODE_NAME)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(on_node.len(), 1, "only the DaemonSet's pod: {after:?}");
    assert!(on_node[0].starts_with("node-agent-"), "{after:?}");
    assert!(!after.contains_key("bare"), "{after:?}");
    if let Some((node, uid)) = after.get("postgres-0") {
        assert_ne!(uid, &postgres_uid, "a new pod of the same name");
        assert!(node.is_empty(), "not scheduled on the cordoned node");
    }

    api.uncordon(NODE_NAME).await.unwrap();
    kubectl(cluster, &["delete", "namespace", namespace, "--wait=false"]);
}

#[tokio::test]
async fn drain_names_a_real_pod_that_ignores_sigterm_as_still_terminating() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let _node = NODE_IN_USE.lock().await;
    let namespace = "labform-drain-slow";
    let api = connect(cluster).await;
    api.uncordon(NODE_NAME).await.unwrap();
    fresh_namespace(cluster, namespace).await;
    // busybox's sleep as a container's first process ignores SIGTERM: the pod stops only
    // when its grace period of 10 minutes runs out.
    apply(
        cluster,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: slow\n  namespace: {namespace}\nspec:\n{}",
            sleeper("  ", 600)
        ),
    );
    pods_ready(cluster, namespace, 1).await;
    let error = api
        .drain(NODE_NAME, Duration::from_secs(10))
        .await
        .unwrap_err();
    let ClusterApiError::Drain(failure) = &error else {
        panic!("expected a drain failure, got {error}");
    };
    assert_eq!(failure.left.len(), 1, "{error}");
    assert_eq!(failure.left[0].pod.to_string(), format!("{namespace}/slow"));
    assert_eq!(failure.left[0].why, WhyLeft::StillTerminating);
    assert!(
        error.to_string().contains(&format!(
            "  - {namespace}/slow: evicted, but still terminating"
        )),
        "{error}"
    );
    kubectl(
        cluster,
        &[
            "-n",
            namespace,
            "delete",
            "pod",
            "slow",
            "--grace-period=0",
            "--force",
        ],
    );
    api.uncordon(NODE_NAME).await.unwrap();
    kubectl(cluster, &["delete", "namespace", namespace, "--wait=false"]);
}

/// K3s's `HelmChart` and `Addon` kinds, as CRDs (as K3s itself serves them).
const K3S_CRDS: &str = r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: helmcharts.helm.cattle.io
spec:
  group: helm.cattle.io
  scope: Namespaced
  names: {kind: HelmChart, plural: helmcharts, singular: helmchart, listKind: HelmChartList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: addons.k3s.cattle.io
spec:
  group: k3s.cattle.io
  scope: Namespaced
  names: {kind: Addon, plural: addons, singular: addon, listKind: AddonList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

const METALLB: &str = r"# MetalLB, as labform renders it
apiVersion: v1
kind: Namespace
metadata:
  name: labform-metallb
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: metallb
  namespace: kube-system
spec:
  chart: metallb
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: metallb-settings
  namespace: labform-metallb
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: never-created
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: labform
  namespace: labform-metallb
---
apiVersion: v1
kind: Frobnicator
metadata:
  name: x
";

#[tokio::test]
async fn removing_an_addon_deletes_its_objects_from_the_real_server() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    apply(cluster, K3S_CRDS);
    kubectl(
        cluster,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=600s",
            "crd/helmcharts.helm.cattle.io",
            "crd/addons.k3s.cattle.io",
        ],
    );
    let _ = cluster.kubectl(&["delete", "namespace", "labform-metallb", "--wait=true"]);
    apply(
        cluster,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: labform-metallb\n---\n\
         apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: metallb\n  namespace: kube-system\nspec:\n  chart: metallb\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: metallb-settings\n  namespace: labform-metallb\n---\n\
         apiVersion: k3s.cattle.io/v1\nkind: Addon\nmetadata:\n  name: 40-metallb\n  namespace: kube-system\nspec:\n  source: /var/lib/rancher/k3s/server/manifests/40-metallb.yaml\n---\n\
         apiVersion: k3s.cattle.io/v1\nkind: Addon\nmetadata:\n  name: 50-cert-manager\n  namespace: kube-system\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: labform-metallb\n  finalizers: [labform.dev/hold]\n",
    );
    let api = connect(cluster).await;

    let report = api.remove_addon("40-metallb.yaml", METALLB).await.unwrap();
    insta::assert_snapshot!(report.to_string(), @r"
    not deleted: Frobnicator x (v1): the cluster serves API version v1 but no kind Frobnicator in it
    not deleted: IPAddressPool labform-metallb/labform (metallb.io/v1beta1): the cluster does not serve API version metallb.io/v1beta1
    already absent: ConfigMap never-created (v1)
    deleted ConfigMap labform-metallb/metallb-settings (v1)
    deleted HelmChart kube-system/metallb (helm.cattle.io/v1)
    deleted Namespace labform-metallb (v1)
    deleted Addon kube-system/40-metallb (k3s.cattle.io/v1)
    ");
    let gone = |arguments: &[&str]| {
        cluster
            .kubectl(arguments)
            .is_err_and(|error| error.contains("NotFound"))
    };
    assert!(gone(&["-n", "kube-system", "get", "helmchart", "metallb"]));
    assert!(gone(&["-n", "kube-system", "get", "addon", "40-metallb"]));
    assert!(!gone(&[
        "-n",
        "kube-system",
        "get",
        "addon",
        "50-cert-manager"
    ]));

    // Running it again while the namespace is still being emptied (a finalizer holds one of
    // its ConfigMaps) fails on nothing: the server accepts a second deletion of a namespace
    // that is terminating.
    let again = api.remove_addon("40-metallb.yaml", METALLB).await.unwrap();
    insta::assert_snapshot!(again.to_string(), @r"
    not deleted: Frobnicator x (v1): the cluster serves API version v1 but no kind Frobnicator in it
    not deleted: IPAddressPool labform-metallb/labform (metallb.io/v1beta1): the cluster does not serve API version metallb.io/v1beta1
    already absent: ConfigMap never-created (v1)
    already absent: ConfigMap labform-metallb/metallb-settings (v1)
    already absent: HelmChart kube-system/metallb (helm.cattle.io/v1)
    deleted Namespace labform-metallb (v1)
    already absent: Addon kube-system/40-metallb (k3s.cattle.io/v1)
    ");
    kubectl(
        cluster,
        &[
            "-n",
            "labform-metallb",
            "patch",
            "configmap",
            "held",
            "--type=merge",
            "-p",
            "{\"metadata\":{\"finalizers\":null}}",
        ],
    );
    eventually("namespace labform-metallb to be gone", || {
        gone(&["get", "namespace", "labform-metallb"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_broken_manifest_deletes_nothing_on_the_real_server() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    apply(
        cluster,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labform-kept\n  namespace: default\n",
    );
    let api = connect(cluster).await;
    let error = api
        .delete_objects("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labform-kept\n  namespace: default\n---\nkind: ConfigMap\nmetadata:\n  name: b\n")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "manifest manifest, document 2: an object has no apiVersion"
    );
    kubectl(
        cluster,
        &["-n", "default", "get", "configmap", "labform-kept"],
    );
}

fn wanted_secret(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> WantedSecret {
    WantedSecret {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        data: pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), SecretString::from(*value)))
            .collect(),
        labels: [("labform.dev/purpose".to_owned(), "test".to_owned())].into(),
    }
}

fn secret_field(cluster: &RealCluster, namespace: &str, name: &str, path: &str) -> String {
    kubectl(
        cluster,
        &[
            "-n",
            namespace,
            "get",
            "secret",
            name,
            "-o",
            &format!("jsonpath={path}"),
        ],
    )
}

#[tokio::test]
async fn secrets_are_made_updated_and_removed_on_the_real_server_and_only_labform_s() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let certificates = "labform-secrets-certs";
    let storage = "labform-secrets-minio";
    for namespace in [certificates, storage] {
        let _ = cluster.kubectl(&["delete", "namespace", namespace, "--wait=true"]);
    }
    apply(
        cluster,
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {certificates}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: alice-token\n  namespace: {certificates}\n  labels:\n    app.kubernetes.io/managed-by: labform\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: theirs\n  namespace: {certificates}\ndata:\n  k: dmFsdWU=\n"
        ),
    );
    let api = connect(cluster).await;
    let wanted = vec![
        wanted_secret(
            certificates,
            "cloudflare-token",
            &[("api-token", "cf-secret-1")],
        ),
        wanted_secret(
            storage,
            "minio-root",
            &[("rootUser", "admin"), ("rootPassword", "pw-1")],
        ),
    ];
    let changes = api.converge_secrets(&wanted).await.expect("made");
    assert_eq!(
        changes.created,
        [
            format!("{certificates}/cloudflare-token"),
            format!("{storage}/minio-root")
        ]
    );
    assert_eq!(
        kubectl(
            cluster,
            &[
                "get",
                "namespace",
                storage,
                "-o",
                "jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}"
            ]
        ),
        "labform"
    );
    assert_eq!(
        secret_field(cluster, storage, "minio-root", "{.data.rootPassword}"),
        "cHctMQ=="
    );
    assert_eq!(
        secret_field(cluster, storage, "minio-root", "{.type}"),
        "Opaque"
    );
    let read = api
        .read_secret(storage, "minio-root")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read["rootUser"].expose_secret(), "admin");

    let again = api.converge_secrets(&wanted).await.expect("converged");
    assert!(!again.changed(), "{again:?}");
    assert_eq!(again.unchanged.len(), 2);

    let changed = vec![wanted_secret(
        storage,
        "minio-root",
        &[("rootPassword", "pw-2")],
    )];
    let changes = api.converge_secrets(&changed).await.expect("converged");
    assert_eq!(changes.updated, [format!("{storage}/minio-root")]);
    assert_eq!(
        changes.deleted,
        [format!("{certificates}/cloudflare-token")]
    );
    assert_eq!(
        secret_field(cluster, storage, "minio-root", "{.data}"),
        "{\"rootPassword\":\"cHctMg==\"}"
    );
    assert!(
        cluster
            .kubectl(&["-n", certificates, "get", "secret", "cloudflare-token"])
            .is_err_and(|error| error.contains("NotFound"))
    );
    kubectl(cluster, &["-n", certificates, "get", "secret", "theirs"]);
    kubectl(
        cluster,
        &["-n", certificates, "get", "secret", "alice-token"],
    );
    assert!(api.read_secret(storage, "absent").await.unwrap().is_none());

    for namespace in [certificates, storage] {
        kubectl(cluster, &["delete", "namespace", namespace, "--wait=false"]);
    }
}

#[tokio::test]
async fn tenants_get_their_namespace_service_account_and_token_on_the_real_server() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let (_, plan) = common::planned("examples/seed-000");
    let hosting = plan
        .clusters
        .iter()
        .find(|planned| !planned.tenant_access.is_empty())
        .expect("seed 000 has a cluster whose services tenants use");
    let manifests = labform_kubernetes::addon_manifests(&plan, hosting).unwrap();
    let access = manifests
        .files
        .iter()
        .find(|file| file.name == "tenant-access")
        .expect("a tenant-access manifest");
    // What K3s's deploy controller does with the file.
    apply(cluster, &access.to_yaml(&hosting.name).unwrap());

    let api = connect(cluster).await;
    for tenant in &hosting.tenant_access {
        // The token controller fills the token Secret in.
        eventually(&format!("{}'s token", tenant.tenant), || {
            let token = cluster
                .kubectl(&[
                    "-n",
                    &tenant.namespace,
                    "get",
                    "secret",
                    &tenant.token_secret,
                    "-o",
                    "jsonpath={.data.token}",
                ])
                .ok()?;
            (!token.is_empty()).then_some(())
        })
        .await;
        let data = api
            .read_secret(&tenant.namespace, &tenant.token_secret)
            .await
            .unwrap()
            .expect("the token Secret exists");
        assert!(!data["token"].expose_secret().is_empty());
        assert!(data.contains_key("ca.crt"));

        // `edit` in its own namespace, nothing elsewhere.
        let account = format!(
            "--as=system:serviceaccount:{}:{}",
            tenant.namespace, tenant.service_account
        );
        // `kubectl auth can-i` answers "no" with exit status 1.
        let can = |namespace: &str, verb: &str, resource: &str| match cluster
            .kubectl(&["auth", "can-i", verb, resource, "-n", namespace, &account])
        {
            Ok(answer) => answer.trim() == "yes",
            Err(error) => {
                assert!(!error.contains("error:"), "{error}");
                false
            }
        };
        assert!(can(&tenant.namespace, "create", "deployments"));
        assert!(can(&tenant.namespace, "delete", "configmaps"));
        assert!(!can("default", "create", "deployments"));
        assert!(!can("kube-system", "get", "secrets"));
        assert!(!can(&tenant.namespace, "create", "rolebindings"));
    }
}

/// What kubeadm clusters get through the API instead of K3s's auto-deploy directory: a
/// manifest applied server-side (a CRD among its objects) and applied again with a change, the
/// CRD Established and an object of it applied, a kind the server does not serve refused with
/// the manifest and document named, and a node label set.
#[tokio::test]
async fn manifests_are_applied_server_side_on_the_real_server() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let api = connect(cluster).await;
    let namespace = "labform-apply";
    let crd = "widgets.apply.labform.dev";
    let _ = cluster.kubectl(&["delete", "namespace", namespace, "--wait=true"]);
    let _ = cluster.kubectl(&["delete", "crd", crd, "--wait=true"]);
    let manifest = |colour: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {namespace}\ndata:\n  colour: {colour}\n---\n\
             apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {crd}\n\
             spec:\n  group: apply.labform.dev\n  scope: Namespaced\n  names:\n    plural: widgets\n    singular: widget\n    kind: Widget\n\
             \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
        )
    };
    assert_eq!(
        api.apply_manifest("00-settings.yaml", &manifest("blue"))
            .await
            .expect("applied"),
        3
    );
    let colour = || {
        kubectl(
            cluster,
            &[
                "-n",
                namespace,
                "get",
                "configmap",
                "settings",
                "-o",
                "jsonpath={.data.colour}",
            ],
        )
    };
    assert_eq!(colour(), "blue");
    let managers = kubectl(
        cluster,
        &[
            "-n",
            namespace,
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ],
    );
    assert!(
        managers.split(' ').any(|manager| manager == "labform"),
        "{managers}"
    );
    api.apply_manifest("00-settings.yaml", &manifest("green"))
        .await
        .expect("applied again");
    assert_eq!(colour(), "green");

    api.wait_crds_established(&[crd], PATIENCE, POLL)
        .await
        .expect("the CRD is Established");
    let widget = format!(
        "apiVersion: apply.labform.dev/v1\nkind: Widget\nmetadata:\n  name: first\n  namespace: {namespace}\nsize: 3\n"
    );
    assert_eq!(
        api.apply_manifest("01-widget.yaml", &widget)
            .await
            .expect("the new kind is served"),
        1
    );
    assert_eq!(
        kubectl(
            cluster,
            &[
                "-n",
                namespace,
                "get",
                "widgets",
                "first",
                "-o",
                "jsonpath={.size}"
            ]
        ),
        "3"
    );

    let error = api
        .apply_manifest(
            "02-gadget.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: labform-apply\n---\napiVersion: apply.labform.dev/v9\nkind: Gadget\nmetadata:\n  name: x\n",
        )
        .await
        .expect_err("no such kind")
        .to_string();
    assert!(
        error.starts_with("manifest 02-gadget.yaml, document 2:") && error.contains("v9"),
        "{error}"
    );

    api.label_node(NODE_NAME, "apply.labform.dev/tested", "true")
        .await
        .expect("labelled");
    assert_eq!(
        kubectl(
            cluster,
            &[
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.metadata.labels.apply\\.labform\\.dev/tested}"
            ],
        ),
        "true"
    );
    let _ = cluster.kubectl(&["label", "node", NODE_NAME, "apply.labform.dev/tested-"]);
    let _ = cluster.kubectl(&["delete", "namespace", namespace, "--wait=false"]);
    let _ = cluster.kubectl(&["delete", "crd", crd, "--wait=false"]);
}
