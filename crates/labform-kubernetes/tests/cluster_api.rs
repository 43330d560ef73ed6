//! The Kubernetes API layer against the kube-apiserver simulator (`labform-kube-sim`) over
//! HTTPS with client certificates, for what a real server cannot be made to do on demand
//! (`real_kubernetes/` runs everything else against a real kube-apiserver): nodes NotReady
//! or Unknown with given reasons, a node becoming Ready during a wait, outages, a failing
//! `/readyz`, nodes of two kubelet versions, drain on a server serving `policy/v1` evictions
//! (the real tier's v1.20 serves `policy/v1beta1`), TLS refusals where no request may reach
//! the server, and kubeconfigs refused before any request.

use std::time::Duration;

use labform_kube_sim::{KubeSim, NodeReadiness, PodOwner, PodSpec};
use labform_kubernetes::cluster_api::{ApiState, ClusterApi, ClusterApiError, NodeProblem};
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
async fn labels_a_node_may_not_give_itself_are_set_after_it_joins_and_only_once() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("k3s-agent-1");
    let api = connect(&sim).await;
    let wanted = names(&["node-role.kubernetes.io/worker=true", "example.com/tier="]);
    assert!(api.set_node_labels("k3s-agent-1", &wanted).await.unwrap());
    let labels = sim.node("k3s-agent-1").unwrap()["metadata"]["labels"].clone();
    assert_eq!(labels["node-role.kubernetes.io/worker"], json!("true"));
    assert_eq!(labels["example.com/tier"], json!(""));
    // The labels the node registered with stay.
    assert_eq!(labels["kubernetes.io/hostname"], json!("k3s-agent-1"));
    let patches = |sim: &KubeSim| {
        sim.requests()
            .iter()
            .filter(|request| request.method == "PATCH")
            .count()
    };
    assert_eq!(patches(&sim), 1);
    // A second run finds them there and writes nothing.
    assert!(!api.set_node_labels("k3s-agent-1", &wanted).await.unwrap());
    assert_eq!(patches(&sim), 1);
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
    // Kubernetes 1.22 and later serve policy/v1 evictions (the real-Kubernetes tier's v1.20
    // serves policy/v1beta1 only, so this level is shown here).
    assert_eq!(api.eviction_api_version().await.unwrap(), "policy/v1");

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
