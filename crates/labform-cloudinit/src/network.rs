//! The NoCloud `network-config`: version 2, one ethernet matched by the VM's MAC address and
//! renamed [`INTERFACE_NAME`], with its static address, default route and name servers (or
//! DHCP when the plan gives no address).

use std::collections::BTreeMap;

use labform_planner::plan::PlannedNic;
use serde::Serialize;

/// The name every VM's interface gets (`set-name`), so manifests can name it in advance.
pub const INTERFACE_NAME: &str = "eth0";

/// A network-config document.
#[derive(Serialize)]
pub(crate) struct NetworkDocument {
    network: Network,
}

#[derive(Serialize)]
struct Network {
    version: u8,
    ethernets: BTreeMap<&'static str, Ethernet>,
}

#[derive(Serialize)]
struct Ethernet {
    #[serde(rename = "match")]
    matching: Match,
    #[serde(rename = "set-name")]
    set_name: &'static str,
    dhcp4: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nameservers: Option<Nameservers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u16>,
}

#[derive(Serialize)]
struct Match {
    macaddress: String,
}

#[derive(Serialize)]
struct Route {
    to: &'static str,
    via: String,
}

#[derive(Serialize)]
struct Nameservers {
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    search: Vec<String>,
}

/// The network-config document of a VM with `nic` and the network's `mtu`.
pub(crate) fn network_config(nic: &PlannedNic) -> NetworkDocument {
    let ethernet = Ethernet {
        matching: Match {
            macaddress: nic.mac.to_ascii_lowercase(),
        },
        set_name: INTERFACE_NAME,
        dhcp4: nic.address.is_none(),
        addresses: nic
            .address
            .map(|address| format!("{address}/{}", nic.prefix))
            .into_iter()
            .collect(),
        routes: match (nic.address, nic.gateway) {
            (Some(_), Some(gateway)) => vec![Route {
                to: "0.0.0.0/0",
                via: gateway.to_string(),
            }],
            _ => Vec::new(),
        },
        nameservers: (nic.address.is_some() && !nic.dns.is_empty()).then(|| Nameservers {
            addresses: nic.dns.iter().map(ToString::to_string).collect(),
            search: nic.domain.iter().cloned().collect(),
        }),
        mtu: nic.mtu,
    };
    NetworkDocument {
        network: Network {
            version: 2,
            ethernets: BTreeMap::from([(INTERFACE_NAME, ethernet)]),
        },
    }
}
