//! Reading a lab file for a subcommand through the one way in
//! ([`labform_executor::inputs`]): the lock options every planning command takes, the offline
//! plan, and printing diagnostics.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use labform_executor::inputs::{Inputs, LockMode};
use labform_model::Diagnostic;
use labform_model::diagnostic::{ResolvedDiagnostic, render_all, sort_resolved};
use labform_planner::{Plan, Planned};

/// How a command treats the lab's lock file. Every command that plans takes these.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LockArgs {
    /// Lock file of earlier allocations (default: FILE with the extension `.lock`).
    #[arg(long, value_name = "PATH")]
    pub lock: Option<PathBuf>,
    /// Fail instead of changing the lock file's allocations (for CI).
    #[arg(long, conflicts_with = "no_lock")]
    pub locked: bool,
    /// Neither read nor write a lock file.
    #[arg(long)]
    pub no_lock: bool,
}

impl LockArgs {
    /// The mode these options ask for.
    pub fn mode(&self) -> LockMode {
        if self.no_lock {
            LockMode::Ignore
        } else if self.locked {
            LockMode::Locked
        } else {
            LockMode::Update
        }
    }

    /// Loads the lab at `file` and opens its lock file as asked.
    pub fn read(&self, file: &Path) -> anyhow::Result<Inputs> {
        Ok(Inputs::read(file, self.lock.as_deref(), self.mode())?)
    }
}

/// Reports a lock-file refusal (`--locked` and a plan that changes it): exit code 1, like any
/// other problem with the lab.
pub fn refused(error: &labform_executor::inputs::LockError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(1)
}

/// A lab that was loaded and planned offline, with its diagnostics.
pub struct Outcome {
    /// What was read.
    pub inputs: Inputs,
    /// The planning result (absent when the lab did not load).
    pub planned: Option<Planned>,
    /// Every diagnostic of loading, validation and planning.
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    /// Whether any diagnostic is an error.
    pub fn failed(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Diagnostics rendered for a terminal.
    pub fn render_diagnostics(&self) -> String {
        render_all(&self.diagnostics, &self.inputs.sources)
    }

    /// Diagnostics resolved for JSON output.
    pub fn resolved(&self) -> Vec<ResolvedDiagnostic> {
        let mut resolved: Vec<ResolvedDiagnostic> = self
            .diagnostics
            .iter()
            .map(|diagnostic| diagnostic.resolve(&self.inputs.sources))
            .collect();
        sort_resolved(&mut resolved);
        resolved
    }

    /// The plan, when there were no errors.
    pub fn plan(&self) -> Option<&Plan> {
        self.planned
            .as_ref()
            .and_then(|planned| planned.plan.as_ref())
    }
}

/// Loads, validates and plans the lab at `file` once, with the lock file as `lock` says.
pub fn plan_offline(file: &Path, lock: &LockArgs) -> anyhow::Result<Outcome> {
    let inputs = lock.read(file)?;
    let planned = inputs.plan_offline();
    let mut diagnostics = inputs.diagnostics.clone();
    if let Some(planned) = &planned {
        diagnostics.extend(planned.diagnostics.iter().cloned());
    }
    Ok(Outcome {
        inputs,
        planned,
        diagnostics,
    })
}

/// The lab at `file` and its plan, for commands that work from the plan alone and record
/// nothing (`ssh`, `kubeconfig`, `reset`): `--locked` refuses a plan that would change the lock
/// file. A lab with errors prints them and gives exit code 1.
pub fn offline_plan(file: &Path, lock: &LockArgs) -> anyhow::Result<Result<Plan, ExitCode>> {
    let outcome = plan_offline(file, lock)?;
    if outcome.failed() {
        eprint!("{}", outcome.render_diagnostics());
        return Ok(Err(ExitCode::from(1)));
    }
    let planned = outcome.planned.expect("no errors, so planned");
    if let Err(error) = outcome.inputs.lock.check(file, &planned.allocations) {
        return Ok(Err(refused(&error)));
    }
    Ok(Ok(planned.plan.expect("no errors, so a plan")))
}
