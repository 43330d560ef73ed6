//! Reading a lab file for a subcommand: loading with includes, validation and planning, the lock
//! file of earlier allocations, and printing diagnostics.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use labform_model::diagnostic::{ResolvedDiagnostic, render_all, sort_resolved};
use labform_model::{Diagnostic, RealFileSystem, SourceMap};
use labform_planner::{Allocations, Planned};

/// The lock file of `lab`: the same path with the extension `.lock`.
pub fn default_lock_path(lab: &Path) -> PathBuf {
    lab.with_extension("lock")
}

/// Reads a lock file; a missing file is an empty lock.
pub fn read_lock(path: &Path) -> anyhow::Result<Allocations> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a labform lock file; delete it to start afresh",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Allocations::empty()),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes a lock file atomically (write, then rename).
pub fn write_lock(path: &Path, allocations: &Allocations) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(allocations).expect("allocations serialise");
    text.push('\n');
    let temporary = path.with_extension("lock.tmp");
    std::fs::write(&temporary, text)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// A lab that was loaded and planned, with its diagnostics.
pub struct Outcome {
    /// The planning result (plan absent when there are errors).
    pub planned: Option<Planned>,
    /// Every diagnostic of loading, validation and planning.
    pub diagnostics: Vec<Diagnostic>,
    /// Files read.
    pub sources: SourceMap,
    /// The merged lab, when it loaded.
    pub lab: Option<labform_model::LabFile>,
}

impl Outcome {
    /// Whether any diagnostic is an error.
    pub fn failed(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Diagnostics rendered for a terminal.
    pub fn render_diagnostics(&self) -> String {
        render_all(&self.diagnostics, &self.sources)
    }

    /// Diagnostics resolved for JSON output.
    pub fn resolved(&self) -> Vec<ResolvedDiagnostic> {
        let mut resolved: Vec<ResolvedDiagnostic> = self
            .diagnostics
            .iter()
            .map(|diagnostic| diagnostic.resolve(&self.sources))
            .collect();
        sort_resolved(&mut resolved);
        resolved
    }
}

/// Loads, validates and plans the lab at `path` with `previous` allocations.
pub fn load_and_plan(path: &Path, previous: &Allocations) -> Outcome {
    let loaded = labform_model::load(&RealFileSystem, path);
    let mut diagnostics = loaded.diagnostics;
    let Some(lab) = loaded.lab else {
        return Outcome {
            planned: None,
            diagnostics,
            sources: loaded.sources,
            lab: None,
        };
    };
    let planned = labform_planner::plan(&lab, previous);
    diagnostics.extend(planned.diagnostics.iter().cloned());
    Outcome {
        planned: Some(planned),
        diagnostics,
        sources: loaded.sources,
        lab: Some(lab),
    }
}

/// The lab at `path` and its plan with the allocations of its lock file, for commands that work
/// from the plan alone (`ssh`, `kubeconfig`, `reset`). A lab with errors prints them and gives
/// exit code 1.
pub fn offline_plan(
    path: &Path,
) -> anyhow::Result<Result<(labform_model::LabFile, labform_planner::Plan), std::process::ExitCode>>
{
    let outcome = load_and_plan(path, &read_lock(&default_lock_path(path))?);
    if outcome.failed() {
        eprint!("{}", outcome.render_diagnostics());
        return Ok(Err(std::process::ExitCode::from(1)));
    }
    let plan = outcome
        .planned
        .and_then(|planned| planned.plan)
        .expect("no errors, so a plan");
    let lab = outcome.lab.expect("no errors, so a lab");
    Ok(Ok((lab, plan)))
}
