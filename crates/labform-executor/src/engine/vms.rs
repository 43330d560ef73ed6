//! A VM's life cycle: create (or clone from its template) with a pending ownership block,
//! configure, grow disks, record the spec hash last, start and wait for the guest agent; update in
//! place; delete (with its seed images).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use labform_ids::{NodeName, VmId};
use labform_planner::desired::{MANAGED_KEYS, create_config, desired_config};
use labform_planner::ownership::Owner;
use labform_planner::ownership::without_spec_tag;
use labform_planner::plan::{CloneMode, PlannedVm};
use labform_planner::reconcile::{Effect, FieldChange};
use labform_proxmox::ErrorKind;
use labform_proxmox::types::{
    CloneVm, ConfigUpdate, CreateVm, DeleteVm, GuestInterface, ResizeDisk, VmAction as Power,
    encode_sshkeys,
};

use super::{PENDING_SPEC, RebootPolicy, Run, StepError};
use crate::discover::drive_size_gib;

impl Run {
    /// The ownership block of `vm` with spec `spec`; a cluster's node also records the
    /// cluster's API VIP and load-balancer block, for labs in other scopes to avoid.
    fn owner(&self, vm: &PlannedVm, spec: &str) -> Owner {
        let cluster = vm.cluster.as_deref().and_then(|instance| {
            self.plan
                .clusters
                .iter()
                .find(|cluster| cluster.name == instance)
        });
        Owner {
            lab: self.plan.lab.clone(),
            scope: self.plan.scope.clone(),
            cluster: vm.cluster.clone(),
            role: vm.role.clone(),
            key: labform_planner::AllocationKey::vm(&vm.name),
            image: vm.image.clone(),
            spec: spec.to_owned(),
            api_vip: cluster
                .filter(|cluster| cluster.api_vip)
                .map(|cluster| cluster.api_address),
            load_balancers: cluster.and_then(|cluster| cluster.load_balancer_addresses()),
        }
    }

    /// How steps name `vm`.
    fn target(vm: &PlannedVm) -> String {
        format!("{} ({}) on {}", vm.name, vm.vm_id, vm.node)
    }

    /// Creates `vm` and brings it up.
    pub(super) async fn create(&self, vm: &PlannedVm) -> Result<(), StepError> {
        let api = self.api(&vm.endpoint);
        let node = vm.node.clone();
        let target = Self::target(vm);
        let pending_owner = self.owner(vm, PENDING_SPEC).block();
        // A seed that cannot be rendered fails the job before anything is made.
        if let Some(Err(reason)) = self.rendered_seed(vm) {
            return Err(reason.clone());
        }
        match vm.template {
            Some(template_id) => {
                let index = self
                    .template_index(&vm.endpoint, template_id)
                    .ok_or_else(|| {
                        StepError::Plan(format!("template {template_id} is not in the plan"))
                    })?;
                self.ensure_template(index).await?;
                let template = &self.plan.templates[index];
                let template_node = template.node.clone();
                let mut request = CloneVm::new(vm.vm_id);
                request.name = Some(vm.name.clone());
                request.full = Some(vm.creation.clone_mode == Some(CloneMode::Full));
                request.description = Some(pending_owner);
                request.pool = vm.pool.as_ref().map(ToString::to_string);
                if template.node != vm.node {
                    request.target = Some(vm.node.to_string());
                }
                let _permit = self
                    .storage_permit(format!(
                        "{}/{}/{}",
                        template.endpoint, template.node, template.storage
                    ))
                    .await;
                self.step("clone-vm", &target, api.as_ref(), || async {
                    api.clone_vm(&template_node, template.vm_id, &request)
                        .await
                        .map(Some)
                })
                .await?;
            }
            None => {
                let mut request = CreateVm::new(vm.vm_id)
                    .with("name", &vm.name)
                    .with("description", pending_owner);
                request.pool = vm.pool.as_ref().map(ToString::to_string);
                for disk in &vm.disks {
                    request = request.with(
                        disk.slot.clone(),
                        format!("{}:{}", disk.storage, disk.size_gib),
                    );
                }
                for (key, value) in create_config(vm) {
                    request = request.with(key, value);
                }
                if vm.creation.installer.is_some()
                    && let Some(image) = &vm.image
                {
                    // The installer ISO the plan attaches is downloaded first.
                    let index = self
                        .image_for(&vm.endpoint, image, &vm.node)
                        .ok_or_else(|| {
                            StepError::Plan(format!("no download planned for image `{image}`"))
                        })?;
                    self.ensure_image(index).await?;
                }
                self.step("create-vm", &target, api.as_ref(), || async {
                    api.create_vm(&node, &request).await.map(Some)
                })
                .await?;
            }
        }
        self.upload_seed(vm, &node).await?;
        self.configure(vm, &node, None).await?;
        self.remove_stale_seeds(vm, &node, None).await?;
        self.grow_disks(vm, &node).await?;
        self.seal(vm, &node).await?;
        self.power(vm, node.as_ref(), Power::Start).await?;
        self.wait_for_agent(vm, node.as_ref()).await
    }

    /// Writes the managed config (all of it, or only `fields`) and allocates missing disks. The
    /// ownership block keeps its spec, and the tags carry no spec tag, until [`Run::seal`] runs,
    /// last, so an apply killed in between is finished by the next one, never mistaken for drift
    /// nor trusted by a plan without refresh.
    pub(super) async fn configure(
        &self,
        vm: &PlannedVm,
        node: &NodeName,
        fields: Option<&[String]>,
    ) -> Result<(), StepError> {
        let api = self.api(&vm.endpoint);
        let desired = desired_config(vm);
        let mut update = ConfigUpdate::new();
        let wanted =
            |key: &str| fields.is_none_or(|fields| fields.iter().any(|field| field == key));
        for (key, value) in &desired {
            if !wanted(key) {
                continue;
            }
            if *key == "sshkeys" {
                update = update.set("sshkeys", encode_sshkeys(value));
            } else if *key == "tags" {
                // The spec tag is written by `seal`, with the ownership block.
                update = update.set("tags", without_spec_tag(value));
            } else {
                update = update.set(*key, value);
            }
        }
        if let Some(fields) = fields {
            for field in fields {
                if !desired.contains_key(field.as_str()) && MANAGED_KEYS.contains(&field.as_str()) {
                    update = update.delete(field.clone());
                }
            }
        }
        let api_ref = api.as_ref();
        let current = self
            .retry_call("read the config", || api.vm_config(node, vm.vm_id, false))
            .await?;
        for disk in &vm.disks {
            if !current.values.contains_key(&disk.slot) {
                update = update.set(
                    disk.slot.clone(),
                    format!("{}:{}", disk.storage, disk.size_gib),
                );
            }
        }
        if update.set.is_empty() && update.delete.is_empty() {
            return Ok(());
        }
        self.step("configure-vm", &Self::target(vm), api_ref, || async {
            api.update_vm_config(node, vm.vm_id, &update)
                .await
                .map(Some)
        })
        .await
    }

    /// Writes the final ownership block (the spec hash of what was just applied) and, in the same
    /// update, the tags with the spec tag: the VM is done.
    pub(super) async fn seal(&self, vm: &PlannedVm, node: &NodeName) -> Result<(), StepError> {
        let api = self.api(&vm.endpoint);
        let description = self
            .owner(vm, &vm.spec)
            .write_into(&self.current_description(vm, node).await?);
        let mut update = ConfigUpdate::new().set("description", description);
        if let Some(tags) = desired_config(vm).remove("tags") {
            update = update.set("tags", tags);
        }
        self.step("record-spec", &Self::target(vm), api.as_ref(), || async {
            api.update_vm_config_sync(node, vm.vm_id, &update)
                .await
                .map(|()| None)
        })
        .await
    }

    pub(super) async fn current_description(
        &self,
        vm: &PlannedVm,
        node: &NodeName,
    ) -> Result<String, StepError> {
        let api = self.api(&vm.endpoint);
        let config = self
            .retry_call("read the config", || api.vm_config(node, vm.vm_id, false))
            .await?;
        Ok(config
            .values
            .get("description")
            .cloned()
            .unwrap_or_default())
    }

    /// Grows disks to their planned size and adds missing ones.
    pub(super) async fn grow_disks(
        &self,
        vm: &PlannedVm,
        node: &NodeName,
    ) -> Result<(), StepError> {
        let api = self.api(&vm.endpoint);
        let config = self
            .retry_call("read the config", || api.vm_config(node, vm.vm_id, true))
            .await?;
        for disk in &vm.disks {
            match config.values.get(&disk.slot) {
                Some(value) => {
                    let current = drive_size_gib(value).unwrap_or(0);
                    if current < disk.size_gib {
                        let request = ResizeDisk {
                            disk: disk.slot.clone(),
                            size: format!("{}G", disk.size_gib),
                            digest: None,
                        };
                        self.step(
                            "resize-disk",
                            &format!("{} {} to {}G", vm.name, disk.slot, disk.size_gib),
                            api.as_ref(),
                            || async { api.resize_disk(node, vm.vm_id, &request).await.map(Some) },
                        )
                        .await?;
                    }
                }
                None => {
                    let update = ConfigUpdate::new().set(
                        disk.slot.clone(),
                        format!("{}:{}", disk.storage, disk.size_gib),
                    );
                    self.step(
                        "add-disk",
                        &format!(
                            "{} {} ({}G on {})",
                            vm.name, disk.slot, disk.size_gib, disk.storage
                        ),
                        api.as_ref(),
                        || async {
                            api.update_vm_config(node, vm.vm_id, &update)
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

    pub(super) async fn power(
        &self,
        vm: &PlannedVm,
        node: &str,
        action: Power,
    ) -> Result<(), StepError> {
        let api = self.api(&vm.endpoint);
        let node = NodeName::new(node);
        let kind = match action {
            Power::Start => "start-vm",
            Power::Stop => "stop-vm",
            Power::Shutdown => "shutdown-vm",
            Power::Reboot => "reboot-vm",
        };
        // Starting what already runs (a killed run's start that finished meanwhile) is done.
        let done_when = (action == Power::Start).then_some(ErrorKind::AlreadyRunning);
        self.step_tolerating(kind, &vm.name, api.as_ref(), done_when, || async {
            api.vm_action(&node, vm.vm_id, action).await.map(Some)
        })
        .await
    }

    pub(super) async fn wait_for_agent(&self, vm: &PlannedVm, node: &str) -> Result<(), StepError> {
        let (Some(timeout), Some(address), Some(_)) = (
            self.options.agent_timeout,
            vm.nic.address,
            vm.cloud_init.as_ref(),
        ) else {
            return Ok(());
        };
        let api = self.api(&vm.endpoint);
        let node = NodeName::new(node);
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(250);
        self.step(
            "wait-for-agent",
            &format!("{} at {address}", vm.name),
            api.as_ref(),
            || {
                let api = Arc::clone(&api);
                let node = node.clone();
                async move {
                    loop {
                        if let Ok(interfaces) = api.agent_network_interfaces(&node, vm.vm_id).await
                            && reports(&interfaces, address)
                        {
                            return Ok(None);
                        }
                        if Instant::now() >= deadline {
                            return Err(labform_proxmox::Error::Config(format!(
                                "the guest agent of `{}` did not report {address} within {} s",
                                vm.name,
                                timeout.as_secs()
                            )));
                        }
                        tokio::time::sleep(interval).await;
                        interval = (interval * 2).min(Duration::from_secs(5));
                    }
                }
            },
        )
        .await
    }

    pub(super) async fn update(
        &self,
        vm: &PlannedVm,
        changes: &[FieldChange],
    ) -> Result<(), StepError> {
        let node_name = self.current_node(vm).await?;
        let node = NodeName::new(node_name.clone());
        let fields: Vec<String> = changes
            .iter()
            .filter(|change| MANAGED_KEYS.contains(&change.field.as_str()))
            .map(|change| change.field.clone())
            .collect();
        let seed_change = changes.iter().find(|change| change.field == "ide2");
        if seed_change.is_some() {
            self.upload_seed(vm, &node).await?;
        }
        self.configure(vm, &node, Some(&fields)).await?;
        if vm.seed.is_some() {
            // After the switch: the old seed image (and any a stopped run left) goes.
            self.remove_stale_seeds(
                vm,
                &node,
                seed_change.and_then(|change| change.observed.as_deref()),
            )
            .await?;
        }
        if changes
            .iter()
            .any(|change| change.field.starts_with("scsi"))
        {
            self.grow_disks(vm, &node).await?;
        }
        self.seal(vm, &node).await?;
        let api = self.api(&vm.endpoint);
        let status = self
            .retry_call("read the VM's status", || api.vm_status(&node, vm.vm_id))
            .await?;
        let running = status.status == "running";
        let needs_boot = changes
            .iter()
            .any(|change| change.effect == Effect::NextBoot);
        if !running {
            self.power(vm, &node_name, Power::Start).await?;
        } else if needs_boot {
            match self.options.reboot {
                RebootPolicy::IfNeeded => self.power(vm, &node_name, Power::Reboot).await?,
                RebootPolicy::Never => self
                    .pending_reboot
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(vm.name.clone()),
            }
        }
        Ok(())
    }

    pub(super) async fn delete(
        &self,
        endpoint: &str,
        node: &str,
        vm_id: VmId,
        name: &str,
    ) -> Result<(), StepError> {
        let api = self.api(endpoint);
        let node = NodeName::new(node);
        let status = self
            .retry_call("read the VM's status", || api.vm_status(&node, vm_id))
            .await?;
        if status.status == "running" {
            self.step("stop-vm", name, api.as_ref(), || async {
                api.vm_action(&node, vm_id, Power::Stop).await.map(Some)
            })
            .await?;
        }
        let options = DeleteVm {
            purge: true,
            destroy_unreferenced_disks: true,
        };
        self.step(
            "delete-vm",
            &format!("{name} ({vm_id})"),
            api.as_ref(),
            || async { api.delete_vm(&node, vm_id, options).await.map(Some) },
        )
        .await?;
        self.delete_seeds(api.as_ref(), &node, vm_id, None).await
    }
}

/// Whether the guest agent reports `address` on one of `interfaces`.
fn reports(interfaces: &[GuestInterface], address: Ipv4Addr) -> bool {
    let wanted = address.to_string();
    interfaces.iter().any(|interface| {
        interface
            .ip_addresses
            .iter()
            .flatten()
            .any(|ip| ip.address == wanted)
    })
}
