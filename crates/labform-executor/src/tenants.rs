//! Tenants' API token secrets in labform's secret store. Proxmox shows a token's secret once, at
//! creation; apply keeps it under [`token_store_key`]. Which tenants' secrets the store holds is
//! an input of reconciliation ([`token_secrets`], read before reconciling): a token whose secret
//! is gone is made anew. What must change on Proxmox is decided by the planner
//! ([`labform_planner::tenancy`]); the engine carries it out.

use labform_planner::plan::Plan;
use labform_planner::tenancy::TokenSecrets;
use labform_secrets::{InvalidSecretKey, SecretKey, SecretStore};

/// Where the secret of tenant `tenant`'s token on endpoint `endpoint` is kept:
/// `proxmox-token/<scope>/<endpoint>/<tenant>`.
pub fn token_store_key(
    scope: &str,
    endpoint: &str,
    tenant: &str,
) -> Result<SecretKey, InvalidSecretKey> {
    SecretKey::new(format!("proxmox-token/{scope}/{endpoint}/{tenant}"))
}

/// Why the store could not say which token secrets it holds.
#[derive(Debug, thiserror::Error)]
pub enum TokenSecretsError {
    /// A tenant's key is not a valid secret key.
    #[error(transparent)]
    Key(#[from] InvalidSecretKey),
    /// The store could not be read.
    #[error("cannot read labform's secret store")]
    Store(#[source] labform_secrets::SecretStoreError),
}

/// Which of `plan`'s tenants' token secrets `store` holds, on each endpoint the tenant lives on.
/// Nothing is read when the plan has no tenants.
pub fn token_secrets(plan: &Plan, store: &SecretStore) -> Result<TokenSecrets, TokenSecretsError> {
    let mut held = TokenSecrets::none();
    for tenant in &plan.tenants {
        for endpoint in &tenant.endpoints {
            let key = token_store_key(&plan.scope, endpoint, &tenant.name)?;
            if store.get(&key).map_err(TokenSecretsError::Store)?.is_some() {
                held.insert(endpoint, &tenant.name);
            }
        }
    }
    Ok(held)
}
