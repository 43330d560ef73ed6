//! What tenants get on a cluster whose central services they use (seed 000: GitLab, Vault and
//! MinIO on the main cluster, used by every tenant), from the planned cluster's `tenant_access`:
//!
//! - a namespace `tenant-NAME` with a ServiceAccount bound to the `edit` ClusterRole there only,
//!   and a service-account token Secret, from which apply makes the tenant's own kubeconfig
//!   context on this cluster (handed out by `labform kubeconfig --tenant NAME`);
//! - with MinIO: a MinIO user `tenant-NAME` limited by a policy to its own bucket `tenant-NAME`,
//!   made by the MinIO chart's provisioning, with a password labform generates and keeps in its
//!   secret store; the credentials are also put into the tenant's namespace, where the tenant's
//!   own token can read them (the MinIO add-on renders these, `labform_addons::minio`).
//!
//! GitLab and Vault accounts are not made by labform: their APIs need the services initialised
//! first (Vault unsealed, GitLab's root token), which labform does not do. The manifests say so.

pub use labform_planner::plan::TenantAccess;
use serde_json::{Value, json};

/// The Kubernetes objects of every tenant's access: namespace, ServiceAccount, RoleBinding and
/// token Secret.
pub(crate) fn access_documents(access: &[TenantAccess]) -> Vec<Value> {
    let mut documents = Vec::new();
    for tenant in access {
        let labels = json!({
            "app.kubernetes.io/managed-by": "labform",
            "labform.dev/tenant": tenant.tenant,
        });
        documents.push(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": tenant.namespace, "labels": labels},
        }));
        documents.push(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": tenant.service_account, "namespace": tenant.namespace, "labels": labels},
        }));
        documents.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": format!("{}-edit", tenant.tenant), "namespace": tenant.namespace, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": tenant.service_account, "namespace": tenant.namespace}],
        }));
        documents.push(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": tenant.token_secret,
                "namespace": tenant.namespace,
                "labels": labels,
                "annotations": {"kubernetes.io/service-account.name": tenant.service_account},
            },
        }));
    }
    documents
}
