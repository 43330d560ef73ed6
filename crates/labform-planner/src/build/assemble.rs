//! Assembly: the planned VMs, endpoints' load, images, templates, tenants, actions and totals
//! from what the other steps decided.

use std::collections::{BTreeMap, HashMap};

use labform_ids::VmId;
use labform_model::lab::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::distribution::{GuestBoot, distribution_plan};
use crate::expand::{Expanded, Instance, Role};
use crate::placement::Placed;

/// Lowercases and replaces characters that are not allowed in host names.
pub(super) fn sanitise(name: &str) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped
        .trim_matches('-')
        .chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// A MAC address in Proxmox's `BC:24:11` range, derived from the scope and VM name so that it is
/// the same in every plan.
pub fn mac_address(scope: &str, name: &str, attempt: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(name.as_bytes());
    hasher.update(attempt.to_le_bytes());
    let digest = hasher.finalize();
    format!(
        "BC:24:11:{:02X}:{:02X}:{:02X}",
        digest[0], digest[1], digest[2]
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn assemble(
    lab: &LabFile,
    expanded: &Expanded,
    placed: &[Option<Placed>],
    load: &crate::placement::Load,
    addresses: &Addresses,
    vm_ids: &[Option<VmId>],
    (templates, template_of): &(Vec<Template>, Vec<Option<usize>>),
) -> Plan {
    let lab_name = lab.name().to_owned();
    let scope = lab.scope().to_owned();
    let defaults = lab.defaults.clone().unwrap_or_default();
    let user = defaults
        .user
        .clone()
        .unwrap_or_else(|| "labform".to_owned());
    let tenant_pool = |tenant: usize| {
        lab.tenants[tenant]
            .pool
            .clone()
            .unwrap_or_else(|| format!("{lab_name}-{}", lab.tenants[tenant].name))
            .into()
    };

    // Images: one download per image and node (or per shared storage) that a template or ISO VM needs.
    let mut images: Vec<PlannedImage> = Vec::new();
    let mut image_index: HashMap<(usize, usize, usize), usize> = HashMap::new();
    let mut ensure_image =
        |images: &mut Vec<PlannedImage>, image: usize, endpoint: usize, node: usize| -> usize {
            let declared_endpoint = &lab.proxmox[endpoint];
            let declared = &lab.images[image];
            let wanted_content: &[StorageContent] = match declared.kind {
                ImageKind::CloudImage => &[StorageContent::Import, StorageContent::Iso],
                ImageKind::Iso => &[StorageContent::Iso],
            };
            let available = |storage: &Storage| {
                storage.nodes.is_empty()
                    || storage.nodes.contains(&declared_endpoint.nodes[node].name)
            };
            let storage = declared
                .storage
                .as_ref()
                .and_then(|name| {
                    declared_endpoint
                        .storages
                        .iter()
                        .position(|s| &s.name == name)
                })
                .or_else(|| {
                    wanted_content.iter().find_map(|content| {
                        declared_endpoint
                            .storages
                            .iter()
                            .position(|s| s.content.contains(content) && available(s))
                    })
                })
                .unwrap_or(0);
            let shared = declared_endpoint.storages[storage].shared;
            let key = (
                image,
                endpoint,
                if shared { usize::MAX - storage } else { node },
            );
            *image_index.entry(key).or_insert_with(|| {
                let file_name = declared.volume_file_name();
                images.push(PlannedImage {
                    name: declared.name.clone(),
                    url: declared.url.clone(),
                    checksum: declared.checksum.clone(),
                    endpoint: declared_endpoint.name.clone().into(),
                    node: declared_endpoint.nodes[node].name.clone().into(),
                    storage: declared_endpoint.storages[storage].name.clone().into(),
                    content: declared.content_type().to_owned(),
                    file_name,
                });
                images.len() - 1
            })
        };

    let mut template_image: Vec<usize> = Vec::new();
    let planned_templates: Vec<PlannedTemplate> = templates
        .iter()
        .map(|template| {
            template_image.push(ensure_image(
                &mut images,
                template.image,
                template.endpoint,
                template.node,
            ));
            let endpoint = &lab.proxmox[template.endpoint];
            let image = &lab.images[template.image];
            let spec = {
                let mut hasher = Sha256::new();
                for part in [
                    &image.url,
                    &image.checksum,
                    &endpoint.nodes[template.node].name,
                    &endpoint.storages[template.storage].name,
                ] {
                    hasher.update(part.as_bytes());
                    hasher.update([0]);
                }
                hasher.finalize()[..8]
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect()
            };
            PlannedTemplate {
                name: template.name.clone(),
                key: template.key.clone(),
                spec,
                vm_id: template.vm_id,
                image: lab.images[template.image].name.clone(),
                endpoint: endpoint.name.clone().into(),
                node: endpoint.nodes[template.node].name.clone().into(),
                storage: endpoint.storages[template.storage].name.clone().into(),
                config: BTreeMap::new(),
            }
        })
        .collect();

    // VMs.
    let mut used_macs: HashMap<String, usize> = HashMap::new();
    let mut vm_image_download: Vec<Option<usize>> = vec![None; expanded.vms.len()];
    let mut vms: Vec<PlannedVm> = Vec::with_capacity(expanded.vms.len());
    for (index, vm) in expanded.vms.iter().enumerate() {
        let place = placed[index]
            .as_ref()
            .expect("placed when there are no errors");
        let endpoint = &lab.proxmox[vm.endpoint];
        let network = &lab.networks[vm.network];
        let instance = vm.instance.map(|i| &expanded.instances[i]);
        let image = vm.image.map(|image| &lab.images[image]);
        if let Some(image_declared) = vm.image
            && lab.images[image_declared].kind == ImageKind::Iso
        {
            vm_image_download[index] = Some(ensure_image(
                &mut images,
                image_declared,
                vm.endpoint,
                place.node,
            ));
        }
        let mut attempt = 0;
        let mut mac = mac_address(&scope, &vm.name, attempt);
        while used_macs.contains_key(&mac) {
            attempt += 1;
            mac = mac_address(&scope, &vm.name, attempt);
        }
        used_macs.insert(mac.clone(), index);
        let address = addresses.vms[index];
        let own_boot = instance.and_then(|instance| {
            match distribution_plan(lab.clusters[instance.cluster].distribution).guest_boot() {
                GuestBoot::CloudInit => None,
                GuestBoot::OwnConfiguration(boot) => Some(boot),
            }
        });
        let cloud =
            image.is_some_and(|image| image.kind == ImageKind::CloudImage) && own_boot.is_none();
        let boot = if let Some(boot) = own_boot {
            boot
        } else if cloud {
            "cloud-init"
        } else {
            "installer"
        };
        let mut packages = vec!["qemu-guest-agent".to_owned()];
        if let Some(instance) = instance {
            for package in lab.clusters[instance.cluster].addons.node_packages() {
                if !packages.iter().any(|present| present == package) {
                    packages.push(package.to_owned());
                }
            }
        }
        let additions = vm.cloud_init.clone().unwrap_or_default();
        for package in defaults.packages.iter().chain(&additions.packages) {
            if !packages.contains(package) {
                packages.push(package.clone());
            }
        }
        let role_tag = match &vm.role {
            Role::Server { .. } => "role-server".to_owned(),
            Role::Agent { .. } => "role-agent".to_owned(),
            Role::Plain { .. } => "role-vm".to_owned(),
        };
        let mut tags = vec![
            "labform".to_owned(),
            format!("lab-{lab_name}"),
            format!("scope-{scope}"),
            role_tag,
        ];
        if let Some(instance) = instance {
            tags.push(format!("cluster-{}", instance.name));
        }
        if let Some(tenant) = vm.tenant {
            tags.push(format!("tenant-{}", lab.tenants[tenant].name));
        }
        vms.push(PlannedVm {
            name: vm.name.clone(),
            vm_id: vm_ids[index].expect("allocated when there are no errors"),
            endpoint: endpoint.name.clone().into(),
            node: endpoint.nodes[place.node].name.clone().into(),
            role: vm.role.label(),
            cluster: instance.map(|instance| instance.name.clone()),
            environment: instance
                .and_then(|instance| instance.environment)
                .map(|environment| lab.environments[environment].name.clone()),
            tenant: vm.tenant.map(|tenant| lab.tenants[tenant].name.clone()),
            pool: vm
                .tenant
                .map(tenant_pool)
                .or_else(|| endpoint.pool.clone().map(PoolName::from)),
            cpu: vm.cpu,
            memory_mib: vm.memory.mebibytes(),
            disks: vm
                .disks
                .iter()
                .zip(&place.storages)
                .enumerate()
                .map(|(slot, (disk, &storage))| PlannedDisk {
                    slot: format!("scsi{slot}"),
                    storage: endpoint.storages[storage].name.clone().into(),
                    size_gib: disk.size.gibibytes(),
                })
                .collect(),
            image: image.map(|image| image.name.clone()),
            template: template_of[index].map(|template| templates[template].vm_id),
            nic: PlannedNic {
                network: network.name.clone(),
                bridge: network.bridge.clone(),
                vlan: network.vlan,
                mac,
                address,
                prefix: network.cidr.prefix_len(),
                gateway: address.map(|_| network.gateway),
                dns: network.dns.clone(),
                domain: network.domain.clone(),
                mtu: network.mtu,
            },
            boot: boot.to_owned(),
            cloud_init: cloud.then(|| CloudInitSummary {
                hostname: vm.name.clone(),
                fqdn: network
                    .domain
                    .as_ref()
                    .map(|domain| format!("{}.{domain}", vm.name)),
                user: user.clone(),
                ssh_keys: defaults.ssh_keys.len(),
                authorized_keys: defaults.ssh_keys.clone(),
                timezone: defaults.timezone.clone(),
                packages,
                pinned_host_keys: true,
                files: additions
                    .files
                    .iter()
                    .map(|file| PlannedFile {
                        path: file.path.clone(),
                        content: file.content.clone(),
                        owner: file.owner.clone().unwrap_or_else(|| "root:root".to_owned()),
                        mode: file.mode.clone().unwrap_or_else(|| "0644".to_owned()),
                    })
                    .collect(),
                commands: additions
                    .commands
                    .iter()
                    .map(|command| match command {
                        GuestCommand::Shell(line) => PlannedCommand::Shell(line.clone()),
                        GuestCommand::Program(arguments) => {
                            PlannedCommand::Program(arguments.clone())
                        }
                    })
                    .collect(),
                user_data: additions
                    .user_data
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            }),
            seed: None,
            tags,
            protected: vm.protected,
            creation: Default::default(),
            spec: String::new(),
        });
        let last = vms.last_mut().expect("just pushed");
        // Cloud-init VMs take their NoCloud seed; Talos nodes take theirs too, with the machine
        // configuration as its user data.
        if last.cloud_init.is_some() || (own_boot == Some("talos") && last.template.is_some()) {
            last.seed = endpoint
                .storages
                .iter()
                .find(|storage| {
                    storage.content.contains(&StorageContent::Iso)
                        && (storage.nodes.is_empty()
                            || storage.nodes.iter().any(|node| last.node == node.as_str()))
                })
                .map(|storage| PlannedSeed {
                    storage: storage.name.clone().into(),
                    file_name: crate::desired::seed_file_name(&scope, last),
                });
        }
        // The spec hash is recorded once every create-time value is known
        // (`desired::settle_creation`, below).
    }

    // Clusters.
    let clusters: Vec<PlannedCluster> = expanded
        .instances
        .iter()
        .enumerate()
        .map(|(index, instance)| {
            plan_cluster(lab, &lab_name, expanded, index, instance, addresses, &vms)
        })
        .collect();

    // Tenants.
    let tenants: Vec<PlannedTenant> = lab
        .tenants
        .iter()
        .enumerate()
        .map(|(tenant_index, tenant)| {
            let owned: Vec<&Instance> = expanded
                .instances
                .iter()
                .filter(|instance| instance.tenant == Some(tenant_index))
                .collect();
            let mut services = Vec::new();
            for access in &tenant.uses {
                for provider in expanded
                    .instances
                    .iter()
                    .filter(|instance| lab.clusters[instance.cluster].name == access.cluster)
                {
                    let same_environment = owned.is_empty()
                        || owned
                            .iter()
                            .any(|instance| instance.environment == provider.environment)
                        || provider.environment.is_none();
                    if !same_environment {
                        continue;
                    }
                    for service in &access.services {
                        services.push(format!("{}@{}", service.as_str(), provider.name));
                    }
                }
            }
            let pool = tenant_pool(tenant_index);
            let endpoint_names: Vec<EndpointName> = lab
                .proxmox
                .iter()
                .map(|endpoint| endpoint.name.as_str().into())
                .collect();
            PlannedTenant {
                name: tenant.name.clone(),
                endpoints: crate::tenancy::tenant_endpoints(&pool, &vms, &endpoint_names),
                pool,
                api_token: crate::tenancy::tenant_token(&scope, &tenant.name),
                clusters: owned.iter().map(|instance| instance.name.clone()).collect(),
                services,
            }
        })
        .collect();

    // Backup jobs: one per cluster instance or plain VM entry with a vzdump policy, and endpoint.
    let mut backup_jobs: Vec<(PlannedBackupJob, Vec<usize>)> = Vec::new();
    let mut add_backup_job = |backups: &Backups, id: String, of: String, members: Vec<usize>| {
        let (Some(schedule), Some(storage)) = (&backups.vzdump_schedule, &backups.storage) else {
            return;
        };
        let mut endpoints: Vec<&EndpointName> = Vec::new();
        for &member in &members {
            if !endpoints.contains(&&vms[member].endpoint) {
                endpoints.push(&vms[member].endpoint);
            }
        }
        for endpoint in endpoints {
            let here: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&member| &vms[member].endpoint == endpoint)
                .collect();
            let mut vm_ids: Vec<VmId> = here.iter().map(|&member| vms[member].vm_id).collect();
            vm_ids.sort();
            backup_jobs.push((
                PlannedBackupJob {
                    id: id.clone(),
                    endpoint: endpoint.clone(),
                    of: of.clone(),
                    schedule: schedule.clone(),
                    storage: storage.as_str().into(),
                    keep: backups.keep.unwrap_or(7),
                    mode: backups.mode.unwrap_or_default().as_str().to_owned(),
                    vm_ids,
                },
                here,
            ));
        }
    };
    for (instance_index, instance) in expanded.instances.iter().enumerate() {
        if let Some(backups) = &lab.clusters[instance.cluster].backups {
            let members = expanded
                .vms
                .iter()
                .enumerate()
                .filter(|(_, vm)| vm.instance == Some(instance_index))
                .map(|(index, _)| index)
                .collect();
            add_backup_job(
                backups,
                crate::backups::cluster_backup_job_id(&scope, &instance.name),
                format!("cluster {}", instance.name),
                members,
            );
        }
    }
    for entry in &lab.vms {
        if let Some(backups) = &entry.backups {
            let members = expanded
                .vms
                .iter()
                .enumerate()
                .filter(|(_, vm)| {
                    vm.instance.is_none()
                        && matches!(vm.role, Role::Plain { .. })
                        && vm.group == entry.name
                })
                .map(|(index, _)| index)
                .collect();
            add_backup_job(
                backups,
                crate::backups::vm_backup_job_id(&scope, &entry.name),
                format!("VM {}", entry.name),
                members,
            );
        }
    }

    // Actions.
    let mut actions: Vec<Action> = Vec::new();
    let push = |actions: &mut Vec<Action>,
                kind: &str,
                target: String,
                reason: String,
                after: Vec<usize>| {
        actions.push(Action {
            id: actions.len(),
            kind: kind.to_owned(),
            target,
            reason,
            after,
        });
        actions.len() - 1
    };
    let new = "not on Proxmox (offline plan: Proxmox not consulted)".to_owned();
    let mut pool_action: BTreeMap<PoolName, usize> = BTreeMap::new();
    for vm in &vms {
        if let Some(pool) = &vm.pool
            && !pool_action.contains_key(pool)
        {
            let id = push(
                &mut actions,
                "create-pool",
                pool.to_string(),
                "resource pool for the lab's VMs".to_owned(),
                vec![],
            );
            pool_action.insert(pool.clone(), id);
        }
    }
    for tenant in &tenants {
        let after = pool_action.get(&tenant.pool).copied().into_iter().collect();
        push(
            &mut actions,
            "create-tenant-token",
            tenant.api_token.clone(),
            format!("API token limited by ACL to pool `{}`", tenant.pool),
            after,
        );
    }
    let image_actions: Vec<usize> = images
        .iter()
        .map(|image| {
            push(
                &mut actions,
                "download-image",
                format!(
                    "{} -> {}:{}/{}",
                    image.name, image.node, image.storage, image.file_name
                ),
                format!("{} ({})", new, image.checksum),
                vec![],
            )
        })
        .collect();
    let template_actions: Vec<usize> = planned_templates
        .iter()
        .zip(&template_image)
        .map(|(template, &image)| {
            push(
                &mut actions,
                "create-template",
                format!(
                    "{} ({}) on {}/{}",
                    template.name, template.vm_id, template.node, template.storage
                ),
                format!(
                    "linked clones of `{}` on this storage need it",
                    template.image
                ),
                vec![image_actions[image]],
            )
        })
        .collect();
    let mut started: Vec<usize> = Vec::with_capacity(vms.len());
    for (index, vm) in vms.iter().enumerate() {
        let mut after: Vec<usize> = vm
            .pool
            .as_ref()
            .and_then(|pool| pool_action.get(pool).copied())
            .into_iter()
            .collect();
        let kind = match (template_of[index], vm_image_download[index]) {
            (Some(template), _) => {
                after.push(template_actions[template]);
                "clone-vm"
            }
            (None, Some(download)) => {
                after.push(image_actions[download]);
                "create-vm"
            }
            (None, None) => "create-vm",
        };
        let created = push(
            &mut actions,
            kind,
            format!("{} ({}) on {}", vm.name, vm.vm_id, vm.node),
            new.clone(),
            after,
        );
        started.push(push(
            &mut actions,
            "start-vm",
            vm.name.clone(),
            "the VM must run to boot cloud-init".to_owned(),
            vec![created],
        ));
    }
    for cluster in &clusters {
        let members: Vec<usize> = vms
            .iter()
            .enumerate()
            .filter(|(_, vm)| vm.cluster.as_deref() == Some(cluster.name.as_str()))
            .map(|(index, _)| started[index])
            .collect();
        let mut previous = push(
            &mut actions,
            "bootstrap-cluster",
            format!(
                "{} ({} {})",
                cluster.name, cluster.distribution, cluster.version
            ),
            if cluster.bootstrap_supported {
                "new cluster".to_owned()
            } else {
                format!(
                    "new cluster; {} bootstrap is not automated yet",
                    cluster.distribution
                )
            },
            members,
        );
        let addons_reason = {
            let distribution = crate::distribution::distribution_plan(cluster.distribution);
            if distribution.bootstrap_automated()
                && !distribution.shared_step_automated(crate::distribution::SharedStep::Addon)
            {
                format!(
                    "add-on in the lab; not automated on {} yet",
                    cluster.distribution
                )
            } else {
                "add-on in the lab".to_owned()
            }
        };
        for addon in &cluster.addons {
            previous = push(
                &mut actions,
                "install-addon",
                format!("{} on {}", addon.name, cluster.name),
                addons_reason.clone(),
                vec![previous],
            );
        }
    }
    for (job, members) in &backup_jobs {
        push(
            &mut actions,
            "create-backup-job",
            format!("{} on {}", job.id, job.endpoint),
            format!(
                "vzdump `{}` of {} to {}, keep {}",
                job.schedule, job.of, job.storage, job.keep
            ),
            members.iter().map(|&member| started[member]).collect(),
        );
    }

    let endpoints = lab
        .proxmox
        .iter()
        .zip(&load.nodes)
        .map(|(endpoint, nodes)| PlannedEndpoint {
            name: endpoint.name.clone().into(),
            url: endpoint.endpoint.clone(),
            nodes: endpoint
                .nodes
                .iter()
                .zip(nodes)
                .map(|(node, usage)| NodeLoad {
                    name: node.name.clone().into(),
                    cpu_used: usage.cpu_used,
                    cpu_capacity: usage.cpu_capacity,
                    memory_used_mib: usage.memory_used >> 20,
                    memory_capacity_mib: usage.memory_capacity >> 20,
                    vms: usage.vms,
                })
                .collect(),
        })
        .collect();
    let summary = Summary {
        vms: vms.len(),
        clusters: clusters.len(),
        templates: planned_templates.len(),
        images: images.len(),
        cpu: vms.iter().map(|vm| u64::from(vm.cpu)).sum(),
        memory_mib: vms.iter().map(|vm| vm.memory_mib).sum(),
        disk_gib: vms
            .iter()
            .flat_map(|vm| vm.disks.iter())
            .map(|disk| disk.size_gib)
            .sum(),
    };
    let planned_templates =
        crate::desired::settle_creation(&lab_name, &scope, &mut vms, planned_templates, &images);
    Plan {
        lab: lab_name,
        scope,
        endpoints,
        images,
        templates: planned_templates,
        vms,
        clusters,
        tenants,
        backup_jobs: backup_jobs.into_iter().map(|(job, _)| job).collect(),
        actions,
        summary,
    }
}
