//! The kubeconfigs labform makes, used against a real Kubernetes v1.20.2
//! (`labform-kube-real`): the cluster's own kubeconfig made from the server's admin file
//! ([`ClusterKubeconfig::from_admin_kubeconfig`]) and merged into a file beside someone else's entries, read
//! by the release's `kubectl` and by labform's own client; and a tenant's kubeconfig made from
//! its ServiceAccount's token ([`ClusterKubeconfig::with_token_user`]), which can do what the
//! `edit` role allows in the tenant's namespace and nothing outside it.
//!
//! Tier `real-kubernetes`. The cluster starts in about 40 s (see `labform-kube-real`); the test
//! itself takes a few seconds.

use std::path::Path;
use std::time::Duration;

use labform_k3s::kubeconfig::{ClusterKubeconfig, merge_into_file};
use labform_kube_real::{NODE_NAME, RealCluster};
use labform_kubernetes::ClusterApi;
use labform_secrets::{ExposeSecret as _, SecretString};

const POLL: Duration = Duration::from_millis(500);
const PATIENCE: Duration = Duration::from_secs(600);

/// Someone else's entries in the kubeconfig file labform merges into.
const EXISTING: &str = "apiVersion: v1
kind: Config
clusters:
- name: work
  cluster:
    server: https://work.example.invalid:6443
users:
- name: work
  user:
    token: not-labform-s
contexts:
- name: work
  context:
    cluster: work
    user: work
current-context: work
";

/// A tenant's namespace, ServiceAccount with `edit` there, and its token Secret, in the shape
/// `labform_kubernetes` renders them (`tenant_access`).
const TENANT: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: tenant-carol
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: carol
  namespace: tenant-carol
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: carol-edit
  namespace: tenant-carol
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: edit
subjects:
- kind: ServiceAccount
  name: carol
  namespace: tenant-carol
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: carol-token
  namespace: tenant-carol
  annotations:
    kubernetes.io/service-account.name: carol
";

fn kubectl_as(
    cluster: &RealCluster,
    kubeconfig: &Path,
    arguments: &[&str],
) -> Result<String, String> {
    cluster.kubectl_as(kubeconfig, arguments)
}

#[tokio::test]
async fn labform_s_kubeconfigs_work_against_the_real_server() {
    if !labform_test_tiers::REAL_KUBERNETES.available() {
        return;
    }
    let cluster = RealCluster::shared();
    let admin = SecretString::from(cluster.admin_kubeconfig());
    let kubeconfig = ClusterKubeconfig::from_admin_kubeconfig(
        "the real server's admin kubeconfig",
        &admin,
        "home-lab-dev",
        cluster.server(),
        None,
    )
    .unwrap();

    // labform's own client reads what labform wrote.
    let api = ClusterApi::from_kubeconfig(&kubeconfig.to_text())
        .await
        .unwrap()
        .with_retry_interval(POLL);
    api.wait_ready(&[NODE_NAME.to_owned()], PATIENCE, POLL)
        .await
        .unwrap();

    // Merged beside someone else's entries, kubectl reads it; their context stays current.
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("config");
    std::fs::write(&file, EXISTING).unwrap();
    merge_into_file(&file, std::slice::from_ref(&kubeconfig)).unwrap();
    let nodes = kubectl_as(
        cluster,
        &file,
        &["--context", "home-lab-dev", "get", "nodes", "-o", "name"],
    )
    .unwrap();
    assert_eq!(nodes.trim(), format!("node/{NODE_NAME}"));
    let current = kubectl_as(cluster, &file, &["config", "current-context"]).unwrap();
    assert_eq!(current.trim(), "work");
    let contexts = kubectl_as(cluster, &file, &["config", "get-contexts", "-o", "name"]).unwrap();
    assert_eq!(
        contexts.lines().collect::<Vec<_>>(),
        ["home-lab-dev", "work"]
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A tenant's context from its ServiceAccount's token, as apply makes it.
    cluster.apply(TENANT).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let token = loop {
        let data = api
            .read_secret("tenant-carol", "carol-token")
            .await
            .unwrap();
        if let Some(token) = data.and_then(|mut data| data.remove("token")) {
            break token;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the token controller did not fill carol-token in"
        );
        tokio::time::sleep(POLL).await;
    };
    let tenant = kubeconfig.with_token_user("home-lab-dev-carol", &token, "tenant-carol");
    let tenant_file = directory.path().join("carol");
    merge_into_file(&tenant_file, std::slice::from_ref(&tenant)).unwrap();
    let text = std::fs::read_to_string(&tenant_file).unwrap();
    assert!(
        !text.contains("client-key-data"),
        "no admin key in a tenant's file"
    );
    assert!(text.contains(token.expose_secret()));

    // Its context's namespace is its own, where `edit` lets it work...
    kubectl_as(
        cluster,
        &tenant_file,
        &["create", "configmap", "made-by-carol", "--from-literal=a=b"],
    )
    .unwrap();
    let made = cluster
        .kubectl(&[
            "-n",
            "tenant-carol",
            "get",
            "configmap",
            "made-by-carol",
            "-o",
            "name",
        ])
        .unwrap();
    assert_eq!(made.trim(), "configmap/made-by-carol");
    // ...and nowhere else.
    for arguments in [
        &["-n", "default", "get", "pods"][..],
        &["get", "nodes"],
        &["-n", "kube-system", "get", "secrets"],
        &[
            "create",
            "rolebinding",
            "escalate",
            "--clusterrole=admin",
            "--user=carol",
        ],
    ] {
        let error = kubectl_as(cluster, &tenant_file, arguments).unwrap_err();
        assert!(
            error.to_lowercase().contains("forbidden"),
            "{arguments:?}: {error}"
        );
    }
    let round_trip = ClusterKubeconfig::from_text("carol", &tenant.to_text()).unwrap();
    assert_eq!(round_trip.name, "home-lab-dev-carol");
    assert_eq!(round_trip.server, cluster.server());

    cluster
        .kubectl(&["delete", "namespace", "tenant-carol", "--wait=false"])
        .unwrap();
}
