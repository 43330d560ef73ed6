//! Planning against what exists: load the lab, connect to its target, discover every endpoint,
//! keep the allocations Proxmox shows, plan against the VM IDs in use, and reconcile. Shared by
//! `plan` (with a target), `apply`, `drift` and `destroy`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use labform_executor::tenants::token_secrets;
use labform_executor::{discover, discover_access};
use labform_planner::inventory::Inventory;
use labform_planner::reconcile::{Reconciliation, reconcile};
use labform_planner::tenancy::TokenSecrets;
use labform_planner::{Allocations, Plan, plan_against};
use labform_secrets::SecretStore;

use crate::lab_input::{default_lock_path, load_and_plan, read_lock};
use crate::target::{Connected, TargetArgs, connect};

/// A lab planned against its target.
pub struct Against {
    /// The plan (allocations from Proxmox and the lock file).
    pub plan: Plan,
    /// What to change.
    pub reconciliation: Reconciliation,
    /// What exists.
    pub inventory: Inventory,
    /// Allocations to record in the lock file.
    pub allocations: Allocations,
    /// The endpoints.
    pub connected: Connected,
    /// The lock file.
    pub lock_path: PathBuf,
    /// The lock file's content before this run.
    pub previous_lock: Allocations,
}

/// Loads `path` and plans it against `target`; `Err(code)` when the lab has errors (already
/// printed).
pub async fn plan_against_target(
    path: &Path,
    target: &TargetArgs,
) -> anyhow::Result<Result<Against, ExitCode>> {
    let lock_path = default_lock_path(path);
    let previous_lock = read_lock(&lock_path)?;
    let outcome = load_and_plan(path, &previous_lock);
    if outcome.failed() {
        eprint!("{}", outcome.render_diagnostics());
        return Ok(Err(ExitCode::from(1)));
    }
    let lab = outcome.lab.expect("no errors, so a lab");
    let scope = lab.scope().to_owned();
    let connected = connect(&lab, path, target)?;
    let mut inventory = Inventory::default();
    for endpoint in &connected.endpoints {
        let found = discover(&endpoint.name, endpoint.api.clone(), &scope, 16)
            .await
            .map_err(|error| {
                anyhow::Error::new(error)
                    .context(format!("cannot read what exists on `{}`", endpoint.name))
            })?;
        inventory.vms.extend(found);
    }
    let previous = inventory.merge_into(&scope, &previous_lock);
    let planned = plan_against(&lab, &previous, &inventory.observed_ids(&scope));
    if !planned.diagnostics.is_empty() {
        eprint!(
            "{}",
            labform_model::diagnostic::render_all(&planned.diagnostics, &outcome.sources)
        );
    }
    let Some(plan) = planned.plan else {
        return Ok(Err(ExitCode::from(1)));
    };
    // Tenants' users, tokens, ACL entries and pools, and which token secrets the store holds.
    for endpoint in &connected.endpoints {
        let access = discover_access(&endpoint.name, endpoint.api.clone(), &plan)
            .await
            .map_err(|error| {
                anyhow::Error::new(error).context(format!(
                    "cannot read the users and pools of `{}`",
                    endpoint.name
                ))
            })?;
        inventory.access.push(access);
    }
    let secrets = if plan.tenants.is_empty() {
        TokenSecrets::none()
    } else {
        let store = SecretStore::open_default().context("cannot open labform's secret store")?;
        token_secrets(&plan, &store)?
    };
    let reconciliation = reconcile(&plan, &inventory, &secrets);
    Ok(Ok(Against {
        plan,
        reconciliation,
        inventory,
        allocations: planned.allocations,
        connected,
        lock_path,
        previous_lock,
    }))
}
