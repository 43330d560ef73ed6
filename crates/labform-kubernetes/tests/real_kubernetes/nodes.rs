//! The node: readiness and version, cordon, and drains with real evictions, disruption
//! budgets and a pod that ignores SIGTERM.

use super::*;

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

/// The planned nodes' `api_labels` are set on the real node once, then labels the lab dropped
/// are removed; the node's own labels stay.
#[tokio::test]
async fn api_labels_are_set_and_dropped_labels_removed_on_the_real_node() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let _node = NODE_IN_USE.lock().await;
    let api = connect(cluster).await;
    let (_, plan) = common::planned("examples/seed-003");
    let mut planned = plan.clusters[0].clone();
    planned.nodes.truncate(1);
    planned.nodes[0].vm = NODE_NAME.to_owned();
    planned.nodes[0].api_labels = vec![
        "node-role.kubernetes.io/worker=true".to_owned(),
        "example.com/tier=".to_owned(),
    ];
    let labels = |cluster: &RealCluster| {
        kubectl(
            cluster,
            &[
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.metadata.labels}",
            ],
        )
    };
    assert_eq!(
        api.set_api_labels(&planned).await.unwrap(),
        [format!(
            "labelled {NODE_NAME}: node-role.kubernetes.io/worker=true, example.com/tier="
        )]
    );
    let set: serde_json::Value = serde_json::from_str(&labels(cluster)).expect("JSON");
    assert_eq!(set["node-role.kubernetes.io/worker"], "true");
    assert_eq!(set["example.com/tier"], "");
    assert_eq!(set["kubernetes.io/hostname"], NODE_NAME);
    // Already there: nothing is written.
    assert_eq!(
        api.set_api_labels(&planned).await.unwrap(),
        Vec::<String>::new()
    );

    let dropped = vec![
        "node-role.kubernetes.io/worker".to_owned(),
        "example.com/tier".to_owned(),
        "example.com/never-set".to_owned(),
    ];
    assert!(api.remove_node_labels(NODE_NAME, &dropped).await.unwrap());
    let left: serde_json::Value = serde_json::from_str(&labels(cluster)).expect("JSON");
    assert!(
        left.get("node-role.kubernetes.io/worker").is_none(),
        "{left}"
    );
    assert!(left.get("example.com/tier").is_none(), "{left}");
    assert_eq!(left["kubernetes.io/hostname"], NODE_NAME);
    assert!(!api.remove_node_labels(NODE_NAME, &dropped).await.unwrap());
}

/// The taints labform gives a node are set, changed (another value, one more) and removed on
/// the real node through `spec.taints`; a taint set by hand stays through all of it, with the
/// `timeAdded` the API gave it, and a second identical call writes nothing.
#[tokio::test]
async fn labforms_taints_are_set_changed_and_removed_on_the_real_node() {
    let Some(cluster) = real_cluster() else {
        return;
    };
    let _node = NODE_IN_USE.lock().await;
    let api = connect(cluster).await;
    // (key, value, effect) of each taint on the node, in its order.
    let taints = |cluster: &RealCluster| -> Vec<(String, String, String)> {
        let text = kubectl(
            cluster,
            &["get", "node", NODE_NAME, "-o", "jsonpath={.spec.taints}"],
        );
        if text.trim().is_empty() {
            return Vec::new();
        }
        let taints: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON");
        taints
            .iter()
            .map(|taint| {
                let text = |field: &str| taint[field].as_str().unwrap_or_default().to_owned();
                (text("key"), text("value"), text("effect"))
            })
            .collect()
    };
    let owned = |taints: &[(String, String, String)]| -> Vec<String> {
        taints
            .iter()
            .filter(|(key, _, _)| key.starts_with("labform.example/"))
            .map(|(key, value, effect)| format!("{key}={value}:{effect}"))
            .collect()
    };
    let strings =
        |texts: &[&str]| -> Vec<String> { texts.iter().map(|text| (*text).to_owned()).collect() };
    let by_hand = (
        "example.com/by-hand".to_owned(),
        "yes".to_owned(),
        "PreferNoSchedule".to_owned(),
    );
    kubectl(
        cluster,
        &[
            "taint",
            "node",
            NODE_NAME,
            "example.com/by-hand=yes:PreferNoSchedule",
        ],
    );
    let time_added = || {
        kubectl(
            cluster,
            &[
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.spec.taints[?(@.key==\"example.com/by-hand\")]}",
            ],
        )
    };
    let by_hand_as_set = time_added();

    let batch = strings(&["labform.example/dedicated=batch:NoSchedule"]);
    assert!(api.set_node_taints(NODE_NAME, &[], &batch).await.unwrap());
    let now = taints(cluster);
    assert_eq!(owned(&now), batch);
    assert!(now.contains(&by_hand), "{now:?}");
    assert!(!api.set_node_taints(NODE_NAME, &[], &batch).await.unwrap());

    let changed = strings(&[
        "labform.example/dedicated=gpu:NoSchedule",
        "labform.example/spot=:PreferNoSchedule",
    ]);
    assert!(
        api.set_node_taints(NODE_NAME, &batch, &changed)
            .await
            .unwrap()
    );
    let now = taints(cluster);
    assert_eq!(owned(&now), changed);
    assert!(now.contains(&by_hand), "{now:?}");

    assert!(api.set_node_taints(NODE_NAME, &changed, &[]).await.unwrap());
    let now = taints(cluster);
    assert_eq!(owned(&now), Vec::<String>::new());
    assert!(now.contains(&by_hand), "{now:?}");
    assert_eq!(
        time_added(),
        by_hand_as_set,
        "the hand-set taint is untouched"
    );
    assert!(!api.set_node_taints(NODE_NAME, &changed, &[]).await.unwrap());

    // A taint that is not one is named.
    let error = api
        .set_node_taints(NODE_NAME, &[], &strings(&["labform.example/x"]))
        .await
        .expect_err("no effect");
    assert!(error.to_string().contains("labform.example/x"), "{error}");
    kubectl(
        cluster,
        &["taint", "node", NODE_NAME, "example.com/by-hand-"],
    );
}
