//! Backup jobs on Proxmox: carrying out the reconciliation's backup job changes
//! ([`labform_planner::backups`] decides them) through `/cluster/backup`, each a journaled step.

use labform_planner::backups::{BackupJobChange, BackupJobStep};
use labform_planner::reconcile::Reconciliation;
use labform_proxmox::{ErrorKind, ProxmoxApi};

use super::{Run, StepError};

impl Run {
    /// Carries out the reconciliation's backup job changes, endpoint by endpoint in their
    /// order; an endpoint's first failure stops its remaining changes. Returns the changes made
    /// and the failures (and the jobs that cannot be brought to the plan), one line per
    /// endpoint.
    pub(super) async fn converge_backup_jobs<'a>(
        &self,
        reconciliation: &'a Reconciliation,
    ) -> (Vec<&'a BackupJobChange>, Vec<String>) {
        let mut endpoints: Vec<&str> = Vec::new();
        for endpoint in reconciliation
            .backup_jobs
            .iter()
            .map(|change| change.endpoint.as_str())
            .chain(
                reconciliation
                    .backup_job_conflicts
                    .iter()
                    .map(|conflict| conflict.endpoint.as_str()),
            )
        {
            if !endpoints.contains(&endpoint) {
                endpoints.push(endpoint);
            }
        }
        let mut done = Vec::new();
        let mut failures = Vec::new();
        for endpoint in endpoints {
            let mut outcome = Ok(());
            for change in reconciliation
                .backup_jobs
                .iter()
                .filter(|change| change.endpoint == endpoint)
            {
                if let Err(reason) = self.backup_job_step(change).await {
                    outcome = Err(reason);
                    break;
                }
                done.push(change);
            }
            let conflicts: Vec<String> = reconciliation
                .backup_job_conflicts
                .iter()
                .filter(|conflict| conflict.endpoint == endpoint)
                .map(ToString::to_string)
                .collect();
            match outcome {
                Err(reason) => failures.push(format!("backup jobs on `{endpoint}`: {reason}")),
                Ok(()) if !conflicts.is_empty() => failures.push(format!(
                    "backup jobs on `{endpoint}`: {}",
                    conflicts.join("; ")
                )),
                Ok(()) => {}
            }
        }
        (done, failures)
    }

    /// Carries out one backup job change as a journaled step.
    async fn backup_job_step(&self, change: &BackupJobChange) -> Result<(), StepError> {
        let api = self.api(&change.endpoint);
        let api: &dyn ProxmoxApi = api.as_ref();
        let kind = change.step.kind();
        let target = format!("{} on {}", change.id, change.endpoint);
        match &change.step {
            BackupJobStep::Create { options } => {
                // A job a stopped run made meanwhile is there; the next apply compares it.
                self.step_tolerating(
                    kind,
                    &target,
                    api,
                    Some(ErrorKind::AlreadyExists),
                    || async {
                        api.create_backup_job(&change.id, options)
                            .await
                            .map(|()| None)
                    },
                )
                .await
            }
            BackupJobStep::Update { options, .. } => {
                self.step(kind, &target, api, || async {
                    api.update_backup_job(&change.id, options)
                        .await
                        .map(|()| None)
                })
                .await
            }
            BackupJobStep::Delete => {
                self.step_tolerating(kind, &target, api, Some(ErrorKind::NotFound), || async {
                    api.delete_backup_job(&change.id).await.map(|()| None)
                })
                .await
            }
        }
    }
}
