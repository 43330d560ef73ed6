//! Preflight: does the target hold what the plan uses? Pure, like the rest of the planner.
//!
//! Before `apply` writes anything, the executor reads a handful of facts from every endpoint
//! (`labform_executor::preflight`: the version, the nodes, each node's storages and network,
//! the credentials' privileges) into [`TargetFacts`]. [`check`] compares them with the plan and
//! what the reconciliation is about to do, and returns every problem at once as a
//! [`Diagnostic`] anchored at the lab file's field that asked for the missing thing, saying what
//! the target has instead. Nothing here retries or waits: a missing node is permanent.

use std::collections::{BTreeMap, BTreeSet};

use labform_ids::{EndpointName, NodeName, StorageName};
use labform_model::Diagnostic;
use labform_model::diagnostic::did_you_mean;
use labform_model::lab::{LabFile, ProxmoxEndpoint};

use crate::plan::{Plan, PlannedVm};
use crate::reconcile::{Reconciliation, VmAction};

/// The oldest Proxmox VE release labform drives: cloud images are fetched with `download-url`
/// into content type `import` and attached with `import-from`, which came with 8.2.
pub const MINIMUM_VERSION: (u32, u32) = (8, 2);

/// What every endpoint of the lab has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetFacts {
    /// One entry per endpoint the facts could be read from.
    pub endpoints: Vec<EndpointFacts>,
}

/// What one endpoint has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointFacts {
    /// The lab's name for it.
    pub endpoint: EndpointName,
    /// Its API address, as people read it in messages.
    pub url: String,
    /// `GET /version`'s `version` (`9.1.1`).
    pub version: String,
    /// `GET /nodes`, with what each node holds.
    pub nodes: Vec<NodeFacts>,
    /// `GET /access/permissions`: the credentials' privileges by ACL path.
    pub permissions: BTreeMap<String, BTreeSet<String>>,
}

/// What one node has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Node name.
    pub name: NodeName,
    /// Whether `GET /nodes` says `online`.
    pub online: bool,
    /// Logical CPUs (`maxcpu`).
    pub cpus: Option<u64>,
    /// Memory, bytes (`maxmem`).
    pub memory: Option<u64>,
    /// `GET /nodes/{node}/storage`.
    pub storages: Vec<StorageFacts>,
    /// The bridges of `GET /nodes/{node}/network`.
    pub bridges: Vec<BridgeFacts>,
}

/// A storage as one node sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageFacts {
    /// Storage ID.
    pub name: StorageName,
    /// Content types it is configured for.
    pub content: BTreeSet<String>,
    /// Shared between the nodes.
    pub shared: bool,
    /// Enabled and active on this node.
    pub active: bool,
    /// Free bytes, when known.
    pub available: Option<u64>,
}

/// A Linux bridge (or OVS bridge) of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeFacts {
    /// Interface name (`vmbr0`).
    pub name: String,
    /// `bridge_vlan_aware`.
    pub vlan_aware: bool,
}

/// Every problem of `plan` (about to be carried out as `reconciliation`) on the target `facts`
/// describes, anchored in `lab`. Endpoints missing from `facts` are not checked (their
/// discovery already failed and said so).
pub fn check(
    lab: &LabFile,
    plan: &Plan,
    reconciliation: &Reconciliation,
    facts: &TargetFacts,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for declared in &lab.proxmox {
        let Some(target) = facts
            .endpoints
            .iter()
            .find(|target| target.endpoint == declared.name.as_str())
        else {
            continue;
        };
        let endpoint = EndpointCheck {
            lab,
            plan,
            reconciliation,
            declared,
            target,
        };
        endpoint.version(&mut problems);
        endpoint.nodes(&mut problems);
        endpoint.storages(&mut problems);
        endpoint.bridges(&mut problems);
        endpoint.capacity(&mut problems);
        endpoint.privileges(&mut problems);
    }
    problems
}

/// The checks of one endpoint.
struct EndpointCheck<'a> {
    lab: &'a LabFile,
    plan: &'a Plan,
    reconciliation: &'a Reconciliation,
    declared: &'a ProxmoxEndpoint,
    target: &'a EndpointFacts,
}

impl EndpointCheck<'_> {
    fn vms(&self) -> impl Iterator<Item = &PlannedVm> {
        self.plan
            .vms
            .iter()
            .filter(|vm| vm.endpoint == self.declared.name.as_str())
    }

    /// The planned VMs of this endpoint the reconciliation creates (or makes anew).
    fn created(&self) -> impl Iterator<Item = &PlannedVm> {
        let created: BTreeSet<u32> = self
            .reconciliation
            .changes
            .iter()
            .filter(|change| change.endpoint == self.declared.name.as_str())
            .filter(|change| matches!(change.action, VmAction::Create | VmAction::Replace { .. }))
            .map(|change| change.vm_id.get())
            .collect();
        self.vms()
            .filter(move |vm| created.contains(&vm.vm_id.get()))
    }

    fn node(&self, name: &str) -> Option<&NodeFacts> {
        self.target.nodes.iter().find(|node| node.name == name)
    }

    /// Every node the plan puts something on.
    fn used_nodes(&self) -> BTreeSet<&str> {
        let endpoint = self.declared.name.as_str();
        self.vms()
            .map(|vm| vm.node.as_str())
            .chain(
                self.plan
                    .templates
                    .iter()
                    .filter(|template| template.endpoint == endpoint)
                    .map(|template| template.node.as_str()),
            )
            .chain(
                self.plan
                    .images
                    .iter()
                    .filter(|image| image.endpoint == endpoint)
                    .map(|image| image.node.as_str()),
            )
            .collect()
    }

    fn version(&self, problems: &mut Vec<Diagnostic>) {
        let found = &self.target.version;
        let mut parts = found.split(['.', '-']).map(|part| part.parse::<u32>().ok());
        let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
            problems.push(
                Diagnostic::error(
                    "preflight-version",
                    &self.declared.source.at("endpoint"),
                    format!(
                        "{} reports Proxmox VE version `{found}`, which labform cannot read",
                        self.target.url
                    ),
                )
                .hint("check that the address is a Proxmox VE API (`https://HOST:8006/api2/json`)"),
            );
            return;
        };
        if (major, minor) < MINIMUM_VERSION {
            let (need_major, need_minor) = MINIMUM_VERSION;
            problems.push(
                Diagnostic::error(
                    "preflight-version",
                    &self.declared.source.at("endpoint"),
                    format!(
                        "{} runs Proxmox VE {found}; labform needs {need_major}.{need_minor} or later",
                        self.target.url
                    ),
                )
                .note("cloud images are fetched into content type `import` and attached with `import-from`, which came with 8.2")
                .hint("upgrade the Proxmox VE nodes (`apt full-upgrade` on each)"),
            );
        }
    }

    fn nodes(&self, problems: &mut Vec<Diagnostic>) {
        let used = self.used_nodes();
        let names: Vec<&str> = self
            .target
            .nodes
            .iter()
            .map(|node| node.name.as_str())
            .collect();
        for (index, declared) in self.declared.nodes.iter().enumerate() {
            if !used.contains(declared.name.as_str()) {
                continue;
            }
            let at = self.declared.source.at("nodes").index(index).at("name");
            match self.node(&declared.name) {
                None => {
                    let mut problem = Diagnostic::error(
                        "preflight-node",
                        &at,
                        format!(
                            "node `{}` does not exist on {}; it has {}",
                            declared.name,
                            self.target.url,
                            list(&names)
                        ),
                    );
                    if let Some(near) = did_you_mean(&declared.name, names.iter().copied()) {
                        problem = problem.hint(format!("did you mean `{near}`?"));
                    }
                    problems.push(problem);
                }
                Some(node) if !node.online => problems.push(
                    Diagnostic::error(
                        "preflight-node-offline",
                        &at,
                        format!(
                            "node `{}` of {} is not online",
                            declared.name, self.target.url
                        ),
                    )
                    .hint("start the node, or move its VMs to another node of the lab"),
                ),
                Some(_) => {}
            }
        }
    }

    /// Every (node, storage, content type) the plan writes to, with why.
    fn storage_uses(&self) -> BTreeMap<(String, String, &'static str), &'static str> {
        let endpoint = self.declared.name.as_str();
        let mut uses = BTreeMap::new();
        for vm in self.vms() {
            for disk in &vm.disks {
                uses.insert(
                    (vm.node.to_string(), disk.storage.to_string(), "images"),
                    "VM disks",
                );
            }
            if let Some(seed) = &vm.seed {
                uses.insert(
                    (vm.node.to_string(), seed.storage.to_string(), "iso"),
                    "cloud-init seed images",
                );
            }
        }
        for template in self
            .plan
            .templates
            .iter()
            .filter(|template| template.endpoint == endpoint)
        {
            uses.insert(
                (
                    template.node.to_string(),
                    template.storage.to_string(),
                    "images",
                ),
                "template disks",
            );
        }
        for image in self
            .plan
            .images
            .iter()
            .filter(|image| image.endpoint == endpoint)
        {
            let content = if image.file_name.ends_with(".iso") {
                "iso"
            } else {
                "import"
            };
            uses.insert(
                (image.node.to_string(), image.storage.to_string(), content),
                "downloaded images",
            );
        }
        uses
    }

    fn storage_anchor(&self, storage: &str) -> labform_model::Source {
        match self
            .declared
            .storages
            .iter()
            .position(|declared| declared.name == storage)
        {
            Some(index) => self.declared.source.at("storages").index(index).at("name"),
            None => self.declared.source.at("storages"),
        }
    }

    fn storages(&self, problems: &mut Vec<Diagnostic>) {
        let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
        for ((node_name, storage, content), why) in self.storage_uses() {
            let Some(node) = self.node(&node_name) else {
                continue; // reported by `nodes`
            };
            let at = self.storage_anchor(&storage);
            let Some(found) = node
                .storages
                .iter()
                .find(|found| found.name == storage.as_str())
            else {
                if reported.insert((node_name.clone(), storage.clone())) {
                    let names: Vec<&str> = node
                        .storages
                        .iter()
                        .map(|found| found.name.as_str())
                        .collect();
                    problems.push(
                        Diagnostic::error(
                            "preflight-storage",
                            &at,
                            format!(
                                "storage `{storage}` is not available on node `{node_name}` of {}; it has {}",
                                self.target.url,
                                list(&names)
                            ),
                        )
                        .hint("add the storage in Datacenter → Storage (and make it available on that node), or name one the node has"),
                    );
                }
                continue;
            };
            if !found.active {
                if reported.insert((node_name.clone(), storage.clone())) {
                    problems.push(
                        Diagnostic::error(
                            "preflight-storage-inactive",
                            &at,
                            format!(
                                "storage `{storage}` on node `{node_name}` of {} is disabled or not active",
                                self.target.url
                            ),
                        )
                        .hint("enable it (`pvesm set STORAGE --disable 0`) and check that it is mounted"),
                    );
                }
                continue;
            }
            if !found.content.contains(content) {
                let holds: Vec<&str> = found.content.iter().map(String::as_str).collect();
                problems.push(
                    Diagnostic::error(
                        "preflight-storage-content",
                        &at,
                        format!(
                            "storage `{storage}` on node `{node_name}` of {} does not take content type `{content}` ({why}); it takes {}",
                            self.target.url,
                            list(&holds)
                        ),
                    )
                    .hint(format!(
                        "add `{content}` to its content types: `pvesm set {storage} --content {}`",
                        holds
                            .iter()
                            .copied()
                            .chain([content])
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(",")
                    )),
                );
            }
            let declared = self
                .declared
                .storages
                .iter()
                .find(|declared| declared.name == storage);
            if declared.is_some_and(|declared| declared.shared && !found.shared)
                && reported.insert((node_name.clone(), storage.clone()))
            {
                problems.push(
                    Diagnostic::error(
                        "preflight-storage-shared",
                        &at,
                        format!(
                            "the lab says storage `{storage}` is shared, but on {} it is local to each node",
                            self.target.url
                        ),
                    )
                    .hint("set `shared: false` for it in the lab (each node then downloads its own images), or make the storage shared"),
                );
            }
        }
    }

    fn bridges(&self, problems: &mut Vec<Diagnostic>) {
        let mut seen: BTreeSet<(String, String, Option<u16>)> = BTreeSet::new();
        let vms: Vec<&PlannedVm> = self.vms().collect();
        for vm in vms {
            let nic = &vm.nic;
            if !seen.insert((vm.node.to_string(), nic.bridge.clone(), nic.vlan)) {
                continue;
            }
            let Some(node) = self.node(&vm.node) else {
                continue;
            };
            let network = self
                .lab
                .networks
                .iter()
                .find(|network| network.name == nic.network);
            let Some(network) = network else { continue };
            match node.bridges.iter().find(|bridge| bridge.name == nic.bridge) {
                None => {
                    let names: Vec<&str> = node
                        .bridges
                        .iter()
                        .map(|bridge| bridge.name.as_str())
                        .collect();
                    problems.push(
                        Diagnostic::error(
                            "preflight-bridge",
                            &network.source.at("bridge"),
                            format!(
                                "bridge `{}` does not exist on node `{}` of {}; it has {}",
                                nic.bridge,
                                vm.node,
                                self.target.url,
                                list(&names)
                            ),
                        )
                        .hint(
                            "create the bridge on the node (System → Network), or name one it has",
                        ),
                    );
                }
                Some(bridge) => {
                    if let Some(tag) = nic.vlan
                        && !bridge.vlan_aware
                    {
                        problems.push(
                            Diagnostic::error(
                                "preflight-bridge-vlan",
                                &network.source.at("vlan"),
                                format!(
                                    "bridge `{}` on node `{}` of {} is not VLAN-aware, so VLAN tag {tag} cannot be used on it",
                                    nic.bridge, vm.node, self.target.url
                                ),
                            )
                            .hint("turn on `VLAN aware` for the bridge (`bridge-vlan-aware yes` in /etc/network/interfaces)"),
                        );
                    }
                }
            }
        }
    }

    fn capacity(&self, problems: &mut Vec<Diagnostic>) {
        let mut reported_storage: BTreeSet<(String, String)> = BTreeSet::new();
        for (index, declared) in self.declared.nodes.iter().enumerate() {
            let Some(node) = self.node(&declared.name) else {
                continue;
            };
            let at = self.declared.source.at("nodes").index(index);
            if let Some(memory) = node.memory
                && declared.memory.bytes() > memory
            {
                problems.push(
                    Diagnostic::error(
                        "preflight-capacity",
                        &at.at("memory"),
                        format!(
                            "node `{}` of {} has {} of memory; the lab says {}, and places VMs by it",
                            declared.name,
                            self.target.url,
                            gib(memory),
                            gib(declared.memory.bytes())
                        ),
                    )
                    .hint(format!("set `memory: {}` or less", gib(memory))),
                );
            }
            if let Some(cpus) = node.cpus
                && u64::from(declared.cpu) > cpus
            {
                problems.push(
                    Diagnostic::error(
                        "preflight-capacity",
                        &at.at("cpu"),
                        format!(
                            "node `{}` of {} has {cpus} CPU threads; the lab says {}, and places VMs by it",
                            declared.name, self.target.url, declared.cpu
                        ),
                    )
                    .hint(format!("set `cpu: {cpus}` or less")),
                );
            }
        }
        // Disk space the VMs about to be made take, per storage (once for a shared one).
        let mut needed: BTreeMap<(String, String), u64> = BTreeMap::new();
        for vm in self.created() {
            let Some(node) = self.node(&vm.node) else {
                continue;
            };
            for disk in &vm.disks {
                let shared = node
                    .storages
                    .iter()
                    .any(|found| found.name == disk.storage.as_str() && found.shared);
                let holder = if shared {
                    String::new()
                } else {
                    vm.node.to_string()
                };
                *needed
                    .entry((holder, disk.storage.to_string()))
                    .or_default() += disk.size_gib << 30;
            }
        }
        for ((holder, storage), bytes) in needed {
            let found = self
                .target
                .nodes
                .iter()
                .filter(|node| holder.is_empty() || node.name == holder.as_str())
                .flat_map(|node| node.storages.iter().map(move |found| (node, found)))
                .find(|(_, found)| found.name == storage.as_str());
            let Some((node, found)) = found else { continue };
            let Some(available) = found.available else {
                continue;
            };
            // Thin storages overcommit by design; the lab's storage overcommit says how far.
            let allowed = (available as f64 * self.declared.overcommit.storage.max(1.0)) as u64;
            if bytes > allowed && reported_storage.insert((holder.clone(), storage.clone())) {
                problems.push(
                    Diagnostic::error(
                        "preflight-capacity",
                        &self.storage_anchor(&storage),
                        format!(
                            "storage `{storage}` on node `{}` of {} has {} free; the VMs to create need {}",
                            node.name,
                            self.target.url,
                            gib(available),
                            gib(bytes)
                        ),
                    )
                    .hint("free space on the storage, give the VMs smaller disks, or place them on another storage"),
                );
            }
        }
    }

    /// The privileges the plan needs, each on the ACL path Proxmox checks, with why.
    fn needed_privileges(&self) -> BTreeMap<(String, &'static str), &'static str> {
        let mut needed = BTreeMap::new();
        let mut need = |path: String, privilege: &'static str, why: &'static str| {
            needed.entry((path, privilege)).or_insert(why);
        };
        let endpoint = self.declared.name.as_str();
        for vm in self.created() {
            let path = match &vm.pool {
                Some(pool) => format!("/pool/{pool}"),
                None => format!("/vms/{}", vm.vm_id),
            };
            need(path, "VM.Allocate", "to create VMs");
            for disk in &vm.disks {
                need(
                    format!("/storage/{}", disk.storage),
                    "Datastore.AllocateSpace",
                    "to allocate VM disks",
                );
            }
            if let Some(seed) = &vm.seed {
                need(
                    format!("/storage/{}", seed.storage),
                    "Datastore.AllocateTemplate",
                    "to upload cloud-init seed images",
                );
            }
            let bridge = match vm.nic.vlan {
                Some(tag) => format!("/sdn/zones/localnetwork/{}/{tag}", vm.nic.bridge),
                None => format!("/sdn/zones/localnetwork/{}", vm.nic.bridge),
            };
            need(bridge, "SDN.Use", "to attach NICs to the bridge");
        }
        let changes_vms = self.reconciliation.changes.iter().any(|change| {
            change.endpoint == endpoint && !matches!(change.action, VmAction::Unchanged)
        });
        if changes_vms {
            for vm in self.vms() {
                let path = match &vm.pool {
                    Some(pool) => format!("/pool/{pool}"),
                    None => format!("/vms/{}", vm.vm_id),
                };
                need(path.clone(), "VM.Config.Options", "to configure VMs");
                need(path, "VM.PowerMgmt", "to start VMs");
            }
        }
        let images: Vec<_> = self
            .plan
            .images
            .iter()
            .filter(|image| image.endpoint == endpoint)
            .collect();
        for image in &images {
            need(
                format!("/storage/{}", image.storage),
                "Datastore.AllocateTemplate",
                "to download images",
            );
        }
        for pool in self.vms().filter_map(|vm| vm.pool.as_ref()) {
            need(
                format!("/pool/{pool}"),
                "Pool.Allocate",
                "to create the lab's pools",
            );
        }
        let backup_jobs = self
            .reconciliation
            .backup_jobs
            .iter()
            .filter(|change| change.endpoint == endpoint);
        for change in backup_jobs {
            need(
                "/".to_owned(),
                "Sys.Modify",
                "to create, change or delete the lab's backup jobs",
            );
            if let Some(job) = self
                .plan
                .backup_jobs
                .iter()
                .find(|job| job.endpoint == endpoint && job.id == change.id)
            {
                need(
                    format!("/storage/{}", job.storage),
                    "Datastore.Allocate",
                    "to point backup jobs at their storage",
                );
            }
        }
        if self
            .plan
            .tenants
            .iter()
            .any(|tenant| tenant.endpoints.iter().any(|name| name == endpoint))
        {
            need(
                "/access/groups".to_owned(),
                "User.Modify",
                "to create tenants' users and tokens",
            );
            for tenant in &self.plan.tenants {
                need(
                    format!("/pool/{}", tenant.pool),
                    "Permissions.Modify",
                    "to give tenants their pools",
                );
            }
        }
        needed
    }

    fn privileges(&self, problems: &mut Vec<Diagnostic>) {
        let missing: Vec<String> = self
            .needed_privileges()
            .into_iter()
            .filter(|((path, privilege), _)| !holds(&self.target.permissions, path, privilege))
            .map(|((path, privilege), why)| format!("{privilege} on {path} ({why})"))
            .collect();
        if missing.is_empty() {
            return;
        }
        let mut problem = Diagnostic::error(
            "preflight-privileges",
            &self.declared.source.at("credentials"),
            format!(
                "the credentials for {} lack {} privilege{} the plan needs",
                self.target.url,
                missing.len(),
                if missing.len() == 1 { "" } else { "s" }
            ),
        );
        for line in missing {
            problem = problem.note(line);
        }
        problems.push(problem.hint(
            "grant a role holding them (PVEAdmin on /, or PVEVMAdmin, PVEDatastoreUser and PVESDNUser where listed) to the user and, with privilege separation, to the token",
        ));
    }
}

/// Whether `privilege` holds on `path`: granted there, or on the nearest ancestor listed (Proxmox
/// lists every path with an ACL entry; entries propagate to their children).
pub fn holds(
    permissions: &BTreeMap<String, BTreeSet<String>>,
    path: &str,
    privilege: &str,
) -> bool {
    let mut current = path.trim_end_matches('/').to_owned();
    loop {
        let key = if current.is_empty() {
            "/"
        } else {
            current.as_str()
        };
        if let Some(privileges) = permissions.get(key) {
            return privileges.contains(privilege);
        }
        if current.is_empty() {
            return false;
        }
        match current.rfind('/') {
            Some(cut) => current.truncate(cut),
            None => current.clear(),
        }
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn gib(bytes: u64) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib.fract() == 0.0 {
        format!("{gib:.0} GiB")
    } else {
        format!("{gib:.1} GiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permissions(entries: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        entries
            .iter()
            .map(|(path, privileges)| {
                (
                    (*path).to_owned(),
                    privileges.iter().map(|p| (*p).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_privilege_holds_on_the_nearest_listed_ancestor() {
        let granted = permissions(&[("/", &["Sys.Audit"]), ("/pool/lab", &["VM.Allocate"])]);
        assert!(holds(&granted, "/pool/lab", "VM.Allocate"));
        assert!(holds(&granted, "/pool/lab/child", "VM.Allocate"));
        assert!(!holds(&granted, "/pool/other", "VM.Allocate"));
        assert!(holds(&granted, "/pool/other", "Sys.Audit"));
        // A nearer listing without the privilege wins over a farther one with it.
        let narrowed = permissions(&[("/", &["VM.Allocate"]), ("/vms/100", &["VM.Audit"])]);
        assert!(!holds(&narrowed, "/vms/100", "VM.Allocate"));
        assert!(!holds(&BTreeMap::new(), "/", "VM.Allocate"));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(gib(32 << 30), "32 GiB");
        assert_eq!(gib(3 << 29), "1.5 GiB");
    }
}
