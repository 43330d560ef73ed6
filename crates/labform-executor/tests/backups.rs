//! Backups that happen, against the simulator over HTTPS: apply makes seed 001's vzdump job
//! through `/cluster/backup` with the planned schedule, storage, retention and VM list; a second
//! apply writes nothing; a schedule changed by hand is drift and put back; a changed lab updates
//! the job; a dropped policy removes it; a job labform did not make is never touched, even under
//! labform's name; destroy removes the scope's jobs.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use labform_executor::Journal;
use labform_planner::backups::{BackupJobStep, cluster_backup_job_id};
use labform_proxmox::ProxmoxApi;
use labform_proxmox::types::BackupJob;

async fn job(api: &Arc<dyn ProxmoxApi>, id: &str) -> Option<BackupJob> {
    api.backup_jobs()
        .await
        .expect("the backup jobs")
        .into_iter()
        .find(|job| job.id == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_vzdump_job_is_made_kept_put_back_changed_and_removed() {
    let mut lab = load_lab("../../examples/seed-001.yaml");
    let served = serve(simulator_for(&lab, 0.001)).await;
    let api = served.client.clone();
    let journal = Arc::new(Journal::in_memory());

    // A job someone made by hand is there before labform.
    let by_hand = BTreeMap::from([
        ("schedule".to_owned(), "daily".to_owned()),
        ("storage".to_owned(), "local".to_owned()),
        ("all".to_owned(), "1".to_owned()),
        ("comment".to_owned(), "nightly, made by hand".to_owned()),
    ]);
    api.create_backup_job("nightly", &by_hand).await.unwrap();

    let first = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(first.report.failed.is_empty(), "{:#?}", first.report.failed);
    let scope = first.plan.scope.clone();
    let id = cluster_backup_job_id(&scope, "home");
    assert_eq!(
        first.plan.backup_jobs.len(),
        1,
        "{:#?}",
        first.plan.backup_jobs
    );
    let planned = &first.plan.backup_jobs[0];
    assert_eq!(planned.id, id);
    assert!(
        first.report.backup_jobs == [format!("create-backup-job {id}")],
        "{:?}",
        first.report.backup_jobs
    );
    let made = job(&api, &id).await.expect("the job exists after apply");
    let mut cluster_ids: Vec<String> = first
        .plan
        .vms
        .iter()
        .filter(|vm| vm.cluster.as_deref() == Some("home"))
        .map(|vm| vm.vm_id.to_string())
        .collect();
    cluster_ids.sort();
    assert_eq!(made.options["schedule"], "sat 02:00");
    assert_eq!(made.options["storage"], "local");
    assert_eq!(made.options["prune-backups"], "keep-last=4");
    assert_eq!(made.options["mode"], "snapshot");
    assert_eq!(made.options["vmid"], cluster_ids.join(","));
    assert!(made.options["comment"].starts_with(&format!("labform:{scope} spec:")));

    // Nothing to do the second time: not one write.
    let writes = served.writes.load(Ordering::SeqCst);
    let second = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(
        second.reconciliation.is_empty(),
        "{:#?}",
        second.reconciliation
    );
    assert_eq!(served.writes.load(Ordering::SeqCst), writes);

    // Changed by hand: drift, put back.
    api.update_backup_job(
        &id,
        &BTreeMap::from([("schedule".to_owned(), "mon 05:00".to_owned())]),
    )
    .await
    .unwrap();
    let third = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(third.reconciliation.has_drift());
    assert_eq!(third.reconciliation.backup_jobs.len(), 1);
    assert!(third.reconciliation.backup_jobs[0].drift);
    assert_eq!(
        third.report.backup_jobs,
        [format!("update-backup-job {id}")]
    );
    assert_eq!(
        job(&api, &id).await.unwrap().options["schedule"],
        "sat 02:00"
    );

    // The lab changes its schedule: an update, not drift.
    lab.clusters[0].backups.as_mut().unwrap().vzdump_schedule = Some("sun 04:30".to_owned());
    let fourth = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(
        fourth.report.failed.is_empty(),
        "{:#?}",
        fourth.report.failed
    );
    let change = &fourth.reconciliation.backup_jobs[0];
    assert!(!change.drift);
    assert!(matches!(change.step, BackupJobStep::Update { .. }));
    assert_eq!(
        job(&api, &id).await.unwrap().options["schedule"],
        "sun 04:30"
    );
    assert!(!fourth.reconciliation.has_drift());

    // The policy leaves the lab: the job goes; the job made by hand stays as it was.
    let backups = lab.clusters[0].backups.as_mut().unwrap();
    backups.vzdump_schedule = None;
    backups.storage = None;
    let fifth = cycle(&lab, api.clone(), journal.clone(), fast_options()).await;
    assert!(fifth.report.failed.is_empty(), "{:#?}", fifth.report.failed);
    assert!(fifth.plan.backup_jobs.is_empty());
    assert!(
        fifth.report.backup_jobs == [format!("delete-backup-job {id}")],
        "{:?}",
        fifth.report.backup_jobs
    );
    assert!(job(&api, &id).await.is_none());
    let kept = job(&api, "nightly").await.expect("the job made by hand");
    assert_eq!(kept.options["comment"], "nightly, made by hand");
    assert_eq!(kept.options["schedule"], "daily");

    // Destroy removes the scope's jobs, and only those.
    let again = load_lab("../../examples/seed-001.yaml");
    let sixth = cycle(&again, api.clone(), journal.clone(), fast_options()).await;
    assert!(job(&api, &id).await.is_some());
    let report = destroy(&again, api.clone(), &sixth.plan).await;
    assert!(report.failed.is_empty(), "{:#?}", report.failed);
    assert!(job(&api, &id).await.is_none());
    assert!(job(&api, "nightly").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_under_labforms_name_that_labform_did_not_make_is_a_conflict_left_alone() {
    let lab = load_lab("../../examples/seed-001.yaml");
    let served = serve(simulator_for(&lab, 0.001)).await;
    let api = served.client.clone();
    let id = cluster_backup_job_id(lab.scope(), "home");
    let by_hand = BTreeMap::from([
        ("schedule".to_owned(), "daily".to_owned()),
        ("storage".to_owned(), "local".to_owned()),
        ("vmid".to_owned(), "900".to_owned()),
    ]);
    api.create_backup_job(&id, &by_hand).await.unwrap();
    let cycle = cycle(
        &lab,
        api.clone(),
        Arc::new(Journal::in_memory()),
        fast_options(),
    )
    .await;
    assert_eq!(cycle.reconciliation.backup_job_conflicts.len(), 1);
    assert!(
        cycle
            .report
            .failed
            .iter()
            .any(|failure| failure.contains(&format!("backup job `{id}`"))
                && failure.contains("not made by labform")),
        "{:#?}",
        cycle.report.failed
    );
    let untouched = job(&api, &id).await.unwrap();
    assert_eq!(untouched.options["vmid"], "900");
    assert_eq!(untouched.options["schedule"], "daily");
}
