//! The `vms` section: plain VMs outside clusters.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn plain_vm(&mut self, vm: &PlainVm) {
        let at = &vm.source;
        self.dns_name(&at.at("name"), "VM", &vm.name);
        if vm.count == 0 {
            self.push(
                Diagnostic::warning(
                    "empty-group",
                    &at.at("count"),
                    format!("`count: 0` creates no `{}`", vm.name),
                )
                .hint("remove the VM or raise its count"),
            );
        }
        self.sizes(at, vm.cpu, vm.memory);
        self.image_reference(at, vm.image.as_ref(), false);
        self.placement(&at.at("placement"), &vm.placement, vm.count);
        self.disks(&at.at("disks"), &vm.disks, &vm.placement);
        let network = if self.reference(
            &at.at("network"),
            "network",
            &vm.network,
            self.network_names(),
        ) {
            self.network(&vm.network)
        } else {
            None
        };
        if let Some(network) = network {
            match &vm.address {
                Some(VmAddress::Static(address)) => {
                    let subnet = network.cidr.trunc();
                    self.address_in_subnet(&at.at("address.static"), "address", *address, &subnet);
                    if vm.count > 1 {
                        self.push(
                            Diagnostic::error(
                                "static-address-count",
                                &at.at("address"),
                                format!("{} VMs cannot share one static address", vm.count),
                            )
                            .hint("use `address: {pool: ...}` or `count: 1`"),
                        );
                    }
                    if *address == network.gateway {
                        self.push(
                            Diagnostic::error(
                                "address-conflict",
                                &at.at("address.static"),
                                format!("{address} is the gateway"),
                            )
                            .hint("choose another address"),
                        );
                    }
                    for pool in &network.pools {
                        if pool.range.contains(*address) {
                            self.push(
                                Diagnostic::error("address-in-pool", &at.at("address.static"), format!("static address {address} lies in pool `{}` ({})", pool.name, pool.range))
                                    .hint("labform may hand pool addresses to other VMs; use an address outside every pool, or `address: {pool: ...}`"),
                            );
                        }
                    }
                }
                Some(VmAddress::Pool(pool)) => {
                    self.pool_reference(&at.at("address.pool"), network, pool, PoolPurpose::Nodes)
                }
                Some(VmAddress::Dhcp) => {}
                None => {
                    if !network
                        .pools
                        .iter()
                        .any(|p| p.purpose == PoolPurpose::Nodes)
                    {
                        self.push(
                            Diagnostic::error("no-node-pool", &at.at("network"), format!("network `{}` has no pool for node addresses", network.name))
                                .hint("add a `purpose: nodes` pool, or give the VM `address: {static: ...}`"),
                        );
                    }
                }
            }
        }
        if let Some(tenant) = &vm.tenant {
            let known: Vec<&str> = self.lab.tenants.iter().map(|t| t.name.as_str()).collect();
            self.reference(&at.at("tenant"), "tenant", tenant, known.iter().copied());
        }
        if let Some(additions) = &vm.cloud_init {
            self.cloud_init_additions(&at.at("cloud_init"), additions);
        }
        if let Some(backups) = &vm.backups {
            self.backups(&at.at("backups"), backups, false);
        }
    }
}
