//! MetalLB: LoadBalancer addresses from a `load-balancers` pool of the cluster's network, in
//! layer 2 (ARP). The planner gives each cluster instance a block of the pool, which the plan
//! carries in [`PlannedMetallb`] beside the options; services may have dedicated addresses,
//! kept out of the shared pool and limited to their namespace.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::{AddressBlock, CheckContext, ClusterFacts};
use crate::output::{AddonError, Chart, Manifests};
use crate::problem::{Problem, ProblemPath};
use crate::registry::{Addon, AddonDecisions, AddonRendering, Addons, PlannedForm};

/// The chart version when the lab names none.
pub const DEFAULT_VERSION: &str = "0.14.9";

/// How many addresses of the pool a cluster instance gets when the lab does not say.
pub const DEFAULT_ADDRESSES: u32 = 8;

/// A LoadBalancer address for one named service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservedAddress {
    /// The service (`namespace/name`).
    pub service: String,
    /// The address; must lie in the MetalLB block of this cluster.
    pub address: std::net::Ipv4Addr,
}

/// MetalLB options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metallb {
    /// A `load-balancers` pool of the cluster's network.
    pub pool: String,
    /// How many addresses of the pool this cluster (per environment) gets (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<u32>,
    /// Dedicated addresses for named services (seed 002: one IP per service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved: Vec<ReservedAddress>,
    /// Chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Metallb {
    /// How many addresses of the pool a cluster instance gets.
    pub fn address_count(&self) -> u32 {
        self.addresses.unwrap_or(DEFAULT_ADDRESSES)
    }

    /// The address reserved for `service` (`namespace/name`), if any.
    pub fn reserved_for(&self, service: &str) -> Option<Ipv4Addr> {
        self.reserved
            .iter()
            .find(|reservation| reservation.service == service)
            .map(|reservation| reservation.address)
    }
}

impl Addon for Metallb {
    fn namespace(&self) -> Option<&'static str> {
        Some("metallb-system")
    }

    fn provides_load_balancers(&self) -> bool {
        true
    }

    fn load_balancer_pool(&self) -> Option<&str> {
        Some(&self.pool)
    }

    fn check(&self, at: &ProblemPath, context: &CheckContext<'_>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let Some(pool) = context
            .pools
            .and_then(|pools| pools.iter().find(|pool| pool.name == self.pool))
        else {
            return problems;
        };
        if self.address_count() == 0 {
            problems.push(
                Problem::new(
                    "invalid-size",
                    at.at("addresses"),
                    "MetalLB needs at least one address",
                )
                .hint("set `addresses: 1` or more"),
            );
        }
        for (index, reserved) in self.reserved.iter().enumerate() {
            if !pool.contains(reserved.address) {
                problems.push(
                    Problem::new(
                        "address-outside-pool",
                        at.at("reserved").index(index).at("address"),
                        format!(
                            "{} is not in pool `{}` ({}-{})",
                            reserved.address, pool.name, pool.first, pool.last
                        ),
                    )
                    .hint("dedicated service addresses come from the MetalLB pool"),
                );
            }
        }
        problems
    }
}

/// MetalLB as the plan carries it: the options and the block of the pool the planner gave the
/// cluster instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedMetallb {
    /// The options as the lab file writes them.
    #[serde(flatten)]
    pub options: Metallb,
    /// The instance's addresses of the pool.
    pub block: AddressBlock,
}

impl PlannedForm for PlannedMetallb {
    type Options = Metallb;

    fn plan(options: &Metallb, decisions: &AddonDecisions) -> Option<Self> {
        Some(PlannedMetallb {
            options: options.clone(),
            block: decisions.load_balancer_block?,
        })
    }

    fn options(&self) -> &Metallb {
        &self.options
    }
}

impl AddonRendering for PlannedMetallb {
    fn plan_line(&self, _: &ClusterFacts) -> String {
        let mut text = format!("L2 pool {}", self.block);
        if !self.options.reserved.is_empty() {
            let reserved: Vec<String> = self
                .options
                .reserved
                .iter()
                .map(|reservation| format!("{}={}", reservation.service, reservation.address))
                .collect();
            text.push_str(&format!("; dedicated {}", reserved.join(", ")));
        }
        text
    }

    fn manifests(&self, _: &ClusterFacts, _: &Addons) -> Result<Manifests, AddonError> {
        let options = &self.options;
        let mut manifests = Manifests::default();
        manifests.chart(Chart {
            name: "metallb".to_owned(),
            chart: "metallb".to_owned(),
            repo: Some("https://metallb.github.io/metallb".to_owned()),
            version: options.version.as_deref().unwrap_or(DEFAULT_VERSION).to_owned(),
            namespace: "metallb-system".to_owned(),
            values: json!({}),
            bootstrap: false,
            comment: "MetalLB gives LoadBalancer services addresses from the lab's pool (K3s servicelb is disabled).".to_owned(),
        });
        let AddressBlock { first, last } = self.block;
        let reserved_addresses: BTreeSet<u32> = options
            .reserved
            .iter()
            .map(|reservation| u32::from(reservation.address))
            .collect();
        let mut documents = vec![json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "labform", "namespace": "metallb-system"},
            "spec": {
                "addresses": ranges_without(first, last, &reserved_addresses),
                "autoAssign": true,
            },
        })];
        let mut pool_names = vec![json!("labform")];
        for reservation in &options.reserved {
            let pool = format!("reserved-{}", object_name(&reservation.service));
            let namespace = reservation
                .service
                .split_once('/')
                .map_or("default", |(namespace, _)| namespace);
            documents.push(json!({
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": pool, "namespace": "metallb-system"},
                "spec": {
                    "addresses": [format!("{}/32", reservation.address)],
                    "autoAssign": false,
                    "serviceAllocation": {"namespaces": [namespace]},
                },
            }));
            pool_names.push(json!(pool));
        }
        documents.push(json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "labform", "namespace": "metallb-system"},
            "spec": {"ipAddressPools": pool_names},
        }));
        let mut comments = vec![format!(
            "MetalLB pools from the plan's block {first}-{last}, announced by ARP (layer 2)."
        )];
        for reservation in &options.reserved {
            comments.push(format!(
                "Address {} is reserved for service {}: annotate it with metallb.io/loadBalancerIPs: {}.",
                reservation.address, reservation.service, reservation.address
            ));
        }
        manifests.objects("metallb-address-pools", comments, documents);
        Ok(manifests)
    }
}

/// The block without the reserved addresses, as MetalLB address ranges.
fn ranges_without(first: Ipv4Addr, last: Ipv4Addr, reserved: &BTreeSet<u32>) -> Vec<String> {
    let mut ranges = Vec::new();
    let mut start: Option<u32> = None;
    let (first, last) = (u32::from(first), u32::from(last));
    let close = |from: u32, to: u32, ranges: &mut Vec<String>| {
        if from == to {
            ranges.push(format!("{}/32", Ipv4Addr::from(from)));
        } else {
            ranges.push(format!("{}-{}", Ipv4Addr::from(from), Ipv4Addr::from(to)));
        }
    };
    for address in first..=last {
        if reserved.contains(&address) {
            if let Some(from) = start.take() {
                close(from, address - 1, &mut ranges);
            }
        } else if start.is_none() {
            start = Some(address);
        }
    }
    if let Some(from) = start {
        close(from, last, &mut ranges);
    }
    ranges
}

/// A DNS-label form of `namespace/name` for object names.
fn object_name(service: &str) -> String {
    service
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() {
                character.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_addresses_split_the_block() {
        let first: Ipv4Addr = "10.0.0.200".parse().expect("address");
        let last: Ipv4Addr = "10.0.0.209".parse().expect("address");
        let reserved: BTreeSet<u32> = ["10.0.0.200", "10.0.0.203", "10.0.0.204", "10.0.0.209"]
            .iter()
            .map(|text| u32::from(text.parse::<Ipv4Addr>().expect("address")))
            .collect();
        assert_eq!(
            ranges_without(first, last, &reserved),
            vec!["10.0.0.201-10.0.0.202", "10.0.0.205-10.0.0.208"]
        );
        let single: BTreeSet<u32> = [u32::from(first) + 1].into_iter().collect();
        assert_eq!(
            ranges_without(first, Ipv4Addr::from(u32::from(first) + 1), &single),
            vec!["10.0.0.200/32"]
        );
    }

    proptest::proptest! {
        /// The ranges and the reserved addresses inside the block cover the block exactly,
        /// without overlap, in ascending order.
        #[test]
        fn ranges_and_reservations_partition_the_block(
            start in 0_u32..1_000,
            length in 0_u32..64,
            reserved in proptest::collection::btree_set(0_u32..1_100, 0..20),
        ) {
            let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
            let first = base + start;
            let last = first + length;
            let reserved: BTreeSet<u32> = reserved.into_iter().map(|offset| base + offset).collect();
            let mut covered = Vec::new();
            for range in ranges_without(Ipv4Addr::from(first), Ipv4Addr::from(last), &reserved) {
                let (from, to) = match range.split_once('-') {
                    Some((from, to)) => (from.to_owned(), to.to_owned()),
                    None => {
                        let single = range.strip_suffix("/32").expect("a single address").to_owned();
                        (single.clone(), single)
                    }
                };
                let from = u32::from(from.parse::<Ipv4Addr>().expect("address"));
                let to = u32::from(to.parse::<Ipv4Addr>().expect("address"));
                proptest::prop_assert!(from <= to);
                covered.extend(from..=to);
            }
            let expected: Vec<u32> = (first..=last).filter(|address| !reserved.contains(address)).collect();
            proptest::prop_assert_eq!(covered, expected);
        }
    }
}
