//! Tenants on Proxmox: carrying out the reconciliation's pool, user, token and ACL changes
//! ([`labform_planner::tenancy`] decides them), a new token's secret going straight to labform's
//! secret store, never into an event, the journal or an error.

use std::sync::{Arc, Mutex};

use labform_planner::reconcile::Reconciliation;
use labform_planner::tenancy::{TENANT_TOKEN_NAME, TenantStep, tenant_marker};
use labform_proxmox::types::{AclUpdate, CreateToken, CreateUser};
use labform_proxmox::{ErrorKind, ProxmoxApi};
use labform_secrets::{SecretStore, SecretString};

use super::{Run, StepError};
use crate::error::chain;
use crate::tenants::token_store_key;

impl Run {
    /// Creates the pools the reconciliation lists; the first failure stops the apply (VMs cannot
    /// be put in a missing pool).
    pub(super) async fn create_pools(
        &self,
        reconciliation: &Reconciliation,
    ) -> Result<(), StepError> {
        for change in &reconciliation.tenants {
            if !matches!(change.step, TenantStep::CreatePool { .. }) {
                continue;
            }
            self.tenant_step(&change.endpoint, None, &change.step)
                .await?;
        }
        Ok(())
    }

    /// Carries out the reconciliation's user, token and ACL changes, endpoint by endpoint in
    /// their order; an endpoint's first failure stops its remaining changes. The failures (and
    /// the tenants that cannot be brought to the plan), one line per endpoint.
    pub(super) async fn converge_tenants(&self, reconciliation: &Reconciliation) -> Vec<String> {
        let mut endpoints: Vec<&str> = Vec::new();
        for change in &reconciliation.tenants {
            if !endpoints.contains(&change.endpoint.as_str()) {
                endpoints.push(&change.endpoint);
            }
        }
        for conflict in &reconciliation.tenant_conflicts {
            if !endpoints.contains(&conflict.endpoint.as_str()) {
                endpoints.push(&conflict.endpoint);
            }
        }
        let needs_store = |step: &TenantStep| {
            matches!(
                step,
                TenantStep::CreateToken { .. } | TenantStep::DeleteUser { .. }
            )
        };
        let mut store: Option<Arc<SecretStore>> = None;
        let mut failures = Vec::new();
        for endpoint in endpoints {
            let mut outcome = Ok(());
            for change in reconciliation.tenants.iter().filter(|change| {
                change.endpoint == endpoint && !matches!(change.step, TenantStep::CreatePool { .. })
            }) {
                if needs_store(&change.step) && store.is_none() {
                    match self.secret_store() {
                        Ok(opened) => store = Some(opened),
                        Err(reason) => {
                            outcome = Err(reason);
                            break;
                        }
                    }
                }
                if let Err(reason) = self
                    .tenant_step(endpoint, store.as_deref(), &change.step)
                    .await
                {
                    outcome = Err(reason);
                    break;
                }
            }
            let conflicts: Vec<String> = reconciliation
                .tenant_conflicts
                .iter()
                .filter(|conflict| conflict.endpoint == endpoint)
                .map(ToString::to_string)
                .collect();
            match outcome {
                Err(reason) => failures.push(format!("tenants on `{endpoint}`: {reason}")),
                Ok(()) if !conflicts.is_empty() => {
                    failures.push(format!("tenants on `{endpoint}`: {}", conflicts.join("; ")))
                }
                Ok(()) => {}
            }
        }
        failures
    }

    /// The secret store of the apply's options, or labform's default one.
    fn secret_store(&self) -> Result<Arc<SecretStore>, StepError> {
        match &self.options.secrets {
            Some(store) => Ok(Arc::clone(store)),
            None => SecretStore::open_default().map(Arc::new).map_err(|error| {
                StepError::SecretStore(format!(
                    "cannot open labform's secret store: {}",
                    chain(&error)
                ))
            }),
        }
    }

    /// Carries out one [`TenantStep`] as a journaled step. A new token's secret goes straight to
    /// the secret store; it is never put in an event, the journal or an error.
    async fn tenant_step(
        &self,
        endpoint: &str,
        store: Option<&SecretStore>,
        step: &TenantStep,
    ) -> Result<(), StepError> {
        let api = self.api(endpoint);
        let api: &dyn ProxmoxApi = api.as_ref();
        let store = || {
            store.ok_or_else(|| {
                StepError::SecretStore("labform's secret store is not open".to_owned())
            })
        };
        let kind = step.kind();
        let target = step.target();
        let scope = &self.plan.scope;
        match step {
            TenantStep::CreatePool { pool } => {
                let comment = format!("labform: lab {}, scope {}", self.plan.lab, scope);
                // A pool a stopped run made meanwhile is there: done.
                self.step_tolerating(
                    kind,
                    &target,
                    api,
                    Some(ErrorKind::AlreadyExists),
                    || async { api.create_pool(pool, Some(&comment)).await.map(|()| None) },
                )
                .await
            }
            TenantStep::CreateUser { userid, comment } => {
                let request = CreateUser {
                    userid: userid.clone(),
                    password: None,
                    comment: Some(comment.clone()),
                };
                self.step(kind, &target, api, || async {
                    api.create_user(&request).await.map(|()| None)
                })
                .await
            }
            TenantStep::CreateToken { tenant, userid } => {
                let key = token_store_key(scope, endpoint, tenant)
                    .map_err(|error| StepError::SecretStore(error.to_string()))?;
                let request = CreateToken {
                    privsep: Some(true),
                    expire: None,
                    comment: Some(format!("{} tenant {tenant}", tenant_marker(scope))),
                };
                let created = Mutex::new(None);
                self.step(kind, &target, api, || async {
                    let token = api
                        .create_token(userid, TENANT_TOKEN_NAME, &request)
                        .await?;
                    *created
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(token.value);
                    Ok(None)
                })
                .await?;
                let secret = created
                    .into_inner()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .ok_or_else(|| {
                        StepError::SecretStore(format!("Proxmox returned no secret for `{target}`"))
                    })?;
                store()?
                    .put(&key, &SecretString::from(secret.expose().to_owned()))
                    .map_err(|error| {
                        StepError::SecretStore(format!(
                            "`{target}` was made but its secret could not be kept in labform's secret store ({}); the next apply makes the token anew",
                            chain(&error)
                        ))
                    })
            }
            TenantStep::DeleteToken {
                userid, tokenid, ..
            } => {
                self.step_tolerating(kind, &target, api, Some(ErrorKind::NotFound), || async {
                    api.delete_token(userid, tokenid).await.map(|()| None)
                })
                .await
            }
            TenantStep::Acl {
                grant,
                path,
                role,
                subject,
                token,
            } => {
                let request = AclUpdate {
                    path: path.clone(),
                    roles: vec![role.clone()],
                    users: if *token {
                        vec![]
                    } else {
                        vec![subject.clone()]
                    },
                    tokens: if *token {
                        vec![subject.clone()]
                    } else {
                        vec![]
                    },
                    propagate: true,
                    delete: !grant,
                };
                self.step(kind, &target, api, || async {
                    api.update_acl(&request).await.map(|()| None)
                })
                .await
            }
            TenantStep::DeleteUser { tenant, userid } => {
                self.step_tolerating(kind, &target, api, Some(ErrorKind::NotFound), || async {
                    api.delete_user(userid).await.map(|()| None)
                })
                .await?;
                let key = token_store_key(scope, endpoint, tenant)
                    .map_err(|error| StepError::SecretStore(error.to_string()))?;
                store()?.remove(&key).map(|_| ()).map_err(|error| {
                    StepError::SecretStore(format!(
                        "cannot remove the secret of `{userid}` from labform's secret store: {}",
                        chain(&error)
                    ))
                })
            }
        }
    }
}
