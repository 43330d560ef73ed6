//! The `networks` section: subnets, gateways, VLANs and address pools (overlaps, pools inside
//! their subnet, purposes), and the lookups and pool references other sections use.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn networks(&mut self) {
        let networks = &self.lab.networks;
        for network in networks {
            let at = &network.source;
            self.dns_name(&at.at("name"), "network", &network.name);
            let cidr = network.cidr;
            if cidr.trunc() != cidr {
                self.push(
                    Diagnostic::error(
                        "cidr-host-bits",
                        &at.at("cidr"),
                        format!("`{cidr}` has host bits set"),
                    )
                    .hint(format!("the network is `{}`", cidr.trunc())),
                );
            }
            let subnet = cidr.trunc();
            if cidr.prefix_len() > 30 {
                self.push(
                    Diagnostic::error(
                        "subnet-too-small",
                        &at.at("cidr"),
                        format!("`{cidr}` leaves no room for VMs"),
                    )
                    .hint("use a /30 or larger subnet"),
                );
            }
            self.address_in_subnet(&at.at("gateway"), "gateway", network.gateway, &subnet);
            if let Some(vlan) = network.vlan
                && !(1..=4094).contains(&vlan)
            {
                self.push(
                    Diagnostic::error(
                        "invalid-vlan",
                        &at.at("vlan"),
                        format!("VLAN {vlan} does not exist"),
                    )
                    .hint("802.1Q VLAN tags run from 1 to 4094"),
                );
            }
            if let Some(mtu) = network.mtu
                && !(576..=9216).contains(&mtu)
            {
                self.push(
                    Diagnostic::error(
                        "invalid-mtu",
                        &at.at("mtu"),
                        format!("MTU {mtu} is out of range"),
                    )
                    .hint("use 1500, or up to 9000 for jumbo frames"),
                );
            }
            if !is_dns_label(&network.bridge.replace('.', "-")) {
                self.push(
                    Diagnostic::error(
                        "invalid-bridge",
                        &at.at("bridge"),
                        format!("`{}` is not a Linux bridge name", network.bridge),
                    )
                    .hint("Proxmox bridges are named like `vmbr0`"),
                );
            }
            for (index, pool) in network.pools.iter().enumerate() {
                let pool_at = at.at("pools").index(index);
                self.dns_name(&pool_at.at("name"), "pool", &pool.name);
                if !pool.range.within(&subnet) {
                    self.push(
                        Diagnostic::error(
                            "pool-outside-subnet",
                            &pool_at.at("range"),
                            format!(
                                "pool `{}` ({}) is not inside {subnet}",
                                pool.name, pool.range
                            ),
                        )
                        .hint(format!(
                            "choose addresses between {} and {}",
                            first_host(&subnet),
                            last_host(&subnet)
                        )),
                    );
                    continue;
                }
                if pool.range.contains(network.gateway) {
                    self.push(
                        Diagnostic::error(
                            "pool-contains-gateway",
                            &pool_at.at("range"),
                            format!(
                                "pool `{}` contains the gateway {}",
                                pool.name, network.gateway
                            ),
                        )
                        .hint("start the pool after the gateway's address"),
                    );
                }
                if pool.range.contains(subnet.network()) || pool.range.contains(subnet.broadcast())
                {
                    self.push(
                        Diagnostic::error(
                            "pool-contains-reserved",
                            &pool_at.at("range"),
                            format!(
                                "pool `{}` contains the network or broadcast address of {subnet}",
                                pool.name
                            ),
                        )
                        .hint(format!(
                            "use addresses between {} and {}",
                            first_host(&subnet),
                            last_host(&subnet)
                        )),
                    );
                }
                for (other_index, other) in network.pools.iter().enumerate().take(index) {
                    if pool.range.overlaps(&other.range) {
                        self.push(
                            Diagnostic::error(
                                "pool-overlap",
                                &pool_at.at("range"),
                                format!(
                                    "pool `{}` ({}) overlaps pool `{}` ({})",
                                    pool.name, pool.range, other.name, other.range
                                ),
                            )
                            .note(format!(
                                "`{}` is at networks.pools[{other_index}]",
                                other.name
                            ))
                            .hint("pools of one network must not share addresses"),
                        );
                    }
                }
            }
        }
        for (index, network) in networks.iter().enumerate() {
            for other in networks.iter().take(index) {
                if network.cidr.trunc().contains(&other.cidr.trunc().network())
                    || other.cidr.trunc().contains(&network.cidr.trunc().network())
                {
                    self.push(
                        Diagnostic::error(
                            "cidr-overlap",
                            &network.source.at("cidr"),
                            format!(
                                "network `{}` ({}) overlaps network `{}` ({})",
                                network.name, network.cidr, other.name, other.cidr
                            ),
                        )
                        .hint("give each network its own subnet"),
                    );
                }
            }
        }
    }

    pub(super) fn address_in_subnet(
        &mut self,
        at: &Source,
        what: &str,
        address: Ipv4Addr,
        subnet: &Ipv4Net,
    ) {
        if !subnet.contains(&address) {
            self.push(
                Diagnostic::error(
                    "address-outside-subnet",
                    at,
                    format!("{what} {address} is not inside {subnet}"),
                )
                .hint(format!(
                    "choose an address between {} and {}",
                    first_host(subnet),
                    last_host(subnet)
                )),
            );
        } else if address == subnet.network() || address == subnet.broadcast() {
            self.push(
                Diagnostic::error(
                    "reserved-address",
                    at,
                    format!("{what} {address} is the network or broadcast address of {subnet}"),
                )
                .hint(format!(
                    "choose an address between {} and {}",
                    first_host(subnet),
                    last_host(subnet)
                )),
            );
        }
    }

    pub(super) fn network(&self, name: &str) -> Option<&'a Network> {
        self.lab
            .networks
            .iter()
            .find(|network| network.name == name)
    }

    pub(super) fn network_names(&self) -> Vec<&'a str> {
        self.lab.networks.iter().map(|n| n.name.as_str()).collect()
    }

    /// Checks a pool reference of `purpose` on `network`.
    pub(super) fn pool_reference(
        &mut self,
        at: &Source,
        network: &Network,
        pool: &str,
        purpose: PoolPurpose,
    ) {
        match network
            .pools
            .iter()
            .find(|candidate| candidate.name == pool)
        {
            None => {
                let known: Vec<&str> = network
                    .pools
                    .iter()
                    .filter(|p| p.purpose == purpose)
                    .map(|p| p.name.as_str())
                    .collect();
                let hint = match did_you_mean(pool, known.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None if known.is_empty() => format!(
                        "add a pool with `purpose: {}` to network `{}`",
                        purpose.as_str(),
                        network.name
                    ),
                    None => format!(
                        "pools of `{}` for {}: {}",
                        network.name,
                        purpose.as_str(),
                        known.join(", ")
                    ),
                };
                self.push(
                    Diagnostic::error(
                        "unknown-reference",
                        at,
                        format!("network `{}` has no pool `{pool}`", network.name),
                    )
                    .hint(hint),
                );
            }
            Some(found) if found.purpose != purpose => self.push(
                Diagnostic::error(
                    "pool-purpose",
                    at,
                    format!(
                        "pool `{pool}` is for {}, not {}",
                        found.purpose.as_str(),
                        purpose.as_str()
                    ),
                )
                .hint(format!("use a pool with `purpose: {}`", purpose.as_str())),
            ),
            Some(_) => {}
        }
    }
}
