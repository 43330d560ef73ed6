//! Backups as pve-manager has them: backup jobs (`API2/Backup.pm`,
//! `jobs.cfg`, in `jobs`), `vzdump` (`API2/VZDump.pm`, `VZDump.pm`, in
//! `vzdump`) writing an archive of each guest to a storage with `backup`
//! content, and restoring a guest from such an archive (qemu-server's
//! `create_vm` with `archive`, task `qmrestore`, in `restore`). What they
//! share lives here: the permission checks of backup options and pools, and
//! vzdump's parameter rules, on the typed requests (`Vzdump`,
//! `BackupJobRequest`) their endpoints' declarations decode.

mod jobs;
mod restore;
mod vzdump;

use super::*;

pub use restore::Restore;

/// Options only `root@pam` may set on a backup or a backup job.
const ROOT_ONLY: &[&str] = &["tmpdir", "dumpdir", "script", "job-id"];

/// The names of the parameters `request` sets, as on the wire (`notes-template`).
fn given(request: &impl serde::Serialize) -> Vec<String> {
    match serde_json::to_value(request) {
        Ok(serde_json::Value::Object(fields)) => fields
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(name, _)| name)
            .collect(),
        _ => Vec::new(),
    }
}

impl SimClient {
    /// Proxmox's `assert_param_permission_common` for backups and backup jobs: `names` are the
    /// options given (or dropped).
    fn check_backup_options(
        &self,
        st: &State,
        names: &[String],
    ) -> std::result::Result<(), ApiError> {
        if self.who.user == "root@pam" && self.who.token.is_none() {
            return Ok(());
        }
        let given = |key: &str| names.iter().any(|name| name == key);
        if let Some(key) = ROOT_ONLY.iter().find(|key| given(key)) {
            return Err(ApiError::param(key, "Only root may set this option."));
        }
        if ["bwlimit", "ionice", "performance"]
            .iter()
            .any(|key| given(key))
        {
            self.check(st, "/", "Sys.Modify")?;
        }
        Ok(())
    }

    /// A job's or backup's `pool` must exist and allow `VM.Backup`.
    fn check_backup_pool(
        &self,
        st: &State,
        options: &VzdumpOptions,
    ) -> std::result::Result<(), ApiError> {
        if let Some(pool) = &options.pool {
            if !st.pools.contains_key(pool) {
                return Err(e500(format!("pool '{pool}' does not exist")));
            }
            self.check(st, &format!("/pool/{pool}"), "VM.Backup")?;
        }
        Ok(())
    }
}

/// `PVE::VZDump::verify_vzdump_parameters`: `all`, `exclude` and `pool`
/// exclude `vmid`, `exclude` without a pool means `all`, and (when
/// `check_missing`) something must be selected.
fn verify_vzdump_parameters(
    options: &mut VzdumpOptions,
    check_missing: bool,
) -> std::result::Result<(), ApiError> {
    let pool = options.pool.as_ref().is_some_and(|pool| !pool.is_empty());
    if !options.vmids.is_empty() {
        let conflicts = [
            ("all", options.all == Some(true)),
            ("exclude", !options.exclude.is_empty()),
            ("pool", pool),
        ];
        if let Some((key, _)) = conflicts.iter().find(|(_, set)| *set) {
            return Err(ApiError::param(key, "option conflicts with option 'vmid'"));
        }
    }
    if !options.exclude.is_empty() && !pool {
        options.all = Some(true);
    }
    if check_missing
        && !(options.all == Some(true) || options.stop == Some(true) || pool)
        && options.vmids.is_empty()
    {
        return Err(ApiError::param("vmid", "property is missing"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmids(ids: &[u32]) -> Vec<VmId> {
        ids.iter().map(|id| VmId::new(*id).unwrap()).collect()
    }

    #[test]
    fn vmid_excludes_all_pool_and_exclude() {
        let mut options = VzdumpOptions {
            vmids: vmids(&[100]),
            all: Some(true),
            ..VzdumpOptions::default()
        };
        let e = verify_vzdump_parameters(&mut options, true).unwrap_err();
        assert_eq!(e.errors["all"], "option conflicts with option 'vmid'");
        let mut nothing = VzdumpOptions::default();
        let e = verify_vzdump_parameters(&mut nothing, true).unwrap_err();
        assert_eq!(e.errors["vmid"], "property is missing");
        let mut exclude = VzdumpOptions {
            exclude: vmids(&[100]),
            ..VzdumpOptions::default()
        };
        verify_vzdump_parameters(&mut exclude, true).unwrap();
        assert_eq!(exclude.all, Some(true));
    }

    #[test]
    fn given_names_the_wire_parameters() {
        let vzdump = Vzdump {
            options: VzdumpOptions {
                vmids: vmids(&[100]),
                notes_template: Some("{{guestname}}".into()),
                ..VzdumpOptions::default()
            },
            job_id: Some("nightly".into()),
            ..Vzdump::default()
        };
        let mut names = given(&vzdump);
        names.sort();
        assert_eq!(names, ["job-id", "notes-template", "vmid"]);
    }
}
