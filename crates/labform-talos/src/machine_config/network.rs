//! The node's network: `machine.network` up to Talos 1.11, and from 1.12 the documents of their
//! own (`HostnameConfig`, `LinkAliasConfig`, `LinkConfig`, `ResolverConfig`, `Layer2VIPConfig`).

use super::{NodeFacts, document};
use crate::document::{Value, map, string, strings};
use crate::machine_config::LINK_ALIAS;

/// Whether this node holds the shared API address: control planes of a cluster with a VIP.
fn holds_vip(facts: &NodeFacts<'_>) -> bool {
    facts.control_plane && facts.cluster.api_vip
}

/// `machine.network` of Talos up to 1.11.
pub(super) fn legacy_network(facts: &NodeFacts<'_>) -> Value {
    let nic = &facts.vm.nic;
    let mut interface = map([
        (
            "deviceSelector",
            map([("hardwareAddr", string(nic.mac.to_ascii_lowercase()))]),
        ),
        (
            "addresses",
            strings([format!("{}/{}", facts.node.address, nic.prefix)]),
        ),
    ]);
    if let Some(gateway) = nic.gateway {
        interface.push(
            "routes",
            Value::List(vec![map([
                ("network", string("0.0.0.0/0")),
                ("gateway", string(gateway.to_string())),
            ])]),
        );
    }
    if let Some(mtu) = nic.mtu {
        interface.push("mtu", Value::Integer(i64::from(mtu)));
    }
    if holds_vip(facts) {
        interface.push(
            "vip",
            map([("ip", string(facts.cluster.api_address.to_string()))]),
        );
    }
    let mut network = map([
        ("hostname", string(facts.vm.name.clone())),
        ("interfaces", Value::List(vec![interface])),
    ]);
    if !nic.dns.is_empty() {
        network.push(
            "nameservers",
            strings(nic.dns.iter().map(ToString::to_string)),
        );
    }
    network
}

pub(super) fn hostname_document(facts: &NodeFacts<'_>) -> Value {
    let mut hostname = document("HostnameConfig");
    hostname.push("hostname", string(facts.vm.name.clone()));
    hostname
}

/// The network documents of Talos 1.12 on: the NIC aliased by its MAC, its address and default
/// route, the resolver (unless `resolver_elsewhere`: Talos 1.14 writes it with host DNS) and the
/// shared API address on control planes.
pub(super) fn network_documents(facts: &NodeFacts<'_>, resolver_elsewhere: bool) -> Vec<Value> {
    let nic = &facts.vm.nic;
    let mut documents = Vec::new();
    let mut alias = document("LinkAliasConfig");
    alias.push("name", string(LINK_ALIAS));
    alias.push(
        "selector",
        map([(
            "match",
            string(format!(
                "mac(link.permanent_addr) == \"{}\"",
                nic.mac.to_ascii_lowercase()
            )),
        )]),
    );
    documents.push(alias);
    let mut link = document("LinkConfig");
    link.push("name", string(LINK_ALIAS));
    link.push("up", Value::Bool(true));
    if let Some(mtu) = nic.mtu {
        link.push("mtu", Value::Integer(i64::from(mtu)));
    }
    link.push(
        "addresses",
        Value::List(vec![map([(
            "address",
            string(format!("{}/{}", facts.node.address, nic.prefix)),
        )])]),
    );
    if let Some(gateway) = nic.gateway {
        link.push(
            "routes",
            Value::List(vec![map([("gateway", string(gateway.to_string()))])]),
        );
    }
    documents.push(link);
    if !resolver_elsewhere && let Some(resolver) = resolver_document(facts, false) {
        documents.push(resolver);
    }
    if holds_vip(facts) {
        let mut vip = document("Layer2VIPConfig");
        vip.push("name", string(facts.cluster.api_address.to_string()));
        vip.push("link", string(LINK_ALIAS));
        documents.push(vip);
    }
    documents
}

pub(super) fn resolver_document(facts: &NodeFacts<'_>, host_dns: bool) -> Option<Value> {
    let nic = &facts.vm.nic;
    if nic.dns.is_empty() && nic.domain.is_none() && !host_dns {
        return None;
    }
    let mut resolver = document("ResolverConfig");
    if !nic.dns.is_empty() {
        resolver.push(
            "nameservers",
            Value::List(
                nic.dns
                    .iter()
                    .map(|server| map([("address", string(server.to_string()))]))
                    .collect(),
            ),
        );
    }
    if let Some(domain) = &nic.domain {
        resolver.push(
            "searchDomains",
            map([("domains", strings([domain.clone()]))]),
        );
    }
    if host_dns {
        resolver.push(
            "hostDNS",
            map([
                ("enabled", Value::Bool(true)),
                ("forwardKubeDNSToHost", Value::Bool(true)),
            ]),
        );
    }
    Some(resolver)
}
