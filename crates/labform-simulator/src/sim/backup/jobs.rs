//! Backup jobs: `/cluster/backup` and `/cluster/backup/{id}` (`API2/Backup.pm`),
//! kept as sections of `jobs.cfg` in the datacenter state.

use super::super::*;
use super::verify_vzdump_parameters;
use crate::datacenter::Section;
use labform_proxmox::endpoint;
use labform_proxmox::endpoint::Ty;

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

    /// `POST /cluster/backup`: a new job from `options` (every parameter but
    /// `id`), with Proxmox's checks; the id is generated when not given.
    pub async fn backup_job_create(
        &self,
        id: Option<&str>,
        options: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.run(&endpoint::backup::CREATE_JOB, &[], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Modify")?;
            self.check_backup_options(&st, options)?;
            if !(self.who.user == "root@pam" && self.who.token.is_none()) {
                let storage = options.get("storage").map_or("local", String::as_str);
                if !options.contains_key("dumpdir") {
                    self.check(&st, &format!("/storage/{storage}"), "Datastore.Allocate")?;
                }
            }
            let mut options = options.clone();
            self.check_backup_pool(&st, &options)?;
            schedule_check(&mut options, true)?;
            options
                .entry("enabled".into())
                .or_insert_with(|| "1".into());
            let id = id.map_or_else(random_uuid, str::to_owned);
            if st.datacenter.backup_jobs.get(&id).is_some() {
                return Err(e500(format!("Job '{id}' already exists")));
            }
            verify_vzdump_parameters(&mut options, true)?;
            st.datacenter.backup_jobs.sections.push(Section {
                kind: "vzdump".into(),
                id,
                options,
            });
            Ok(())
        })
        .await
    }

    /// `PUT /cluster/backup/{id}`: `options` set, `delete` dropped, with
    /// Proxmox's rule that `vmid`, `all` and `pool` exclude each other.
    pub async fn backup_job_update(
        &self,
        id: &str,
        options: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<()> {
        self.run(&endpoint::backup::UPDATE_JOB, &[&id], async {
            let mut st = self.sim.lock();
            self.check(&st, "/", "Sys.Modify")?;
            let deleted: BTreeMap<String, String> =
                delete.iter().map(|k| (k.clone(), "1".into())).collect();
            self.check_backup_options(&st, options)?;
            self.check_backup_options(&st, &deleted)?;
            self.check_backup_pool(&st, options)?;
            let mut options = options.clone();
            schedule_check(&mut options, false)?;
            if options.is_empty() && delete.is_empty() {
                return Err(e500("no options specified"));
            }
            verify_vzdump_parameters(&mut options.clone(), false)?;
            let job = st
                .datacenter
                .backup_jobs
                .get_mut(id)
                .ok_or_else(|| e500("no such vzdump job"))?;
            for key in delete {
                if !DELETABLE.contains(&key.as_str()) && job_option_type(key).is_none() {
                    return Err(ApiError::param("delete", format!("unknown option '{key}'")));
                }
                job.options.remove(key);
            }
            let mut next = job.options.clone();
            next.extend(options.clone());
            if next.contains_key("exclude") && !next.contains_key("pool") {
                next.insert("all".into(), "1".into());
            }
            if options.contains_key("vmid") {
                for key in ["all", "exclude", "pool"] {
                    next.remove(key);
                }
            } else if options.get("all").is_some_and(|v| v == "1") {
                next.remove("vmid");
                next.remove("pool");
            } else if next.contains_key("pool") {
                for key in ["vmid", "all", "exclude"] {
                    next.remove(key);
                }
            }
            verify_vzdump_parameters(&mut next, true)?;
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
    options: &mut BTreeMap<String, String>,
    required: bool,
) -> std::result::Result<(), ApiError> {
    let starttime = options.remove("starttime");
    let dow = options.remove("dow");
    match (options.contains_key("schedule"), starttime) {
        (true, Some(_)) => Err(ApiError::param(
            "starttime",
            "'starttime' and 'schedule' cannot both be set",
        )),
        (false, None) if required => Err(ApiError::param(
            "schedule",
            "neither 'starttime' nor 'schedule' were set",
        )),
        (false, Some(start)) => {
            let days = dow.map(|d| {
                d.split([',', ' ', ';'])
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            let schedule = match days {
                Some(d) if d != "mon,tue,wed,thu,fri,sat,sun" => format!("{d} {start}"),
                _ => start,
            };
            options.insert("schedule".into(), schedule);
            Ok(())
        }
        _ => Ok(()),
    }
}
