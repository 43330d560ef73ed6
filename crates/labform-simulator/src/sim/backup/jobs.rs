//! Backup jobs: `/cluster/backup` and `/cluster/backup/{id}` (`API2/Backup.pm`),
//! kept as sections of `jobs.cfg` in the datacenter state: a job's options in
//! their wire form, written from the typed `BackupJobRequest` its declaration
//! decodes.

use super::super::*;
use super::{given, verify_vzdump_parameters};
use crate::datacenter::{Section, section_options};
use labform_proxmox::endpoint::{self, ARRAY_SEPARATOR, Ty, form, split_list};

/// Options a backup job may drop beyond the vzdump options.
const DELETABLE: &[&str] = &["comment", "repeat-missed"];

impl SimClient {
    /// `GET /cluster/backup`: every backup job (`Sys.Audit` on `/`).
    pub async fn backup_job_index(&self) -> Result<Vec<serde_json::Value>> {
        self.run(&endpoint::backup::JOBS, &[], async {
            let st = self.sim.lock();
            self.check(&st, "/", "Sys.Audit")?;
            Ok(st
                .datacenter
                .backup_jobs
                .sections
                .iter()
                .map(job_entry)
                .collect())
        })
        .await
    }

    /// `GET /cluster/backup/{id}`.
    pub async fn backup_job_read(&self, id: &str) -> Result<serde_json::Value> {
        self.run(&endpoint::backup::JOB, &[&id], async {
            let st = self.sim.lock();
            self.check(&st, "/", "Sys.Audit")?;
            st.datacenter
                .backup_jobs
                .get(id)
                .map(job_entry)
                .ok_or_else(|| ApiError::param("id", format!("No such job '{id}'")))
        })
        .await
    }

    /// `POST /cluster/backup`: a new job from `request`, with Proxmox's
    /// checks; the id is generated when not given.
    pub async fn backup_job_create(&self, request: &BackupJobRequest) -> Result<()> {
        self.run(&endpoint::backup::CREATE_JOB, &[], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Modify")?;
            let mut request = request.clone();
            let id = request.id.take();
            self.check_backup_options(&st, &given(&request))?;
            if !(self.who.user == "root@pam" && self.who.token.is_none())
                && request.options.dumpdir.is_none()
            {
                let storage = request
                    .options
                    .storage
                    .as_ref()
                    .map_or("local", |storage| storage.as_str());
                self.check(&st, &format!("/storage/{storage}"), "Datastore.Allocate")?;
            }
            self.check_backup_pool(&st, &request.options)?;
            schedule_check(&mut request, true)?;
            request.enabled.get_or_insert(true);
            let id = id.unwrap_or_else(random_uuid);
            if st.datacenter.backup_jobs.get(&id).is_some() {
                return Err(e500(format!("Job '{id}' already exists")));
            }
            verify_vzdump_parameters(&mut request.options, true)?;
            st.datacenter.backup_jobs.sections.push(Section {
                kind: "vzdump".into(),
                id,
                options: section_options(&request, &["id", "delete"]),
            });
            Ok(())
        })
        .await
    }

    /// `PUT /cluster/backup/{id}`: the options `request` gives set, those it
    /// names in `delete` dropped, with Proxmox's rule that `vmid`, `all` and
    /// `pool` exclude each other.
    pub async fn backup_job_update(&self, id: &str, request: &BackupJobRequest) -> Result<()> {
        self.run(&endpoint::backup::UPDATE_JOB, &[&id], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Modify")?;
            let mut request = BackupJobRequest {
                id: None,
                ..request.clone()
            };
            let delete = std::mem::take(&mut request.delete);
            self.check_backup_options(&st, &given(&request))?;
            self.check_backup_options(&st, &delete)?;
            self.check_backup_pool(&st, &request.options)?;
            schedule_check(&mut request, false)?;
            let options = section_options(&request, &["id", "delete"]);
            if options.is_empty() && delete.is_empty() {
                return Err(e500("no options specified"));
            }
            verify_vzdump_parameters(&mut request.options.clone(), false)?;
            let job = st
                .datacenter
                .backup_jobs
                .get_mut(id)
                .ok_or_else(|| e500("no such vzdump job"))?;
            for key in &delete {
                if !DELETABLE.contains(&key.as_str()) && job_option_type(key).is_none() {
                    return Err(ApiError::param("delete", format!("unknown option '{key}'")));
                }
                job.options.remove(key);
            }
            // jobs.cfg holds the options in their wire form: the merged job is that.
            let mut next = job.options.clone();
            next.extend(options);
            if next.contains_key("exclude") && !next.contains_key("pool") {
                next.insert("all".into(), "1".into());
            }
            if !request.options.vmids.is_empty() {
                for key in ["all", "exclude", "pool"] {
                    next.remove(key);
                }
            } else if request.options.all == Some(true) {
                next.remove("vmid");
                next.remove("pool");
            } else if next.contains_key("pool") {
                for key in ["vmid", "all", "exclude"] {
                    next.remove(key);
                }
            }
            let mut merged: BackupJobRequest = form::decode(&endpoint::backup::CREATE_JOB, &next)
                .map_err(|error| e500(error.to_string()))?;
            verify_vzdump_parameters(&mut merged.options, true)?;
            job.options = next;
            Ok(())
        })
        .await
    }

    /// `DELETE /cluster/backup/{id}`.
    pub async fn backup_job_delete(&self, id: &str) -> Result<()> {
        self.run(&endpoint::backup::DELETE_JOB, &[&id], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Modify")?;
            if !st.datacenter.backup_jobs.remove(id) {
                return Err(ApiError::param("id", format!("No such job '{id}'")));
            }
            Ok(())
        })
        .await
    }
}

/// A backup job as `GET /cluster/backup` lists it: its options typed as the
/// schema types them, `id` and `type`.
fn job_entry(job: &Section) -> serde_json::Value {
    let mut entry: serde_json::Map<String, serde_json::Value> = job
        .options
        .iter()
        .map(|(k, v)| {
            let value = match job_option_type(k) {
                Some(Ty::Int(_)) | Some(Ty::Bool) => v.parse::<i64>().map_or_else(
                    |_| serde_json::Value::from(v.clone()),
                    serde_json::Value::from,
                ),
                Some(Ty::Array) => v.split(ARRAY_SEPARATOR).collect::<Vec<_>>().into(),
                _ => v.clone().into(),
            };
            (k.clone(), value)
        })
        .collect();
    entry.insert("id".into(), job.id.clone().into());
    entry.insert("type".into(), "vzdump".into());
    entry.into()
}

/// The type of backup job option `key`, from the endpoint's declaration.
fn job_option_type(key: &str) -> Option<Ty> {
    endpoint::backup::CREATE_JOB.param(key).map(|p| p.ty)
}

/// The job's `schedule`, from the older `starttime` and `dow` when given.
fn schedule_check(
    request: &mut BackupJobRequest,
    required: bool,
) -> std::result::Result<(), ApiError> {
    let starttime = request.starttime.take();
    let dow = request.dow.take();
    match (request.schedule.is_some(), starttime) {
        (true, Some(_)) => Err(ApiError::param(
            "starttime",
            "'starttime' and 'schedule' cannot both be set",
        )),
        (false, None) if required => Err(ApiError::param(
            "schedule",
            "neither 'starttime' nor 'schedule' were set",
        )),
        (false, Some(start)) => {
            let days = dow.map(|d| split_list(&d).join(","));
            let schedule = match days {
                Some(d) if d != "mon,tue,wed,thu,fri,sat,sun" => format!("{d} {start}"),
                _ => start,
            };
            request.schedule = Some(schedule);
            Ok(())
        }
        _ => Ok(()),
    }
}
