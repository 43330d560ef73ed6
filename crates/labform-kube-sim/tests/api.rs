//! The simulator answers as kube-apiserver does for what it models: authentication, discovery,
//! `Status` bodies, selectors, patches, evictions, cascading namespace deletion and outages.
//! Requests go through the `kube` client over HTTPS.

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use labform_kube_sim::{KubeSim, PodSpec};
use serde_json::{Value, json};

async fn connect(sim: &KubeSim, with_certificate: bool) -> kube::Client {
    let mut kubeconfig = Kubeconfig::from_yaml(&sim.kubeconfig()).unwrap();
    if !with_certificate {
        let user = kubeconfig.auth_infos[0].auth_info.as_mut().unwrap();
        user.client_certificate_data = None;
        user.client_key_data = None;
    }
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

fn request(method: &str, path: &str, content_type: &str, body: &Value) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        })
        .unwrap()
}

async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Value,
) -> Result<Value, kube::core::Status> {
    client
        .request::<Value>(request(method, path, "application/json", &body))
        .await
        .map_err(|error| match error {
            kube::Error::Api(status) => *status,
            other => panic!("transport error: {other}"),
        })
}

async fn get(client: &kube::Client, path: &str) -> Result<Value, kube::core::Status> {
    call(client, "GET", path, Value::Null).await
}

#[tokio::test]
async fn anonymous_requests_are_unauthorized() {
    let sim = KubeSim::start().await.unwrap();
    let anonymous = connect(&sim, false).await;
    let status = get(&anonymous, "/version").await.unwrap_err();
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    let admin = connect(&sim, true).await;
    assert_eq!(
        get(&admin, "/version").await.unwrap()["gitVersion"],
        "v1.31.4+k3s1"
    );
}

#[tokio::test]
async fn discovery_lists_the_modelled_groups_and_resources() {
    let sim = KubeSim::start().await.unwrap();
    let client = connect(&sim, true).await;
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "31")
    );
    let readyz = client
        .request_text(request("GET", "/readyz", "application/json", &Value::Null))
        .await
        .unwrap();
    assert_eq!(readyz, "ok");

    let groups = client.list_api_groups().await.unwrap();
    let names: Vec<&str> = groups
        .groups
        .iter()
        .map(|group| group.name.as_str())
        .collect();
    assert_eq!(names, ["apps", "policy", "helm.cattle.io", "k3s.cattle.io"]);
    let core = client.list_core_api_resources("v1").await.unwrap();
    let eviction = core
        .resources
        .iter()
        .find(|resource| resource.name == "pods/eviction")
        .unwrap();
    assert_eq!(
        (
            eviction.group.as_deref(),
            eviction.version.as_deref(),
            eviction.kind.as_str()
        ),
        (Some("policy"), Some("v1"), "Eviction")
    );
    let k3s = client
        .list_api_group_resources("k3s.cattle.io/v1")
        .await
        .unwrap();
    assert_eq!(k3s.resources[0].kind, "Addon");
    assert!(k3s.resources[0].namespaced);

    // A group the cluster does not serve: the plain-text 404 of kube-apiserver's mux.
    let status = get(&client, "/apis/metallb.io/v1beta1").await.unwrap_err();
    assert_eq!(
        (status.code, status.message.as_str()),
        (404, "404 page not found")
    );
    // An unknown resource of a served group: a NotFound Status.
    let status = get(&client, "/api/v1/frobnicators").await.unwrap_err();
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (
            404,
            "NotFound",
            "the server could not find the requested resource"
        )
    );
}

#[tokio::test]
async fn missing_objects_get_not_found_statuses() {
    let sim = KubeSim::start().await.unwrap();
    let client = connect(&sim, true).await;
    let status = get(&client, "/api/v1/namespaces/default/pods/web")
        .await
        .unwrap_err();
    assert_eq!(status.code, 404);
    assert_eq!(status.reason, "NotFound");
    assert_eq!(status.message, "pods \"web\" not found");
    let details = status.details.unwrap();
    assert_eq!(
        (
            details.name.as_str(),
            details.kind.as_str(),
            details.group.as_str()
        ),
        ("web", "pods", "")
    );

    let status = call(
        &client,
        "DELETE",
        "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/metallb",
        Value::Null,
    )
    .await
    .unwrap_err();
    assert_eq!(
        status.message,
        "helmcharts.helm.cattle.io \"metallb\" not found"
    );
    assert_eq!(status.details.unwrap().group, "helm.cattle.io");
}

#[tokio::test]
async fn pods_are_listed_by_node_and_unsupported_fields_are_refused() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("a");
    sim.add_node("b");
    sim.add_pod(&PodSpec::new("default", "on-a", "a"));
    sim.add_pod(&PodSpec::new("kube-system", "also-on-a", "a"));
    sim.add_pod(&PodSpec::new("default", "on-b", "b"));
    let client = connect(&sim, true).await;
    let list = get(&client, "/api/v1/pods?fieldSelector=spec.nodeName%3Da")
        .await
        .unwrap();
    assert_eq!(list["kind"], "PodList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pod| pod["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["on-a", "also-on-a"]);
    // Built-in list items carry no type metadata, as kube-apiserver sends them.
    assert_eq!(list["items"][0]["kind"], Value::Null);

    let namespaced = get(
        &client,
        "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Da",
    )
    .await
    .unwrap();
    assert_eq!(namespaced["items"].as_array().unwrap().len(), 1);

    let status = get(&client, "/api/v1/pods?fieldSelector=spec.foo%3Da")
        .await
        .unwrap_err();
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (400, "BadRequest", "field label not supported: spec.foo")
    );
}

#[tokio::test]
async fn patches_follow_the_media_type() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("a");
    sim.put_object(json!({
        "apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
        "metadata": {"name": "metallb", "namespace": "kube-system"},
        "spec": {"chart": "metallb", "version": "0.14.9"},
    }));
    let client = connect(&sim, true).await;
    let patch = json!({"spec": {"unschedulable": true}});
    let node = client
        .request::<Value>(request(
            "PATCH",
            "/api/v1/nodes/a",
            "application/strategic-merge-patch+json",
            &patch,
        ))
        .await
        .unwrap();
    assert_eq!(node["spec"]["unschedulable"], true);
    assert_eq!(node["spec"]["providerID"], "k3s://a");

    // Strategic merge patch is not available for custom resources.
    let chart = "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/metallb";
    let patch = json!({"spec": {"version": "0.15.0"}});
    let error = client
        .request::<Value>(request(
            "PATCH",
            chart,
            "application/strategic-merge-patch+json",
            &patch,
        ))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("{error}")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (415, "UnsupportedMediaType")
    );
    let patched = client
        .request::<Value>(request(
            "PATCH",
            chart,
            "application/merge-patch+json",
            &patch,
        ))
        .await
        .unwrap();
    assert_eq!(
        patched["spec"],
        json!({"chart": "metallb", "version": "0.15.0"})
    );
}

#[tokio::test]
async fn evictions_are_refused_by_budgets_then_accepted() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("a");
    sim.add_pod(&PodSpec::new("default", "web", "a"));
    sim.block_evictions("default", "web", Some(1), "web-pdb");
    let client = connect(&sim, true).await;
    let path = "/api/v1/namespaces/default/pods/web/eviction";
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web", "namespace": "default"}});
    let status = call(&client, "POST", path, eviction.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code, 429);
    assert_eq!(status.reason, "TooManyRequests");
    assert_eq!(
        status.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let cause = &status.details.unwrap().causes[0];
    assert_eq!(cause.reason, "DisruptionBudget");
    assert_eq!(
        cause.message,
        "The disruption budget web-pdb needs 1 healthy pods and has 1 currently"
    );
    assert!(sim.pod_exists("default", "web"));

    let wrong_name =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}});
    assert_eq!(
        call(&client, "POST", path, wrong_name)
            .await
            .unwrap_err()
            .code,
        400
    );

    let accepted = call(&client, "POST", path, eviction.clone()).await.unwrap();
    assert_eq!(
        accepted,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
    );
    assert!(!sim.pod_exists("default", "web"));
    assert_eq!(
        call(&client, "POST", path, eviction)
            .await
            .unwrap_err()
            .code,
        404
    );
}

#[tokio::test]
async fn evicted_pods_terminate_for_the_configured_delay() {
    let sim = KubeSim::start().await.unwrap();
    sim.add_node("a");
    sim.set_termination_delay(Duration::from_millis(200));
    sim.add_pod(&PodSpec::new("default", "web", "a"));
    let client = connect(&sim, true).await;
    let eviction = json!({"metadata": {"name": "web"}});
    call(
        &client,
        "POST",
        "/api/v1/namespaces/default/pods/web/eviction",
        eviction,
    )
    .await
    .unwrap();
    let pod = get(&client, "/api/v1/namespaces/default/pods/web")
        .await
        .unwrap();
    assert!(pod["metadata"]["deletionTimestamp"].is_string(), "{pod}");
    while sim.pod_exists("default", "web") {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        get(&client, "/api/v1/namespaces/default/pods/web")
            .await
            .unwrap_err()
            .code,
        404
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_what_is_in_it() {
    let sim = KubeSim::start().await.unwrap();
    sim.put_object(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}),
    );
    sim.put_object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "metallb-system"}}));
    sim.put_object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}));
    let client = connect(&sim, true).await;
    let deleted = call(
        &client,
        "DELETE",
        "/api/v1/namespaces/metallb-system",
        Value::Null,
    )
    .await
    .unwrap();
    assert_eq!(deleted["kind"], "Namespace");
    assert!(!sim.object_exists("v1", "ConfigMap", "metallb-system", "x"));
    assert!(sim.object_exists("v1", "ConfigMap", "default", "x"));
}

#[tokio::test]
async fn outages_answer_503_or_refuse_connections() {
    let sim = KubeSim::start().await.unwrap();
    let client = connect(&sim, true).await;
    sim.unavailable_for(Duration::from_secs(600));
    let status = get(&client, "/version").await.unwrap_err();
    assert_eq!(
        (status.code, status.reason.as_str()),
        (503, "ServiceUnavailable")
    );

    let sim = KubeSim::start().await.unwrap();
    let client = connect(&sim, true).await;
    get(&client, "/version").await.unwrap();
    sim.refuse_connections_for(Duration::from_millis(300)).await;
    let error = client
        .request::<Value>(request("GET", "/version", "application/json", &Value::Null))
        .await
        .unwrap_err();
    assert!(!matches!(error, kube::Error::Api(_)), "{error}");
    // The socket is back after the outage.
    while client
        .request::<Value>(request("GET", "/version", "application/json", &Value::Null))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
