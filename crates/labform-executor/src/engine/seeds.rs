//! Seed images: cloud-init VMs boot from a NoCloud seed image labform writes
//! ([`labform_cloudinit::seed_iso`]). It is uploaded to the planned `iso` storage before the VM
//! is configured, attached as `ide2`, and when the seed changes the new one is uploaded, attached,
//! and the old one deleted. Seeds are found by name (`labform-<scope>-<vmid>-<hash>.iso`), so
//! deleting a VM deletes its seeds, and a run that deleted VMs also deletes seeds whose VM is
//! gone. The images hold the VMs' private host keys: they are rendered in memory, never logged,
//! and zeroed after the upload.

use std::collections::{HashMap, HashSet};

use labform_cloudinit::{SeedFiles, SeedSource, seed_iso};
use labform_ids::{NodeName, StorageName, VmId};
use labform_planner::desired::seed_file_prefix;
use labform_planner::plan::{Plan, PlannedVm};
use labform_planner::reconcile::{Reconciliation, VmAction};
use labform_proxmox::propstring::{Drive, DriveVolume};
use labform_proxmox::types::{ResourceType, Upload};
use labform_proxmox::{ErrorKind, ProxmoxApi};

use super::{Run, StepError};
use crate::error::chain;

/// Renders the seed files of every VM that gets a new seed image: created, replaced, or updated
/// with a changed `ide2`. Errors keep only the message, which carries no secret.
pub(super) fn render_seeds(
    plan: &Plan,
    reconciliation: &Reconciliation,
    seeds: &dyn SeedSource,
) -> HashMap<usize, Result<SeedFiles, StepError>> {
    let mut rendered = HashMap::new();
    for change in reconciliation
        .changes
        .iter()
        .filter(|change| !change.template)
    {
        let needs_seed = match &change.action {
            VmAction::Create | VmAction::Replace { .. } => true,
            VmAction::Update { changes } => changes.iter().any(|field| field.field == "ide2"),
            VmAction::Unchanged
            | VmAction::Start
            | VmAction::Delete { .. }
            | VmAction::Outdated { .. } => false,
        };
        let Some(index) = plan
            .vms
            .iter()
            .position(|vm| vm.name == change.name && vm.endpoint == change.endpoint)
        else {
            continue;
        };
        let vm = &plan.vms[index];
        if needs_seed && vm.seed.is_some() {
            let files = seeds.seed_files(vm).map_err(|error| {
                StepError::Seed(format!("cannot render the seed image: {}", chain(&error)))
            });
            rendered.insert(index, files);
        }
    }
    rendered
}

impl Run {
    /// Uploads the planned seed image of `vm` to its storage on `node`, unless it is there already
    /// (a stopped run uploaded it). Nothing to do for VMs without cloud-init.
    pub(super) async fn upload_seed(
        &self,
        vm: &PlannedVm,
        node: &NodeName,
    ) -> Result<(), StepError> {
        let Some(seed) = &vm.seed else {
            return match vm.cloud_init {
                Some(_) => Err(StepError::Seed(format!(
                    "no storage with `iso` content on node {node} of endpoint `{}` holds the seed image of `{}`",
                    vm.endpoint, vm.name
                ))),
                None => Ok(()),
            };
        };
        let api = self.api(&vm.endpoint);
        let storage = seed.storage.clone();
        let volume = format!("iso/{}", seed.file_name);
        let present = self
            .retry_call("list the seed images", || {
                api.storage_content(node, &storage, Some("iso"))
            })
            .await?
            .iter()
            .any(|found| found.volid == format!("{}:{volume}", seed.storage));
        if present {
            return Ok(());
        }
        let files = match self.rendered_seed(vm) {
            Some(Ok(files)) => files,
            Some(Err(reason)) => return Err(reason.clone()),
            None => {
                return Err(StepError::Seed(format!(
                    "the seed image of `{}` was not rendered for this run",
                    vm.name
                )));
            }
        };
        let mut upload = Upload {
            content: "iso".to_owned(),
            filename: seed.file_name.clone(),
            data: seed_iso(files),
        };
        let target = format!("{} -> {node}:{}:{volume}", vm.name, seed.storage);
        let result = self
            .step("upload-seed", &target, api.as_ref(), || async {
                api.upload(node, &storage, &upload).await.map(Some)
            })
            .await;
        // The image holds the private host key.
        zeroize::Zeroize::zeroize(&mut upload.data);
        result
    }

    /// The seed files rendered for `vm` before the run started, if it needed any.
    pub(super) fn rendered_seed(&self, vm: &PlannedVm) -> Option<&Result<SeedFiles, StepError>> {
        let index = self
            .plan
            .vms
            .iter()
            .position(|planned| planned.name == vm.name && planned.endpoint == vm.endpoint)?;
        self.seeds.get(&index)
    }

    /// Deletes the seed images of `vm` on `node` other than its planned one: the one `previous`
    /// (the `ide2` it had) names, and any other with its prefix on the planned seed storage.
    pub(super) async fn remove_stale_seeds(
        &self,
        vm: &PlannedVm,
        node: &NodeName,
        previous: Option<&str>,
    ) -> Result<(), StepError> {
        let Some(seed) = &vm.seed else {
            return Ok(());
        };
        let api = self.api(&vm.endpoint);
        let keep = DriveVolume::file(&seed.storage, "iso", &seed.file_name).to_string();
        let keep = keep.as_str();
        let mut storages = vec![seed.storage.clone()];
        // Only an ISO volume can be an earlier seed (not Proxmox's own cloud-init drive).
        if let Some(Drive {
            volume: DriveVolume::Volume { storage, name },
            ..
        }) = previous.and_then(|drive| Drive::parse(drive).ok())
            && name.starts_with("iso/")
            && !storages.iter().any(|known| known.as_str() == storage)
        {
            storages.push(storage.into());
        }
        for storage in storages {
            self.delete_seeds_in(api.as_ref(), node, &storage, vm.vm_id, Some(keep))
                .await?;
        }
        Ok(())
    }

    /// Deletes the seed images of this scope on `endpoint` whose VM ID no guest holds.
    pub(super) async fn sweep_seeds(&self, endpoint: &str) -> Result<(), StepError> {
        let api = self.api(endpoint);
        let held: HashSet<u64> = self
            .retry_call("list the cluster's VMs", || {
                api.cluster_resources(Some(ResourceType::Vm))
            })
            .await?
            .into_iter()
            .filter_map(|resource| resource.vmid)
            .collect();
        let nodes = self.retry_call("list the nodes", || api.nodes()).await?;
        let mut seen = HashSet::new();
        for node in nodes.iter().filter(|node| node.status == "online") {
            let node = NodeName::new(node.node.clone());
            let storages = self
                .retry_call("list the node's storages", || api.node_storages(&node))
                .await?;
            for storage in storages.iter().filter(|storage| {
                storage
                    .content
                    .split(',')
                    .any(|content| content.trim() == "iso")
            }) {
                let storage_name = StorageName::new(storage.storage.clone());
                let volumes = self
                    .retry_call("list the seed images", || {
                        api.storage_content(&node, &storage_name, Some("iso"))
                    })
                    .await?;
                let prefix = format!("{}:iso/labform-{}-", storage.storage, self.plan.scope);
                for volume in volumes {
                    let Some(vm_id) = seed_vm_id(&volume.volid, &prefix) else {
                        continue;
                    };
                    // Shared storage shows the same volume on every node.
                    let key = if storage.shared == Some(true) {
                        (String::new(), volume.volid.clone())
                    } else {
                        (node.to_string(), volume.volid.clone())
                    };
                    if held.contains(&u64::from(vm_id)) || !seen.insert(key) {
                        continue;
                    }
                    self.step_tolerating(
                        "delete-seed",
                        &format!("{node}:{}", volume.volid),
                        api.as_ref(),
                        Some(ErrorKind::NotFound),
                        || async {
                            api.delete_volume(&node, &storage_name, &volume.volid)
                                .await
                                .map(Some)
                        },
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes every seed image of VM `vm_id` (but `keep`) on the storages of `node` that hold ISO
    /// images.
    pub(super) async fn delete_seeds(
        &self,
        api: &dyn ProxmoxApi,
        node: &NodeName,
        vm_id: VmId,
        keep: Option<&str>,
    ) -> Result<(), StepError> {
        let storages = self
            .retry_call("list the node's storages", || api.node_storages(node))
            .await?;
        for storage in storages.iter().filter(|storage| {
            storage
                .content
                .split(',')
                .any(|content| content.trim() == "iso")
        }) {
            self.delete_seeds_in(api, node, &storage.storage, vm_id, keep)
                .await?;
        }
        Ok(())
    }

    /// Deletes the seed images of VM `vm_id` (but `keep`) on `storage` of `node`.
    async fn delete_seeds_in(
        &self,
        api: &dyn ProxmoxApi,
        node: &NodeName,
        storage: &str,
        vm_id: VmId,
        keep: Option<&str>,
    ) -> Result<(), StepError> {
        let storage_name = StorageName::new(storage);
        let prefix = format!(
            "{storage}:iso/{}",
            seed_file_prefix(&self.plan.scope, vm_id)
        );
        let volumes = self
            .retry_call("list the seed images", || {
                api.storage_content(node, &storage_name, Some("iso"))
            })
            .await?;
        for volume in volumes
            .iter()
            .filter(|volume| is_seed(&volume.volid, &prefix) && Some(volume.volid.as_str()) != keep)
        {
            // Deleting what is already gone (a stopped run's delete that finished) is done.
            self.step_tolerating(
                "delete-seed",
                &format!("{node}:{}", volume.volid),
                api,
                Some(ErrorKind::NotFound),
                || async {
                    api.delete_volume(node, &storage_name, &volume.volid)
                        .await
                        .map(Some)
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Whether `volid` is a seed image named `prefix` + eight hex digits + `.iso` (the prefix alone
/// could also begin the seed of a VM in a longer scope: `labform-a-1-` and `labform-a-1-5-...`).
fn is_seed(volid: &str, prefix: &str) -> bool {
    volid
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(".iso"))
        .is_some_and(|hash| hash.len() == 8 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// The VM ID in a seed image volume `<prefix><vmid>-<8 hex digits>.iso`, where `prefix` ends in
/// the scope and a dash.
fn seed_vm_id(volid: &str, prefix: &str) -> Option<u32> {
    let rest = volid.strip_prefix(prefix)?;
    let (digits, _) = rest.split_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let vm_id: u32 = digits.parse().ok()?;
    is_seed(volid, &format!("{prefix}{digits}-")).then_some(vm_id)
}

/// The seed source of runs that create nothing (destroy): asked for a seed, it fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSeeds;

impl SeedSource for NoSeeds {
    fn seed_files(&self, vm: &PlannedVm) -> Result<SeedFiles, labform_cloudinit::CloudInitError> {
        Err(labform_cloudinit::CloudInitError::NoSeed {
            vm: vm.name.clone(),
            detail: "this run has no source of seed images".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_names_match_only_their_own_vm() {
        let prefix = "local:iso/labform-a-1-";
        assert!(is_seed("local:iso/labform-a-1-0123abcd.iso", prefix));
        // VM 5 of scope `a-1` begins like VM 1 of scope `a`.
        assert!(!is_seed("local:iso/labform-a-1-5-0123abcd.iso", prefix));
        assert!(!is_seed("local:iso/labform-a-1-0123abcd.img", prefix));
        assert!(!is_seed("local:iso/labform-a-1-0123abc.iso", prefix));
        assert!(!is_seed("local:iso/debian-12.iso", prefix));
    }

    #[test]
    fn the_vm_id_of_a_seed() {
        let prefix = "local:iso/labform-a-";
        assert_eq!(
            seed_vm_id("local:iso/labform-a-1000-0123abcd.iso", prefix),
            Some(1000)
        );
        // Scope `a-1`, VM 5: not a seed of scope `a`.
        assert_eq!(
            seed_vm_id("local:iso/labform-a-1-5-0123abcd.iso", prefix),
            None
        );
        assert_eq!(
            seed_vm_id("local:iso/labform-a-x-0123abcd.iso", prefix),
            None
        );
        assert_eq!(
            seed_vm_id("local:iso/labform-a-1000-0123abcd.img", prefix),
            None
        );
        assert_eq!(
            seed_vm_id("local:iso/labform-b-1000-0123abcd.iso", prefix),
            None
        );
    }
}
