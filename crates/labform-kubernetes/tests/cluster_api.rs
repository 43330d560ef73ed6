//! The Kubernetes API layer against the kube-apiserver simulator (`labform-kube-sim`) over
//! HTTPS with client certificates: readiness, node versions, cordon and drain, deleting a
//! manifest's objects, and TLS verification against the kubeconfig's CA.

use std::time::Duration;

use labform_kube_sim::{KubeSim, NodeReadiness, PodOwner, PodSpec};
use labform_kubernetes::cluster_api::{
    ApiState, ClusterApi, ClusterApiError, DeletionOutcome, NodeProblem, WantedSecret, WhyLeft,
};
use secrecy::SecretString;
use serde_json::json;

const POLL: Duration = Duration::from_millis(20);

async fn connect(sim: &KubeSim) -> ClusterApi {
    ClusterApi::from_kubeconfig(&SecretString::from(sim.kubeconfig()))
        .await
        .expect("the simulator's kubeconfig is usable")
        .with_retry_interval(POLL)
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// The error text with the simulator's random port replaced.
fn redacted(sim: &KubeSim, error: &ClusterApiError) -> String {
    error
        .to_string()
        .replace(&sim.url(), "https://127.0.0.1:PORT")
}

#[tokio::test]
async fn a_ready_cluster_is_ready_and_reports_kubelet_versions() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    sim.add_node_with_version("k3s-agent-1", "v1.30.8+k3s1");
    let api = connect(&sim).await;
    api.wait_ready(
        &names(&["k3s-server-1", "k3s-agent-1"]),
        Duration::from_secs(10),
        POLL,
    )
    .await
    .unwrap();

    let versions = api.node_versions().await.unwrap();
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        [
            ("k3s-agent-1".to_owned(), "v1.30.8+k3s1".to_owned()),
            ("k3s-server-1".to_owned(), "v1.31.4+k3s1".to_owned()),
        ]
    );
    sim.set_kubelet_version("k3s-agent-1", "v1.31.4+k3s1");
    assert_eq!(
        api.node_versions().await.unwrap()["k3s-agent-1"],
        "v1.31.4+k3s1"
    );
}

#[tokio::test]
async fn a_node_that_never_becomes_ready_is_named_with_reason_and_message() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    sim.add_node("k3s-server-2");
    sim.add_node("k3s-agent-1");
    sim.set_node_ready(
        "k3s-server-2",
        &NodeReadiness::not_ready(
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        ),
    );
    sim.set_node_ready("k3s-agent-1", &NodeReadiness::unknown());
    let api = connect(&sim).await;
    let error = api
        .wait_ready(
            &names(&["k3s-server-1", "k3s-server-2", "k3s-agent-1"]),
            Duration::from_millis(300),
            POLL,
        )
        .await
        .unwrap_err();
    let ClusterApiError::NotReady(report) = &error else {
        panic!("expected NotReady, got {error:?}");
    };
    assert_eq!(report.api, ApiState::Answering);
    let nodes = report.nodes.as_ref().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(
        nodes[1].problem,
        NodeProblem::Condition {
            status: "Unknown".to_owned(),
            reason: Some("NodeStatusUnknown".to_owned()),
            message: Some("Kubelet stopped posting node status.".to_owned()),
        }
    );
    insta::assert_snapshot!(redacted(&sim, &error), @r"
    the cluster at https://127.0.0.1:PORT was not ready within 300ms: 2 of 3 nodes are not Ready
      - k3s-server-2: Ready is False (KubeletNotReady): container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized
      - k3s-agent-1: Ready is Unknown (NodeStatusUnknown): Kubelet stopped posting node status.
    ");
}

#[tokio::test]
async fn a_missing_node_is_named() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    let api = connect(&sim).await;
    let error = api
        .wait_ready(
            &names(&["k3s-server-1", "k3s-agent-1"]),
            Duration::from_millis(200),
            POLL,
        )
        .await
        .unwrap_err();
    insta::assert_snapshot!(redacted(&sim, &error), @r"
    the cluster at https://127.0.0.1:PORT was not ready within 200ms: 1 of 2 nodes is not Ready
      - k3s-agent-1: not registered: the API has no Node of this name (its kubelet has not joined the cluster)
    ");

    // The node joins later: the next wait succeeds.
    sim.add_node("k3s-agent-1");
    api.wait_ready(
        &names(&["k3s-server-1", "k3s-agent-1"]),
        Duration::from_secs(10),
        POLL,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_node_becoming_ready_later_ends_the_wait() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    sim.set_node_ready(
        "k3s-server-1",
        &NodeReadiness::not_ready("PLEG is not healthy"),
    );
    let api = connect(&sim).await;
    let expected = names(&["k3s-server-1"]);
    let waiting = tokio::spawn({
        let api = api.clone();
        let expected = expected.clone();
        async move {
            api.wait_ready(&expected, Duration::from_secs(20), POLL)
                .await
        }
    });
    // Let the wait see the node not Ready at least once, then make it Ready.
    while sim
        .requests()
        .iter()
        .filter(|request| request.path.starts_with("/api/v1/nodes"))
        .count()
        < 2
    {
        tokio::time::sleep(POLL).await;
    }
    sim.set_node_ready("k3s-server-1", &NodeReadiness::ready());
    waiting.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_api_that_refuses_connections_is_reported_with_its_cause_then_waited_for() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    let api = connect(&sim).await;
    let expected = names(&["k3s-server-1"]);
    // A connection made before the outage must not hide it.
    api.wait_ready(&expected, Duration::from_secs(10), POLL)
        .await
        .unwrap();

    sim.refuse_connections_for(Duration::from_secs(3)).await;
    let error = api
        .wait_ready(&expected, Duration::from_millis(200), POLL)
        .await
        .unwrap_err();
    let ClusterApiError::NotReady(report) = &error else {
        panic!("expected NotReady, got {error:?}");
    };
    let ApiState::Unreachable { cause } = &report.api else {
        panic!("expected an unreachable API, got {:?}", report.api);
    };
    assert!(
        cause.to_lowercase().contains("connection refused"),
        "cause: {cause}"
    );
    let text = redacted(&sim, &error);
    assert!(
        text.starts_with(
            "the cluster at https://127.0.0.1:PORT was not ready within 200ms: the API server did not answer: "
        ),
        "{text}"
    );
    // The nodes were never listed during this wait, so none is blamed.
    assert!(!text.contains("k3s-server-1"), "{text}");

    // Waiting long enough outlasts the outage.
    api.wait_ready(&expected, Duration::from_secs(20), POLL)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_api_answering_503_is_waited_for() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    sim.unavailable_for(Duration::from_millis(400));
    let api = connect(&sim).await;
    api.wait_ready(&names(&["k3s-server-1"]), Duration::from_secs(10), POLL)
        .await
        .unwrap();
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|request| request.path == "/readyz")
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses.first(), Some(&503), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
}

#[tokio::test]
async fn a_failing_readyz_check_is_reported() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    sim.set_readyz_failing(true);
    let api = connect(&sim).await;
    let error = api
        .wait_ready(&names(&["k3s-server-1"]), Duration::from_millis(200), POLL)
        .await
        .unwrap_err();
    insta::assert_snapshot!(redacted(&sim, &error), @"the cluster at https://127.0.0.1:PORT was not ready within 200ms: the API server answered /readyz with HTTP 500: [-]etcd failed: reason withheld");
}

#[tokio::test]
async fn cordon_and_uncordon_show_in_the_node_spec() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-agent-1");
    let api = connect(&sim).await;
    assert_eq!(
        sim.node("k3s-agent-1").unwrap()["spec"]["unschedulable"],
        json!(null)
    );
    api.cordon("k3s-agent-1").await.unwrap();
    assert_eq!(
        sim.node("k3s-agent-1").unwrap()["spec"]["unschedulable"],
        json!(true)
    );
    api.uncordon("k3s-agent-1").await.unwrap();
    assert_eq!(
        sim.node("k3s-agent-1").unwrap()["spec"]["unschedulable"],
        json!(null)
    );
    // The rest of the spec is untouched.
    assert_eq!(
        sim.node("k3s-agent-1").unwrap()["spec"]["providerID"],
        json!("k3s://k3s-agent-1")
    );

    let error = api.cordon("k3s-agent-9").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot cordon node k3s-agent-9: HTTP 404 NotFound: nodes \"k3s-agent-9\" not found"
    );
}

fn evictions_of(sim: &KubeSim, namespace: &str, pod: &str) -> Vec<u16> {
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/eviction");
    sim.requests()
        .iter()
        .filter(|request| request.method == "POST" && request.path.starts_with(&path))
        .map(|request| request.status)
        .collect()
}

#[tokio::test]
async fn drain_evicts_normal_pods_keeps_daemon_set_and_mirror_pods_and_retries_refusals() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-agent-1");
    sim.add_node("k3s-agent-2");
    sim.set_termination_delay(Duration::from_millis(100));
    sim.add_pod(&PodSpec::new("default", "web-7d9f8-abcde", "k3s-agent-1"));
    sim.add_pod(
        &PodSpec::new("data", "postgres-0", "k3s-agent-1")
            .owned_by(PodOwner::StatefulSet("postgres".to_owned())),
    );
    sim.add_pod(&PodSpec::new("default", "bare", "k3s-agent-1").owned_by(PodOwner::None));
    sim.add_pod(
        &PodSpec::new("kube-system", "svclb-traefik-x1", "k3s-agent-1").daemon_set("svclb-traefik"),
    );
    sim.add_pod(&PodSpec::new("kube-system", "kube-vip-k3s-agent-1", "k3s-agent-1").mirror());
    sim.add_pod(&PodSpec::new("default", "web-7d9f8-fghij", "k3s-agent-2"));
    sim.block_evictions("data", "postgres-0", Some(2), "postgres-pdb");
    let api = connect(&sim).await;

    let report = api
        .drain("k3s-agent-1", Duration::from_secs(20))
        .await
        .unwrap();
    let evicted: Vec<String> = report.evicted.iter().map(ToString::to_string).collect();
    assert_eq!(
        evicted,
        ["data/postgres-0", "default/bare", "default/web-7d9f8-abcde"]
    );
    assert_eq!(
        report.daemon_set_pods[0].to_string(),
        "kube-system/svclb-traefik-x1"
    );
    assert_eq!(
        report.mirror_pods[0].to_string(),
        "kube-system/kube-vip-k3s-agent-1"
    );

    assert!(!sim.pod_exists("default", "web-7d9f8-abcde"));
    assert!(!sim.pod_exists("data", "postgres-0"));
    assert!(!sim.pod_exists("default", "bare"));
    assert!(sim.pod_exists("kube-system", "svclb-traefik-x1"));
    assert!(sim.pod_exists("kube-system", "kube-vip-k3s-agent-1"));
    assert!(sim.pod_exists("default", "web-7d9f8-fghij"));
    assert_eq!(evictions_of(&sim, "data", "postgres-0"), [429, 429, 201]);
    assert_eq!(evictions_of(&sim, "default", "web-7d9f8-abcde"), [201]);
    assert!(evictions_of(&sim, "kube-system", "svclb-traefik-x1").is_empty());
    assert!(evictions_of(&sim, "kube-system", "kube-vip-k3s-agent-1").is_empty());
    assert_eq!(
        sim.node("k3s-agent-1").unwrap()["spec"]["unschedulable"],
        json!(true)
    );
    assert_eq!(
        sim.node("k3s-agent-2").unwrap()["spec"]["unschedulable"],
        json!(null)
    );
}

#[tokio::test]
async fn drain_times_out_naming_the_pods_a_budget_protects_forever() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-agent-1");
    sim.add_pod(&PodSpec::new("default", "web-1", "k3s-agent-1"));
    sim.add_pod(&PodSpec::new("data", "postgres-0", "k3s-agent-1"));
    sim.block_evictions("data", "postgres-0", None, "postgres-pdb");
    let api = connect(&sim).await;

    let error = api
        .drain("k3s-agent-1", Duration::from_millis(300))
        .await
        .unwrap_err();
    let ClusterApiError::Drain(failure) = &error else {
        panic!("expected a drain failure, got {error:?}");
    };
    assert_eq!(failure.left.len(), 1);
    assert_eq!(failure.left[0].pod.to_string(), "data/postgres-0");
    let WhyLeft::EvictionRefused { attempts, refusal } = &failure.left[0].why else {
        panic!("expected refusals, got {:?}", failure.left[0].why);
    };
    assert!(*attempts >= 2, "evictions are retried: {attempts}");
    assert_eq!(
        refusal,
        "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget postgres-pdb needs 1 healthy pods and has 1 currently"
    );
    let text = error
        .to_string()
        .replace(&format!("refused {attempts} times"), "refused N times");
    insta::assert_snapshot!(text, @r"
    node k3s-agent-1 was not drained within 300ms; 1 pod is still on it:
      - data/postgres-0: eviction refused N times: Cannot evict pod as it would violate the pod's disruption budget. The disruption budget postgres-pdb needs 1 healthy pods and has 1 currently
    the node stays cordoned
    ");
    assert!(!sim.pod_exists("default", "web-1"));
    assert!(sim.pod_exists("data", "postgres-0"));
}

#[tokio::test]
async fn drain_names_pods_still_terminating() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-agent-1");
    sim.set_termination_delay(Duration::from_secs(600));
    sim.add_pod(&PodSpec::new("default", "slow", "k3s-agent-1"));
    let api = connect(&sim).await;
    let error = api
        .drain("k3s-agent-1", Duration::from_millis(200))
        .await
        .unwrap_err();
    let ClusterApiError::Drain(failure) = &error else {
        panic!("expected a drain failure, got {error:?}");
    };
    assert_eq!(failure.left[0].why, WhyLeft::StillTerminating);
    assert!(
        error
            .to_string()
            .contains("  - default/slow: evicted, but still terminating"),
        "{error}"
    );
}

const METALLB: &str = r"# MetalLB, as labform renders it
apiVersion: v1
kind: Namespace
metadata:
  name: metallb-system
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
  namespace: metallb-system
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
  namespace: metallb-system
---
apiVersion: v1
kind: Frobnicator
metadata:
  name: x
";

#[tokio::test]
async fn removing_an_addon_deletes_its_objects_and_its_k3s_addon() {
    let sim = KubeSim::start().await.unwrap();
    sim.put_object(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}),
    );
    sim.put_object(json!({
        "apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
        "metadata": {"name": "metallb", "namespace": "kube-system"},
        "spec": {"chart": "metallb"},
    }));
    sim.put_object(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "metallb-settings", "namespace": "metallb-system"},
    }));
    sim.put_object(json!({
        "apiVersion": "k3s.cattle.io/v1", "kind": "Addon",
        "metadata": {"name": "40-metallb", "namespace": "kube-system"},
        "spec": {"source": "/var/lib/rancher/k3s/server/manifests/40-metallb.yaml"},
    }));
    // Another add-on's objects stay.
    sim.put_object(json!({
        "apiVersion": "k3s.cattle.io/v1", "kind": "Addon",
        "metadata": {"name": "50-cert-manager", "namespace": "kube-system"},
    }));
    let api = connect(&sim).await;

    let report = api.remove_addon("40-metallb.yaml", METALLB).await.unwrap();
    insta::assert_snapshot!(report.to_string(), @r"
    not deleted: Frobnicator x (v1): the cluster serves API version v1 but no kind Frobnicator in it
    not deleted: IPAddressPool metallb-system/labform (metallb.io/v1beta1): the cluster does not serve API version metallb.io/v1beta1
    already absent: ConfigMap never-created (v1)
    deleted ConfigMap metallb-system/metallb-settings (v1)
    deleted HelmChart kube-system/metallb (helm.cattle.io/v1)
    deleted Namespace metallb-system (v1)
    deleted Addon kube-system/40-metallb (k3s.cattle.io/v1)
    ");
    assert_eq!(report.deleted().len(), 4);
    assert_eq!(report.absent().len(), 1);
    assert_eq!(report.unknown_kinds().len(), 2);
    assert!(!sim.object_exists("v1", "Namespace", "", "metallb-system"));
    assert!(!sim.object_exists("helm.cattle.io/v1", "HelmChart", "kube-system", "metallb"));
    assert!(!sim.object_exists("v1", "ConfigMap", "metallb-system", "metallb-settings"));
    assert!(!sim.object_exists("k3s.cattle.io/v1", "Addon", "kube-system", "40-metallb"));
    assert!(sim.object_exists(
        "k3s.cattle.io/v1",
        "Addon",
        "kube-system",
        "50-cert-manager"
    ));
    assert!(sim.object_exists("v1", "Namespace", "", "kube-system"));

    // Running it again deletes nothing and fails on nothing.
    let again = api.remove_addon("40-metallb.yaml", METALLB).await.unwrap();
    assert!(again.deleted().is_empty());
    assert_eq!(again.absent().len(), 5);
    assert!(
        again
            .objects
            .iter()
            .any(|(object, outcome)| object.kind == "Addon" && *outcome == DeletionOutcome::Absent)
    );
}

#[tokio::test]
async fn delete_objects_reports_a_broken_manifest_without_deleting_anything() {
    let sim = KubeSim::start().await.unwrap();
    sim.put_object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}));
    let api = connect(&sim).await;
    let error = api
        .delete_objects("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\nkind: ConfigMap\nmetadata:\n  name: b\n")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "manifest manifest, document 2: an object has no apiVersion"
    );
    assert!(sim.object_exists("v1", "Namespace", "", "a"));
}

/// `sim`'s kubeconfig pointing at `other`'s server.
fn kubeconfig_for(sim: &KubeSim, other: &KubeSim) -> String {
    sim.kubeconfig().replace(&sim.url(), &other.url())
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    let other = KubeSim::start().await.unwrap();
    // Other's CA and client certificate, sim's address.
    let api = ClusterApi::from_kubeconfig(&SecretString::from(kubeconfig_for(&other, &sim)))
        .await
        .unwrap();
    let error = api
        .wait_ready(&names(&["k3s-server-1"]), Duration::from_millis(200), POLL)
        .await
        .unwrap_err();
    let ClusterApiError::NotReady(report) = &error else {
        panic!("expected NotReady, got {error:?}");
    };
    let ApiState::Unreachable { cause } = &report.api else {
        panic!("the TLS handshake must fail: {:?}", report.api);
    };
    // Both CAs have K3s's name, so rustls finds the issuer by name and the signature fails.
    assert!(cause.contains("invalid peer certificate"), "{cause}");
    assert!(sim.requests().is_empty(), "no request reached the server");
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-server-1");
    let other = KubeSim::start().await.unwrap();
    // Sim's CA (so the server is trusted), other's client certificate and key.
    let ours = sim.kubeconfig();
    let theirs = other.kubeconfig();
    let line = |text: &str, key: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(key))
            .unwrap()
            .to_owned()
    };
    let mixed = ours
        .replace(
            &line(&ours, "client-certificate-data:"),
            &line(&theirs, "client-certificate-data:"),
        )
        .replace(
            &line(&ours, "client-key-data:"),
            &line(&theirs, "client-key-data:"),
        );
    let api = ClusterApi::from_kubeconfig(&SecretString::from(mixed))
        .await
        .unwrap();
    let error = api.cordon("k3s-server-1").await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot cordon node k3s-server-1: "),
        "{error}"
    );
    assert!(sim.requests().is_empty(), "no request reached the server");
    assert_eq!(
        sim.node("k3s-server-1").unwrap()["spec"]["unschedulable"],
        json!(null)
    );
}

#[tokio::test]
async fn unsafe_or_broken_kubeconfigs_are_refused_without_quoting_them() {
    let sim = KubeSim::start().await.unwrap();
    let kubeconfig = sim.kubeconfig();
    let key_line = kubeconfig
        .lines()
        .find(|line| line.contains("client-key-data:"))
        .unwrap();
    let key = key_line.split_once(": ").unwrap().1.to_owned();

    let insecure = kubeconfig.replace(
        "    server:",
        "    insecure-skip-tls-verify: true\n    server:",
    );
    let error = ClusterApi::from_kubeconfig(&SecretString::from(insecure))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the kubeconfig cannot be used: it sets insecure-skip-tls-verify; labform always verifies the API server's certificate"
    );

    let without_ca: String = kubeconfig
        .lines()
        .filter(|line| !line.contains("certificate-authority-data"))
        .map(|line| format!("{line}\n"))
        .collect();
    let error = ClusterApi::from_kubeconfig(&SecretString::from(without_ca))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the kubeconfig cannot be used: its cluster has no certificate-authority-data to verify the API server with"
    );

    // A damaged key: the error says which field, never its content.
    let damaged = kubeconfig.replace(&key, &format!("{}!{}", &key[..20], &key[21..]));
    let error = ClusterApi::from_kubeconfig(&SecretString::from(damaged))
        .await
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert_eq!(
        error.to_string(),
        "the kubeconfig cannot be used: client-key-data is not valid base64"
    );
    assert!(!text.contains(&key[..20]), "{text}");

    // Not YAML at all, with key material in it.
    let garbage = format!("{key}: [: {key}");
    let error = ClusterApi::from_kubeconfig(&SecretString::from(garbage))
        .await
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains(&key[..20]), "{text}");

    // A working client does not show its credentials either.
    let api = connect(&sim).await;
    let debug = format!("{api:?}");
    assert!(!debug.contains(&key[..20]), "{debug}");
    assert!(debug.contains(&sim.url()), "{debug}");
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

#[tokio::test]
async fn secrets_are_made_updated_and_removed_and_only_labform_s() {
    let sim = KubeSim::start().await.unwrap();
    let api = connect(&sim).await;
    sim.put_object(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}}),
    );
    // A Secret labform declares in a manifest (a tenant's token), and one someone else made.
    sim.put_object(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "alice-token", "namespace": "cert-manager",
                     "labels": {"app.kubernetes.io/managed-by": "labform"}},
    }));
    sim.put_object(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "theirs", "namespace": "cert-manager"},
        "data": {"k": "dmFsdWU="},
    }));
    let wanted = vec![
        wanted_secret(
            "cert-manager",
            "cloudflare-token",
            &[("api-token", "cf-secret-1")],
        ),
        wanted_secret(
            "minio",
            "minio-root",
            &[("rootUser", "admin"), ("rootPassword", "pw-1")],
        ),
    ];
    let changes = api.converge_secrets(&wanted).await.expect("made");
    assert_eq!(
        changes.created,
        ["cert-manager/cloudflare-token", "minio/minio-root"]
    );
    // The missing namespace was made, marked as labform's.
    let namespace = sim
        .object("v1", "Namespace", "", "minio")
        .expect("namespace made");
    assert_eq!(
        namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "labform"
    );
    let stored = sim
        .object("v1", "Secret", "minio", "minio-root")
        .expect("secret made");
    assert_eq!(stored["data"]["rootPassword"], "cHctMQ=="); // base64 of pw-1
    assert_eq!(
        stored["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "labform"
    );
    assert!(
        !format!("{wanted:?}").contains("pw-1"),
        "Debug shows keys only"
    );

    // Again: nothing written.
    let again = api.converge_secrets(&wanted).await.expect("converged");
    assert!(!again.changed(), "{again:?}");
    assert_eq!(again.unchanged.len(), 2);

    // A new value and a dropped key; the other Secret leaves the lab.
    let changed = vec![wanted_secret(
        "minio",
        "minio-root",
        &[("rootPassword", "pw-2")],
    )];
    let changes = api.converge_secrets(&changed).await.expect("converged");
    assert_eq!(changes.updated, ["minio/minio-root"]);
    assert_eq!(changes.deleted, ["cert-manager/cloudflare-token"]);
    let stored = sim
        .object("v1", "Secret", "minio", "minio-root")
        .expect("secret kept");
    assert_eq!(stored["data"]["rootPassword"], "cHctMg==");
    assert!(stored["data"].get("rootUser").is_none(), "{stored}");
    assert!(!sim.object_exists("v1", "Secret", "cert-manager", "cloudflare-token"));
    assert!(
        sim.object_exists("v1", "Secret", "cert-manager", "theirs"),
        "a Secret labform did not make is never touched"
    );
    assert!(
        sim.object_exists("v1", "Secret", "cert-manager", "alice-token"),
        "a Secret of labform's manifests is not this code's to delete"
    );
}
