//! Backups as pve-manager has them: backup jobs (`API2/Backup.pm`,
//! `jobs.cfg`, in `jobs`), `vzdump` (`API2/VZDump.pm`, `VZDump.pm`, in
//! `vzdump`) writing an archive of each guest to a storage with `backup`
//! content, and restoring a guest from such an archive (qemu-server's
//! `create_vm` with `archive`, task `qmrestore`, in `restore`). What they
//! share lives here: the permission checks of backup options and pools, and
//! vzdump's parameter rules.

mod jobs;
mod restore;
mod vzdump;

use super::*;

pub use restore::Restore;

/// Options only `root@pam` may set on a backup or a backup job.
const ROOT_ONLY: &[&str] = &["tmpdir", "dumpdir", "script", "job-id"];

impl SimClient {
    /// Proxmox's `assert_param_permission_common` for backups and backup jobs.
    fn check_backup_options(
        &self,
        st: &State,
        options: &BTreeMap<String, String>,
    ) -> std::result::Result<(), ApiError> {
        if self.who.user == "root@pam" && self.who.token.is_none() {
            return Ok(());
        }
        if let Some(key) = ROOT_ONLY.iter().find(|k| options.contains_key(**k)) {
            return Err(ApiError::param(key, "Only root may set this option."));
        }
        if ["bwlimit", "ionice", "performance"]
            .iter()
            .any(|k| options.contains_key(*k))
        {
            self.check(st, "/", "Sys.Modify")?;
        }
        Ok(())
    }

    /// A job's or backup's `pool` must exist and allow `VM.Backup`.
    fn check_backup_pool(
        &self,
        st: &State,
        options: &BTreeMap<String, String>,
    ) -> std::result::Result<(), ApiError> {
        if let Some(pool) = options.get("pool") {
            if !st.pools.contains_key(pool) {
                return Err(e500(format!("pool '{pool}' does not exist")));
            }
            self.check(st, &format!("/pool/{pool}"), "VM.Backup")?;
        }
        Ok(())
    }
}

/// `PVE::VZDump::verify_vzdump_parameters`: `all`, `exclude` and `pool`
/// exclude `vmid`, and (when `check_missing`) something must be selected.
fn verify_vzdump_parameters(
    options: &mut BTreeMap<String, String>,
    check_missing: bool,
) -> std::result::Result<(), ApiError> {
    let set = |options: &BTreeMap<String, String>, k: &str| {
        options.get(k).is_some_and(|v| !v.is_empty() && v != "0")
    };
    if set(options, "vmid") {
        for key in ["all", "exclude", "pool"] {
            if set(options, key) {
                return Err(ApiError::param(key, "option conflicts with option 'vmid'"));
            }
        }
    }
    if options.contains_key("exclude") && !set(options, "pool") {
        options.insert("all".into(), "1".into());
    }
    if check_missing
        && !(set(options, "all") || set(options, "stop") || set(options, "pool"))
        && !set(options, "vmid")
    {
        return Err(ApiError::param("vmid", "property is missing"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmid_excludes_all_pool_and_exclude() {
        let mut options: BTreeMap<String, String> = [
            ("vmid".to_owned(), "100".to_owned()),
            ("all".to_owned(), "1".to_owned()),
        ]
        .into();
        let e = verify_vzdump_parameters(&mut options, true).unwrap_err();
        assert_eq!(e.errors["all"], "option conflicts with option 'vmid'");
        let mut nothing = BTreeMap::new();
        let e = verify_vzdump_parameters(&mut nothing, true).unwrap_err();
        assert_eq!(e.errors["vmid"], "property is missing");
        let mut exclude: BTreeMap<String, String> =
            [("exclude".to_owned(), "100".to_owned())].into();
        verify_vzdump_parameters(&mut exclude, true).unwrap();
        assert_eq!(exclude["all"], "1");
    }
}
