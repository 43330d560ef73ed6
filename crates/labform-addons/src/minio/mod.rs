//! MinIO object storage (standalone), with root credentials from the lab and, for each tenant
//! that uses the cluster's MinIO, a user limited by a policy to its own bucket `tenant-NAME`.
//! Tenants' passwords are made by labform and kept in its secret store; the credentials are
//! also put into the tenant's namespace, where the tenant's own token can read them.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::context::{ClusterFacts, TenantUse};
use crate::output::{AddonError, Chart, Manifests, RequiredSecret, kubernetes_quantity};
use crate::registry::{Addon, AddonRendering, Addons};
use labform_ids::cluster::CentralService;
use labform_ids::secret::SecretRef;
use labform_ids::size::ByteSize;

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "5.3.0";

/// MinIO options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Minio {
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Volume size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<ByteSize>,
    /// Root credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<SecretRef>,
}

/// The secret-store key of the MinIO password of `tenant` on cluster instance `cluster`;
/// `generated/` keys are made by labform on first use.
pub fn password_key(scope: &str, cluster: &str, tenant: &str) -> String {
    format!("generated/minio/{scope}/{cluster}/{tenant}")
}

impl Addon for Minio {
    fn namespace(&self) -> Option<&'static str> {
        Some("minio")
    }
}

impl AddonRendering for Minio {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        format!(
            "object storage{}",
            self.storage
                .map(|size| format!(" {size}"))
                .unwrap_or_default()
        )
    }

    fn manifests(&self, facts: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let mut manifests = Manifests::default();
        let mut values = json!({
            "mode": "standalone",
            "replicas": 1,
            "persistence": {"enabled": true, "size": self.storage.map_or("10Gi".to_owned(), |size| kubernetes_quantity(size.bytes()))},
        });
        if let Some(password) = &self.root_password {
            let secret = manifests.secret(RequiredSecret {
                namespace: "minio".to_owned(),
                name: "minio-root".to_owned(),
                key: "rootPassword".to_owned(),
                from: password.clone(),
                literals: vec![("rootUser".to_owned(), "admin".to_owned())],
                labels: Vec::new(),
                purpose: "MinIO root credentials".to_owned(),
            });
            values["existingSecret"] = json!(secret);
        }
        // Each tenant using MinIO: a user limited to its own bucket, password made by labform.
        let (tenant_values, tenant_secrets) =
            tenant_users(&facts.scope, &facts.instance, &facts.tenants);
        for key in ["users", "policies", "buckets"] {
            if tenant_values[key]
                .as_array()
                .is_some_and(|list| !list.is_empty())
            {
                values[key] = tenant_values[key].clone();
            }
        }
        for secret in tenant_secrets {
            manifests.secret(secret);
        }
        manifests.chart(Chart {
            name: "minio".to_owned(),
            chart: "minio".to_owned(),
            repo: Some("https://charts.min.io/".to_owned()),
            version: self
                .version
                .as_deref()
                .unwrap_or(DEFAULT_VERSION)
                .to_owned(),
            namespace: "minio".to_owned(),
            values,
            bootstrap: false,
            comment: "MinIO object storage (standalone).".to_owned(),
        });
        Ok(manifests)
    }
}

/// MinIO chart values for the tenants that use MinIO (`users`, `policies`, `buckets`) and the
/// Secrets apply makes for them.
fn tenant_users(scope: &str, cluster: &str, tenants: &[TenantUse]) -> (Value, Vec<RequiredSecret>) {
    let mut users = Vec::new();
    let mut policies = Vec::new();
    let mut buckets = Vec::new();
    let mut secrets = Vec::new();
    for tenant in tenants
        .iter()
        .filter(|tenant| tenant.services.contains(&CentralService::Minio))
    {
        let name = format!("tenant-{}", tenant.tenant);
        let password = SecretRef::Store(password_key(scope, cluster, &tenant.tenant));
        let secret_name = format!("minio-{name}");
        users.push(json!({
            "accessKey": name,
            "existingSecret": secret_name,
            "existingSecretKey": "secretKey",
            "policy": name,
        }));
        policies.push(json!({
            "name": name,
            "statements": [{
                "resources": [format!("arn:aws:s3:::{name}"), format!("arn:aws:s3:::{name}/*")],
                "actions": ["s3:*"],
            }],
        }));
        buckets.push(json!({"name": name, "policy": "none", "purge": false}));
        secrets.push(RequiredSecret {
            namespace: "minio".to_owned(),
            name: secret_name,
            key: "secretKey".to_owned(),
            from: password.clone(),
            literals: vec![("accessKey".to_owned(), name.clone())],
            labels: Vec::new(),
            purpose: format!("MinIO user of tenant {}", tenant.tenant),
        });
        secrets.push(RequiredSecret {
            namespace: tenant.namespace.clone(),
            name: "minio-credentials".to_owned(),
            key: "secretKey".to_owned(),
            from: password,
            literals: vec![
                ("accessKey".to_owned(), name.clone()),
                ("bucket".to_owned(), name.clone()),
                (
                    "endpoint".to_owned(),
                    "http://minio.minio.svc:9000".to_owned(),
                ),
            ],
            labels: Vec::new(),
            purpose: format!(
                "tenant {}'s own copy of its MinIO credentials",
                tenant.tenant
            ),
        });
    }
    (
        json!({"users": users, "policies": policies, "buckets": buckets}),
        secrets,
    )
}
