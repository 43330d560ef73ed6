//! The HTTPS side: the accept loop (which can stop listening for a while, so connections are
//! refused), client-certificate authentication, and the routes of kube-apiserver the simulator
//! models: `/version`, `/readyz` (`/livez`, `/healthz`), discovery, the resource collections and
//! items of [`crate::model::RESOURCES`], merge and strategic-merge `PATCH`, and the pod
//! `eviction` subresource.
//!
//! Where it differs from kube-apiserver: discovery is always the unaggregated form (kube-apiserver
//! sends the aggregated `apidiscovery.k8s.io/v2` form only to clients asking for it first), there
//! is no `watch`, no `PUT` and no `deletecollection`, and discovery lists only the verbs modelled.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::model::{
    Answer, GROUPS, RESOURCES, ResourceType, State, bad_request, check_field_selector,
    find_resource, parse_selector, status_failure,
};

/// State shared by the connections and the test controls.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) address: SocketAddr,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether the connection's client presented a certificate the client CA signed (rustls has
/// already refused connections with a certificate it did not sign).
#[derive(Debug, Clone, Copy)]
struct Peer {
    authenticated: bool,
}

/// A request to stop listening for a while; answered once the socket is closed.
pub(crate) struct Outage {
    pub(crate) duration: Duration,
    pub(crate) closed: oneshot::Sender<()>,
}

/// Runs the accept loop until the task is aborted.
pub(crate) async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut outages: mpsc::Receiver<Outage>,
) {
    let router = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    let (kill, _) = watch::channel(0u64);
    let mut listener = Some(listener);
    loop {
        let Some(current) = &listener else {
            return;
        };
        tokio::select! {
            outage = outages.recv() => {
                let Some(outage) = outage else { return };
                // Close the socket and every open connection: clients see connection refused.
                drop(listener.take());
                kill.send_modify(|generation| *generation += 1);
                let _ = outage.closed.send(());
                tokio::time::sleep(outage.duration).await;
                listener = rebind(shared.address).await;
            }
            accepted = current.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let router = router.clone();
                let mut killed = kill.subscribe();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let authenticated = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .is_some_and(|certificates| !certificates.is_empty());
                    let router = router.layer(axum::Extension(Peer { authenticated }));
                    let io = hyper_util::rt::TokioIo::new(tls);
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    tokio::select! {
                        _ = builder.serve_connection(io, service) => {}
                        _ = killed.changed() => {}
                    }
                });
            }
        }
    }
}

async fn rebind(address: SocketAddr) -> Option<tokio::net::TcpListener> {
    for _ in 0..50 {
        if let Ok(listener) = tokio::net::TcpListener::bind(address).await {
            return Some(listener);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn json_response(answer: Answer) -> Response<Body> {
    let mut response = Response::new(Body::from(answer.body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(answer.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn text_response(code: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_owned()));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    axum::Extension(peer): axum::Extension<Peer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let response = respond(&shared, peer, &method, &uri, &headers, &body);
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), ToString::to_string);
    shared.lock().requests.push(crate::RecordedRequest {
        method: method.to_string(),
        path,
        status: response.status().as_u16(),
    });
    response
}

fn respond(
    shared: &Shared,
    peer: Peer,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response<Body> {
    if !peer.authenticated {
        return json_response(status_failure(401, "Unauthorized", "Unauthorized", None));
    }
    let mut state = shared.lock();
    if let Some(until) = state.unavailable_until {
        if Instant::now() < until {
            return json_response(status_failure(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
                None,
            ));
        }
        state.unavailable_until = None;
    }
    state.settle();
    let segments: Vec<&str> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let get = *method == Method::GET;
    match segments.as_slice() {
        ["version"] if get => json_response(Answer::ok(version(&state.git_version))),
        ["readyz" | "livez" | "healthz"] if get => {
            if state.readyz_failing && segments[0] == "readyz" {
                text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]informer-sync ok\nreadyz check failed\n",
                )
            } else {
                text_response(StatusCode::OK, "ok")
            }
        }
        ["api"] if get => json_response(Answer::ok(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{
                "clientCIDR": "0.0.0.0/0",
                "serverAddress": shared.address.to_string(),
            }],
        }))),
        ["apis"] if get => json_response(Answer::ok(json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": GROUPS.iter().map(|group| api_group(group)).collect::<Vec<_>>(),
        }))),
        ["apis", group] if get && GROUPS.contains(group) => {
            let mut document = api_group(group);
            document["kind"] = json!("APIGroup");
            document["apiVersion"] = json!("v1");
            json_response(Answer::ok(document))
        }
        ["api", "v1"] if get => json_response(Answer::ok(resource_list("", "v1"))),
        ["apis", group, "v1"] if get && GROUPS.contains(group) => {
            json_response(Answer::ok(resource_list(group, "v1")))
        }
        ["api", "v1", rest @ ..] => {
            resource_request(&mut state, "", "v1", rest, method, &query, headers, body)
        }
        ["apis", group, "v1", rest @ ..] if GROUPS.contains(group) => {
            resource_request(&mut state, group, "v1", rest, method, &query, headers, body)
        }
        _ => text_response(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

fn version(git_version: &str) -> Value {
    let numbers: Vec<&str> = git_version
        .trim_start_matches('v')
        .split(['.', '+', '-'])
        .collect();
    json!({
        "major": numbers.first().copied().unwrap_or("1"),
        "minor": numbers.get(1).copied().unwrap_or("0"),
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-12T00:00:00Z",
        "goVersion": "go1.22.9",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn api_group(group: &str) -> Value {
    let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({
        "name": group,
        "versions": [version.clone()],
        "preferredVersion": version,
    })
}

const VERBS: &[&str] = &["create", "delete", "get", "list", "patch"];

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for resource in RESOURCES
        .iter()
        .filter(|resource| resource.group == group && resource.version == version)
    {
        let mut entry = json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": VERBS,
        });
        if !resource.short_names.is_empty() {
            entry["shortNames"] = json!(resource.short_names);
        }
        resources.push(entry);
        if resource.plural == "pods" {
            resources.push(json!({
                "name": "pods/eviction",
                "singularName": "",
                "namespaced": true,
                "group": "policy",
                "version": "v1",
                "kind": "Eviction",
                "verbs": ["create"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })
}

fn unknown_resource() -> Response<Body> {
    json_response(status_failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    ))
}

fn method_not_allowed() -> Response<Body> {
    json_response(status_failure(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Some(json!({})),
    ))
}

fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

#[allow(clippy::too_many_arguments)]
fn resource_request(
    state: &mut State,
    group: &str,
    version: &str,
    rest: &[&str],
    method: &Method,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Response<Body> {
    // (resource, namespace of the request, name, subresource)
    let (plural, namespace, name, subresource) = match rest {
        ["namespaces", namespace, plural, tail @ ..]
            if find_resource(group, version, plural).is_some_and(|found| found.namespaced) =>
        {
            match tail {
                [] => (*plural, Some(*namespace), None, None),
                [name] => (*plural, Some(*namespace), Some(*name), None),
                [name, subresource] => (*plural, Some(*namespace), Some(*name), Some(*subresource)),
                _ => return unknown_resource(),
            }
        }
        [plural] => (*plural, None, None, None),
        [plural, name] => (*plural, None, Some(*name), None),
        [plural, name, subresource] => (*plural, None, Some(*name), Some(*subresource)),
        _ => return unknown_resource(),
    };
    let Some(resource) = find_resource(group, version, plural) else {
        return unknown_resource();
    };
    if name.is_some() && resource.namespaced != namespace.is_some() {
        return unknown_resource();
    }
    let namespace_name = namespace.unwrap_or("");
    match (subresource, name) {
        (Some("eviction"), Some(name)) if resource.plural == "pods" => {
            if *method != Method::POST {
                return method_not_allowed();
            }
            match serde_json::from_slice::<Value>(body) {
                Ok(eviction) => json_response(state.evict(namespace_name, name, &eviction)),
                Err(error) => json_response(bad_request(&format!(
                    "the body of the request could not be decoded: {error}"
                ))),
            }
        }
        (Some(_), _) => unknown_resource(),
        (None, None) => match *method {
            Method::GET => {
                let fields = match parse_selector(query_value(query, "fieldSelector").unwrap_or(""))
                    .and_then(|fields| check_field_selector(&resource, &fields).map(|()| fields))
                {
                    Ok(fields) => fields,
                    Err(message) => return json_response(bad_request(&message)),
                };
                let labels = match parse_selector(query_value(query, "labelSelector").unwrap_or(""))
                {
                    Ok(labels) => labels,
                    Err(message) => return json_response(bad_request(&message)),
                };
                json_response(state.list(&resource, namespace, &fields, &labels))
            }
            Method::POST => create(state, &resource, namespace_name, body),
            _ => method_not_allowed(),
        },
        (None, Some(name)) => match *method {
            Method::GET => json_response(state.get(&resource, namespace_name, name)),
            Method::DELETE => json_response(state.delete(&resource, namespace_name, name)),
            Method::PATCH => patch(state, &resource, namespace_name, name, headers, body),
            _ => method_not_allowed(),
        },
    }
}

fn create(
    state: &mut State,
    resource: &ResourceType,
    namespace: &str,
    body: &Bytes,
) -> Response<Body> {
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(object) => object,
        Err(error) => {
            return json_response(bad_request(&format!(
                "the body of the request could not be decoded: {error}"
            )));
        }
    };
    if resource.namespaced {
        let namespaces = find_resource("", "v1", "namespaces").expect("namespaces are modelled");
        if state.object(&namespaces, "", namespace).is_none() {
            return json_response(crate::model::not_found(&namespaces, namespace));
        }
    }
    json_response(state.create(resource, namespace, object))
}

fn patch(
    state: &mut State,
    resource: &ResourceType,
    namespace: &str,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response<Body> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    let supported = match media_type {
        "application/merge-patch+json" => true,
        "application/strategic-merge-patch+json" => !resource.custom(),
        _ => false,
    };
    if !supported {
        let accepted = if resource.custom() {
            "application/merge-patch+json"
        } else {
            "application/merge-patch+json, application/strategic-merge-patch+json"
        };
        return json_response(status_failure(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
            None,
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(patch) if patch.is_object() => {
            json_response(state.patch(resource, namespace, name, &patch))
        }
        Ok(_) => json_response(bad_request("the patch is not a JSON object")),
        Err(error) => json_response(bad_request(&format!(
            "the body of the request could not be decoded: {error}"
        ))),
    }
}
