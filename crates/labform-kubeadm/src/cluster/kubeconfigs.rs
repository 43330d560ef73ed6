//! The kubeconfigs of a kubeadm cluster into labform's secret store: the administrator's,
//! pointed at the API address (the VIP when there is one), and each tenant's, with the token
//! Kubernetes put in the tenant's ServiceAccount Secret.

use labform_kubernetes::cluster_api::ClusterApi;
use labform_kubernetes::distribution::{kubeconfig_store_key, tenant_kubeconfig_store_key};
use labform_kubernetes::kubeconfig::ClusterKubeconfig;
use labform_ssh::Session;

use super::{ClusterNode, Work};
use crate::error::{ClusterError, KubeadmError};
use crate::node::ADMIN_KUBECONFIG;

/// The administrator's kubeconfig and the tenants' by tenant.
pub(super) type Kubeconfigs = (ClusterKubeconfig, Vec<(String, ClusterKubeconfig)>);

impl Work<'_> {
    /// Reads the administrator's kubeconfig on the first control plane `first` and keeps it and
    /// the tenants' in the store.
    pub(super) async fn store_kubeconfigs(
        &self,
        api: &ClusterApi,
        first: &ClusterNode,
        session: &Session,
    ) -> Result<Kubeconfigs, ClusterError> {
        let (_, admin) = self.api(first, session).await?;
        let kubeconfig = ClusterKubeconfig::from_admin_kubeconfig(
            &format!("{}:{ADMIN_KUBECONFIG}", first.name),
            &admin,
            &self.cluster.kubeconfig_context,
            &format!("https://{}:6443", self.cluster.api_address),
            None,
        )
        .map_err(self.api_error("reading the administrator's kubeconfig"))?;
        let store_failed = |error: String| {
            ClusterError::Kubeadm(KubeadmError::Store {
                cluster: self.cluster.name.clone(),
                detail: error,
            })
        };
        let key = kubeconfig_store_key(&self.context.plan.scope, &self.cluster.name)
            .map_err(store_failed)?;
        self.context
            .store
            .put(&key, &kubeconfig.to_text())
            .map_err(|error| store_failed(error.to_string()))?;
        let mut tenant_kubeconfigs = Vec::new();
        for access in &self.cluster.tenant_access {
            let deadline = tokio::time::Instant::now() + self.context.options.ready_timeout;
            let token = loop {
                let data = api
                    .read_secret(&access.namespace, &access.token_secret)
                    .await
                    .map_err(self.api_error(format!("reading tenant {}'s token", access.tenant)))?;
                if let Some(token) = data.and_then(|mut data| data.remove("token")) {
                    break token;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(self.failed(format!(
                        "the token Secret {}/{} of tenant {} was not filled in by Kubernetes in time",
                        access.namespace, access.token_secret, access.tenant
                    )));
                }
                tokio::time::sleep(self.context.options.poll).await;
            };
            let tenant_config = kubeconfig.with_token_user(
                &format!("{}-{}", self.cluster.kubeconfig_context, access.tenant),
                &token,
                &access.namespace,
            );
            let key = tenant_kubeconfig_store_key(
                &self.context.plan.scope,
                &self.cluster.name,
                &access.tenant,
            )
            .map_err(store_failed)?;
            self.context
                .store
                .put(&key, &tenant_config.to_text())
                .map_err(|error| store_failed(error.to_string()))?;
            tenant_kubeconfigs.push((access.tenant.clone(), tenant_config));
        }
        Ok((kubeconfig, tenant_kubeconfigs))
    }
}
