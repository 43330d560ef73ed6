//! Planning against what exists: load the lab, connect to its target, discover every endpoint,
//! keep the allocations Proxmox shows, plan against the VM IDs in use, and reconcile. Shared by
//! `plan` (with a target), `apply`, `drift` and `destroy`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use labform_executor::Refresh;
use labform_executor::discover::CONFIG_READS_AT_ONCE;
use labform_executor::inputs::LockFile;
use labform_model::Diagnostic;
use labform_planner::inventory::Inventory;
use labform_planner::reconcile::Reconciliation;
use labform_planner::{Allocations, Plan};
use labform_secrets::SecretStore;

use crate::lab_input::LockArgs;
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
    /// The lock file, as the command's lock options opened it.
    pub lock: LockFile,
}

/// Whether a command checks, before going on, that the target holds what the plan uses
/// ([`labform_executor::preflight`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preflight {
    /// Check (commands that write, and `plan`, which shows what `apply` would do).
    Check,
    /// Do not (commands that only read or delete what exists).
    Skip,
}

/// Loads `path` and plans it once against `target` through
/// [`labform_executor::inputs`]; `Err(code)` when the lab has errors (already printed). Under
/// `--locked`, a plan that would change the lock file is an error. With [`Preflight::Check`],
/// every node, storage, bridge, privilege and capacity the plan needs is checked on the target
/// before anything else, and the problems are printed located in the lab file.
pub async fn plan_against_target(
    path: &Path,
    target: &TargetArgs,
    lock: &LockArgs,
    preflight: Preflight,
) -> anyhow::Result<Result<Against, ExitCode>> {
    plan_against_target_through(path, target, lock, preflight, Refresh::ReadConfigs, |_| {}).await
}

/// [`plan_against_target`], reading the VMs' configs as `refresh` says, with `wrap` given the
/// endpoints once connected, before any call (`labform serve` and `plan --no-refresh` count
/// each endpoint's calls through it).
pub async fn plan_against_target_through(
    path: &Path,
    target: &TargetArgs,
    lock: &LockArgs,
    preflight: Preflight,
    refresh: Refresh,
    wrap: impl FnOnce(&mut Connected),
) -> anyhow::Result<Result<Against, ExitCode>> {
    let inputs = lock.read(path)?;
    let Some(lab) = inputs.lab.as_ref().filter(|_| !inputs.failed()) else {
        eprint!(
            "{}",
            labform_model::diagnostic::render_all(&inputs.diagnostics, &inputs.sources)
        );
        return Ok(Err(ExitCode::from(1)));
    };
    let mut connected = connect(lab, path, target)?;
    wrap(&mut connected);
    // Tenants' token secrets live in labform's store; a lab without tenants never opens it.
    let store = if lab.tenants.is_empty() {
        None
    } else {
        Some(SecretStore::open_default().context("cannot open labform's secret store")?)
    };
    let found = inputs
        .plan_against_with(
            &connected.endpoints,
            CONFIG_READS_AT_ONCE,
            store.as_ref(),
            refresh,
        )
        .await?
        .expect("the lab loaded without errors");
    let mut diagnostics = inputs.diagnostics.clone();
    diagnostics.extend(found.planned.diagnostics.iter().cloned());
    if !diagnostics.is_empty() {
        eprint!(
            "{}",
            labform_model::diagnostic::render_all(&diagnostics, &inputs.sources)
        );
    }
    let (Some(plan), Some(reconciliation)) = (found.planned.plan, found.reconciliation) else {
        return Ok(Err(ExitCode::from(1)));
    };
    if preflight == Preflight::Check {
        let problems = labform_executor::preflight::preflight(
            lab,
            &plan,
            &reconciliation,
            &connected.endpoints,
        )
        .await?;
        if !problems.is_empty() {
            eprint!(
                "{}",
                labform_model::diagnostic::render_all(&problems, &inputs.sources)
            );
        }
        if problems.iter().any(Diagnostic::is_error) {
            eprintln!(
                "error: the target does not hold what the plan uses (above); nothing was changed"
            );
            return Ok(Err(ExitCode::from(1)));
        }
    }
    if let Err(error) = inputs.lock.check(path, &found.planned.allocations) {
        return Ok(Err(crate::lab_input::refused(&error)));
    }
    Ok(Ok(Against {
        plan,
        reconciliation,
        inventory: found.inventory,
        allocations: found.planned.allocations,
        connected,
        lock: inputs.lock,
    }))
}
