//! Drift between commits, for controller mode: the lab changed by hand on Proxmox while the
//! commit in use did not change (the planner marks such changes as drift: the lab is the same
//! since labform wrote them). Each new drift is reported once: on `/controller` and its JSON
//! (what drifted, at which commit, since when, and the `/drift` document), and on the leader in
//! the journal, as a run of command `drift` with the commit, so `/history` and `labform history`
//! list it between the applies. Only names of VMs, fields, tenants' access and backup jobs are
//! written, never a value.

use labform_controller::git::Revision;
use serde::Serialize;

use super::Dashboard;
use super::controller::Commit;
use crate::commands::drift::ProxmoxDrift;
use crate::reality::Against;

/// Drift the controller found between commits.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// The commit in use when it was found (the lab file did not change with it).
    #[serde(flatten)]
    pub commit: Commit,
    /// The commit this controller last applied without failure, when it applied one.
    pub applied: Option<String>,
    /// When it was first seen, in seconds since the epoch.
    pub seen: i64,
    /// What drifted, one line each: `home-server-0: memory`.
    pub changes: Vec<String>,
    /// The same, as `/drift` answers it (`labform drift --json --skip-clusters`).
    pub drift: serde_json::Value,
}

/// Remembers the drift last reported, so the same drift is reported once.
#[derive(Debug, Default)]
pub struct DriftReporter {
    reported: Option<Vec<String>>,
}

impl DriftReporter {
    /// The report of `drift`, found planning the lab at `revision`, when it is new (`None` when
    /// there is none or it was reported already). On the `leader` it is recorded in the journal.
    pub fn report(
        &mut self,
        revision: &Revision,
        applied: Option<&str>,
        drift: &ProxmoxDrift,
        against: &Against,
        dashboard: &Dashboard,
        leader: bool,
    ) -> Option<DriftReport> {
        let changes = drift_lines(drift);
        if changes.is_empty() {
            self.reported = None;
            return None;
        }
        if self.reported.as_ref() == Some(&changes) {
            return None;
        }
        eprintln!(
            "labform controller: drift at commit {} (changed by hand): {}",
            revision.short(),
            changes.join("; ")
        );
        if leader {
            let plan = &against.plan;
            let recorded = crate::open_journal(
                dashboard.journal.as_deref(),
                &plan.scope,
                dashboard.target.sim,
            )
            .and_then(|journal| {
                let run =
                    journal.begin_from(&plan.lab, &plan.scope, "drift", Some(&revision.commit))?;
                journal.end(run, &format!("changed by hand: {}", changes.join("; ")))?;
                Ok(())
            });
            if let Err(error) = recorded {
                eprintln!("labform controller: cannot record the drift: {error:#}");
            }
        }
        self.reported = Some(changes.clone());
        Some(DriftReport {
            commit: Commit::from(revision),
            applied: applied.map(str::to_owned),
            seen: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs() as i64)
                .unwrap_or(0),
            changes,
            drift: drift.json(against),
        })
    }
}

/// What drifted, one line each, naming VMs, fields, tenants' access and backup jobs (never a
/// value: the journal holds these lines).
pub fn drift_lines(drift: &ProxmoxDrift) -> Vec<String> {
    let mut lines = Vec::new();
    for (change, fields) in &drift.drifted {
        let names: Vec<&str> = fields.iter().map(|field| field.field.as_str()).collect();
        lines.push(format!("{}: {}", change.name, names.join(", ")));
    }
    for change in &drift.tenants {
        lines.push(format!(
            "tenants' access on {}: {} {}",
            change.endpoint,
            change.step.kind(),
            change.step.target()
        ));
    }
    for change in &drift.backup_jobs {
        lines.push(format!("backup job {} on {}", change.id, change.endpoint));
    }
    lines
}
