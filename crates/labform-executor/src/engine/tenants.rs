//! Tenants on Proxmox: the pools VMs are put in, and each tenant's user, privilege-separated
//! API token and ACL entries ([`crate::tenants`] decides the steps; this module carries them out,
//! a new token's secret going straight to labform's secret store).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use labform_planner::tenancy::{TENANT_TOKEN_NAME, tenant_marker, tenant_of_user};
use labform_proxmox::types::{AclUpdate, CreateToken, CreateUser};
use labform_proxmox::{ErrorKind, ProxmoxApi};
use labform_secrets::{SecretStore, SecretString};

use super::{Run, StepError, TenantPolicy};
use crate::error::chain;
use crate::tenants::{TenantStep, WantedTenant, tenant_steps, token_store_key, wanted_tenants};

impl Run {
    /// Creates the pools in `pools` (endpoint, pool) that do not exist yet.
    pub(super) async fn ensure_pools(&self, pools: &[(String, String)]) -> Result<(), StepError> {
        for endpoint in pools
            .iter()
            .map(|(endpoint, _)| endpoint)
            .collect::<BTreeSet<_>>()
        {
            let api = self.api(endpoint);
            let existing: Vec<String> = self
                .retry_call("list pools", || api.pools())
                .await?
                .into_iter()
                .map(|pool| pool.poolid)
                .collect();
            for (_, pool) in pools
                .iter()
                .filter(|(owner, pool)| owner == endpoint && !existing.contains(pool))
            {
                let comment = format!("labform: lab {}, scope {}", self.plan.lab, self.plan.scope);
                self.step("create-pool", pool, api.as_ref(), || async {
                    api.create_pool(pool, Some(&comment)).await.map(|()| None)
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Brings every endpoint's tenant users, API tokens and ACL entries to the plan (or removes
    /// them all, for destroy); the failures, one per endpoint.
    pub(super) async fn ensure_tenants(&self) -> Vec<String> {
        let wanted = match self.options.tenants {
            TenantPolicy::Converge => wanted_tenants(&self.plan),
            TenantPolicy::RemoveAll => Vec::new(),
        };
        let mut names: Vec<&String> = self.endpoints.keys().collect();
        names.sort();
        let mut failures = Vec::new();
        for endpoint in names {
            let here: Vec<WantedTenant> = wanted
                .iter()
                .filter(|want| &want.endpoint == endpoint)
                .cloned()
                .collect();
            if let Err(reason) = self.ensure_tenants_on(endpoint, &here).await {
                failures.push(format!("tenants on `{endpoint}`: {reason}"));
            }
        }
        failures
    }

    /// [`Run::ensure_tenants`] on one endpoint: reads its users (with their tokens) and its ACL,
    /// then carries out [`tenant_steps`]. Nothing is read from the secret store, and nothing
    /// written, unless the endpoint has tenants to keep or remove.
    async fn ensure_tenants_on(
        &self,
        endpoint: &str,
        wanted: &[WantedTenant],
    ) -> Result<(), StepError> {
        let api = self.api(endpoint);
        let scope = &self.plan.scope;
        let users = self.retry_call("list users", || api.users()).await?;
        let ours = users
            .iter()
            .any(|user| tenant_of_user(scope, &user.userid, user.comment.as_deref()).is_some());
        if wanted.is_empty() && !ours {
            return Ok(());
        }
        let acl = self.retry_call("list ACL entries", || api.acl()).await?;
        let store = match &self.options.secrets {
            Some(store) => Arc::clone(store),
            None => Arc::new(SecretStore::open_default().map_err(|error| {
                StepError::SecretStore(format!(
                    "cannot open labform's secret store: {}",
                    chain(&error)
                ))
            })?),
        };
        let mut stored = BTreeSet::new();
        for want in wanted {
            let key = token_store_key(scope, endpoint, &want.tenant)
                .map_err(|error| StepError::SecretStore(error.to_string()))?;
            if store
                .get(&key)
                .map_err(|error| {
                    StepError::SecretStore(format!(
                        "cannot read the secret store: {}",
                        chain(&error)
                    ))
                })?
                .is_some()
            {
                stored.insert(want.tenant.clone());
            }
        }
        let (steps, errors) = tenant_steps(scope, wanted, &users, &acl, &|tenant| {
            stored.contains(tenant)
        });
        for step in &steps {
            self.tenant_step(endpoint, api.as_ref(), &store, step)
                .await?;
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(StepError::Tenant(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ))
        }
    }

    /// Carries out one [`TenantStep`] as a journaled step. A new token's secret goes straight to
    /// the secret store; it is never put in an event, the journal or an error.
    async fn tenant_step(
        &self,
        endpoint: &str,
        api: &dyn ProxmoxApi,
        store: &SecretStore,
        step: &TenantStep,
    ) -> Result<(), StepError> {
        let kind = step.kind();
        let target = step.target();
        let scope = &self.plan.scope;
        match step {
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
                store
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
                store.remove(&key).map(|_| ()).map_err(|error| {
                    StepError::SecretStore(format!(
                        "cannot remove the secret of `{userid}` from labform's secret store: {}",
                        chain(&error)
                    ))
                })
            }
        }
    }
}
