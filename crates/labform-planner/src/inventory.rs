//! What exists on Proxmox, as plain data: the input of reconciliation and of allocation.
//!
//! The executor fills an [`Inventory`] from a handful of API calls (`/cluster/resources`, then
//! the config of owned VMs only; the pools, the users that may be the scope's tenants with their
//! tokens, and those users' ACL entries; the backup jobs named like labform's). Config values are
//! as Proxmox reports them, except `sshkeys`, which is URL-decoded, and `description`, from which
//! the ownership block is parsed.

use labform_ids::{EndpointName, NodeName, PoolName, StorageName};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use labform_ids::VmId;
use serde::{Deserialize, Serialize};

use crate::allocate::Allocations;
use crate::build::ObservedIds;
use crate::ownership::Owner;
use labform_proxmox_vocabulary::propstring::lenient_options;

/// A disk as Proxmox reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedDisk {
    /// Slot (`scsi0`).
    pub slot: String,
    /// Storage.
    pub storage: StorageName,
    /// Size in GiB (rounded up).
    pub size_gib: u64,
}

/// One VM or template on Proxmox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedVm {
    /// Proxmox endpoint name (from the lab).
    pub endpoint: EndpointName,
    /// VM ID.
    pub vm_id: VmId,
    /// Node it is on now.
    pub node: NodeName,
    /// Name.
    pub name: String,
    /// Whether it is a template.
    pub template: bool,
    /// Whether it runs.
    pub running: bool,
    /// Proxmox tags.
    pub tags: Vec<String>,
    /// Ownership block, if the description has one.
    pub owner: Option<Owner>,
    /// Current config (labform VMs only, of any scope; empty for others).
    pub config: BTreeMap<String, String>,
    /// Pending changes (owned VMs only).
    pub pending: BTreeMap<String, String>,
    /// Disks (owned VMs only).
    pub disks: Vec<ObservedDisk>,
    /// Resource pool.
    pub pool: Option<PoolName>,
    /// Whether the config was read. A plan that trusts the spec hash the VM's tags record
    /// (`plan --no-refresh`) reads none for this scope's VMs: then `owner` comes from the tags
    /// ([`Owner::from_tags`]), `config`, `pending` and `disks` are empty, and reconciliation
    /// compares the spec hash only.
    #[serde(default = "read")]
    pub config_read: bool,
}

fn read() -> bool {
    true
}

impl ObservedVm {
    /// Whether the VM belongs to `scope`.
    pub fn owned_by(&self, scope: &str) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|owner| owner.scope == scope)
    }

    /// Whether Proxmox protection is on (delete and replace refuse).
    pub fn protected(&self) -> bool {
        self.config
            .get("protection")
            .is_some_and(|value| value == "1")
    }

    /// The static address in `ipconfig0`, if any.
    pub fn address(&self) -> Option<Ipv4Addr> {
        let ipconfig = self.config.get("ipconfig0")?;
        let ip = lenient_options(ipconfig).remove("ip")?;
        ip.split('/').next()?.parse().ok()
    }
}

/// An API token of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedToken {
    /// The token's name (after the `!`).
    pub name: String,
    /// Whether privilege separation is on.
    pub privilege_separated: bool,
}

/// A Proxmox user whose name may be one of the scope's tenant users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedUser {
    /// `name@realm`.
    pub userid: String,
    /// Its comment (labform's users start with the scope's marker).
    pub comment: Option<String>,
    /// Its API tokens.
    pub tokens: Vec<ObservedToken>,
}

/// An ACL entry of a user or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedAclEntry {
    /// The path (`/pool/lab-alice`).
    pub path: String,
    /// `user@realm` or `user@realm!token`.
    pub subject: String,
    /// The role.
    pub role: String,
    /// Whether it propagates to the path's children.
    pub propagate: bool,
}

/// The pools, tenant users and their ACL entries of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedAccess {
    /// Proxmox endpoint name (from the lab).
    pub endpoint: EndpointName,
    /// Every resource pool.
    pub pools: Vec<String>,
    /// Users whose name starts as the scope's tenant users' do, with their tokens.
    pub users: Vec<ObservedUser>,
    /// The ACL entries of those users and their tokens.
    pub acl: Vec<ObservedAclEntry>,
    /// Backup jobs whose ID starts with `labform-` (another scope's or a person's may be among
    /// them: [`crate::backups::is_ours`] tells).
    #[serde(default)]
    pub backup_jobs: Vec<ObservedBackupJob>,
}

/// A backup job on Proxmox (`/cluster/backup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedBackupJob {
    /// Proxmox endpoint name (from the lab).
    pub endpoint: EndpointName,
    /// The job's ID.
    pub id: String,
    /// Its options as Proxmox lists them, as text (`schedule`, `vmid`, `comment`, ...).
    pub options: BTreeMap<String, String>,
}

/// Everything observed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// VMs and templates, in VM ID order.
    pub vms: Vec<ObservedVm>,
    /// Pools, users, tokens and ACL entries, per endpoint.
    #[serde(default)]
    pub access: Vec<ObservedAccess>,
}

impl Inventory {
    /// VMs owned by `scope`.
    pub fn owned<'a>(&'a self, scope: &'a str) -> impl Iterator<Item = &'a ObservedVm> + 'a {
        self.vms.iter().filter(move |vm| vm.owned_by(scope))
    }

    /// VM IDs in use on each endpoint, split into those of VMs `scope` owns and the others, and
    /// the addresses other labform scopes' VMs hold (their own, their clusters' API VIPs and
    /// load-balancer blocks, as their ownership blocks record them).
    pub fn observed_ids(&self, scope: &str) -> ObservedIds {
        let mut ids = ObservedIds::default();
        for vm in &self.vms {
            let side = if vm.owned_by(scope) {
                &mut ids.owned
            } else {
                &mut ids.foreign
            };
            side.entry(vm.endpoint.clone())
                .or_default()
                .insert(vm.vm_id.get());
            if vm.owned_by(scope) {
                continue;
            }
            if let Some(owner) = &vm.owner {
                ids.foreign_addresses.extend(owner.api_vip);
                if let Some(block) = owner.load_balancers {
                    ids.foreign_addresses.extend(block.addresses());
                }
                ids.foreign_addresses.extend(vm.address());
            }
        }
        ids
    }

    /// `previous` with what the owned VMs show: their VM IDs, addresses and nodes win over the lock
    /// file, because they are what exists.
    pub fn merge_into(&self, scope: &str, previous: &Allocations) -> Allocations {
        let mut merged = previous.clone();
        for vm in self.owned(scope) {
            let Some(owner) = &vm.owner else { continue };
            merged.vm_ids.insert(owner.key.clone(), vm.vm_id.get());
            if !vm.template {
                merged.nodes.insert(owner.key.clone(), vm.node.clone());
                if let Some(address) = vm.address() {
                    merged
                        .addresses
                        .insert(owner.key.clone(), address.to_string());
                }
            }
        }
        merged
    }
}
