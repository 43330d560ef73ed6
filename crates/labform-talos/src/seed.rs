//! The nocloud seed of a Talos node: the machine configuration as `user-data` (no
//! `#cloud-config` header: Talos ignores a file starting with one and waits in maintenance
//! mode), `meta-data` with the host name and an instance ID, and a version 1 `network-config`
//! (the node's static address on the NIC with its planned MAC, as Talos's nocloud guide writes
//! it), on the ISO 9660 image with the volume ID `cidata` that labform already writes for
//! cloud-init VMs ([`labform_cloudinit::nocloud_iso`]). The network-config gives a node its
//! address even before its configuration is applied (maintenance mode).

use labform_planner::plan::PlannedVm;
use labform_secrets::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::machine_config::NodeConfiguration;

/// A Talos node's seed files.
pub struct TalosSeed {
    /// `user-data`: the machine configuration, with its secrets.
    pub user_data: SecretString,
    /// `meta-data`.
    pub meta_data: String,
    /// `network-config` (version 1).
    pub network_config: String,
}

impl std::fmt::Debug for TalosSeed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TalosSeed")
            .field("meta_data", &self.meta_data)
            .field("network_config", &self.network_config)
            .finish_non_exhaustive()
    }
}

impl TalosSeed {
    /// The seed of `vm` (a node of a Talos cluster of `scope`) carrying `configuration`.
    pub fn new(scope: &str, vm: &PlannedVm, configuration: &NodeConfiguration) -> Self {
        let network_config = network_config(vm);
        let review = configuration.for_review();
        let mut hasher = Sha256::new();
        for part in [
            scope,
            &vm.vm_id.to_string(),
            &vm.name,
            &review,
            &network_config,
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let hash: String = hasher.finalize()[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        TalosSeed {
            user_data: configuration.for_node(),
            meta_data: format!(
                "instance-id: labform-{scope}-{vm_id}-{hash}\nlocal-hostname: {name}\n",
                vm_id = vm.vm_id,
                name = vm.name,
            ),
            network_config,
        }
    }

    /// The ISO image. It holds the configuration's secrets: hand it only to the Proxmox upload.
    pub fn iso(&self) -> Vec<u8> {
        labform_cloudinit::nocloud_iso(
            self.user_data.expose_secret().as_bytes(),
            &self.meta_data,
            &self.network_config,
        )
    }
}

/// The version 1 network-config of `vm`: its NIC by MAC with its static address, netmask and
/// gateway, and its name servers.
pub fn network_config(vm: &PlannedVm) -> String {
    let nic = &vm.nic;
    let mut text = format!(
        "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    mac_address: \"{}\"\n",
        nic.mac.to_ascii_lowercase()
    );
    if let Some(mtu) = nic.mtu {
        text.push_str(&format!("    mtu: {mtu}\n"));
    }
    match nic.address {
        Some(address) => {
            let mask = if nic.prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(nic.prefix.min(32)))
            };
            text.push_str(&format!(
                "    subnets:\n      - type: static\n        address: {address}\n        netmask: {}\n",
                std::net::Ipv4Addr::from(mask)
            ));
            if let Some(gateway) = nic.gateway {
                text.push_str(&format!("        gateway: {gateway}\n"));
            }
        }
        None => text.push_str("    subnets:\n      - type: dhcp\n"),
    }
    if !nic.dns.is_empty() {
        let servers: Vec<String> = nic.dns.iter().map(ToString::to_string).collect();
        text.push_str(&format!(
            "  - type: nameserver\n    address: [{}]\n",
            servers.join(", ")
        ));
        if let Some(domain) = &nic.domain {
            text.push_str(&format!("    search: [{domain}]\n"));
        }
    }
    text
}

/// The seeds of a plan's Talos nodes, for apply ([`labform_cloudinit::SeedSource`]): each
/// cluster's secrets bundle from labform's store (made on first use), its configurations
/// rendered once, each node's seed from them.
pub struct TalosSeeds<'a> {
    plan: &'a labform_planner::Plan,
    store: &'a labform_secrets::SecretStore,
    rendered: std::sync::Mutex<
        std::collections::HashMap<String, Vec<crate::machine_config::NodeConfiguration>>,
    >,
}

impl std::fmt::Debug for TalosSeeds<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TalosSeeds")
            .field("scope", &self.plan.scope)
            .finish_non_exhaustive()
    }
}

impl<'a> TalosSeeds<'a> {
    /// Seeds of `plan`'s Talos nodes, with secrets from `store`.
    pub fn new(plan: &'a labform_planner::Plan, store: &'a labform_secrets::SecretStore) -> Self {
        TalosSeeds {
            plan,
            store,
            rendered: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The seed of `vm`, a node of one of the plan's Talos clusters.
    pub fn seed(&self, vm: &PlannedVm) -> Result<TalosSeed, crate::TalosError> {
        let cluster = self
            .plan
            .clusters
            .iter()
            .find(|cluster| Some(&cluster.name) == vm.cluster.as_ref())
            .ok_or_else(|| crate::TalosError::MissingVm {
                cluster: vm.cluster.clone().unwrap_or_default(),
                node: vm.name.clone(),
            })?;
        let mut rendered = self.rendered.lock().expect("not poisoned");
        if !rendered.contains_key(&cluster.name) {
            let bundle = crate::SecretsBundle::load_or_generate(
                self.store,
                &self.plan.scope,
                &cluster.name,
            )?;
            let configurations = crate::cluster_configurations(
                self.plan,
                cluster,
                crate::SecretsSource::Bundle(&bundle),
            )?;
            rendered.insert(cluster.name.clone(), configurations);
        }
        let configuration = rendered[&cluster.name]
            .iter()
            .find(|configuration| configuration.vm == vm.name)
            .ok_or_else(|| crate::TalosError::MissingVm {
                cluster: cluster.name.clone(),
                node: vm.name.clone(),
            })?;
        Ok(TalosSeed::new(&self.plan.scope, vm, configuration))
    }
}

impl labform_cloudinit::SeedSource for TalosSeeds<'_> {
    fn seed_files(
        &self,
        vm: &PlannedVm,
    ) -> Result<labform_cloudinit::SeedFiles, labform_cloudinit::CloudInitError> {
        let seed =
            self.seed(vm)
                .map_err(|error| labform_cloudinit::CloudInitError::Distribution {
                    vm: vm.name.clone(),
                    message: error.to_string(),
                })?;
        Ok(labform_cloudinit::SeedFiles {
            user_data: seed.user_data,
            meta_data: seed.meta_data,
            network_config: seed.network_config,
            host_key: None,
        })
    }
}
