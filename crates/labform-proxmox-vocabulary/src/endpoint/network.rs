//! Node networks and SDN zones and vnets (read).

use super::*;

/// `GET /nodes/{node}/network`.
pub const NETWORK: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/network",
    &[
        r("node", S),
        p(
            "type",
            Ty::Enum(&[
                "bridge",
                "bond",
                "eth",
                "alias",
                "vlan",
                "fabric",
                "OVSBridge",
                "OVSBond",
                "OVSPort",
                "OVSIntPort",
                "vnet",
                "any_bridge",
                "any_local_bridge",
                "include_sdn",
            ]),
        ),
    ],
    Privileges::Unchecked,
);

/// `GET /nodes/{node}/network/{iface}`.
pub const INTERFACE: Endpoint = Endpoint::new(
    Method::Get,
    "/nodes/{node}/network/{iface}",
    &[r("node", S), r("iface", S)],
    Privileges::Perm {
        path: "/nodes/{node}",
        any_of: &["Sys.Audit"],
    },
);

/// `GET /cluster/sdn/zones`.
pub const SDN_ZONES: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/sdn/zones",
    &[
        p("pending", B),
        p("running", B),
        p(
            "type",
            Ty::Enum(&["evpn", "faucet", "qinq", "simple", "vlan", "vxlan"]),
        ),
    ],
    Privileges::Unchecked,
);

/// `GET /cluster/sdn/zones/{zone}`.
pub const SDN_ZONE: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/sdn/zones/{zone}",
    &[r("zone", S), p("pending", B), p("running", B)],
    Privileges::Perm {
        path: "/sdn/zones/{zone}",
        any_of: &["SDN.Allocate"],
    },
);

/// `GET /cluster/sdn/vnets`.
pub const SDN_VNETS: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/sdn/vnets",
    &[p("pending", B), p("running", B)],
    Privileges::Unchecked,
);

/// `GET /cluster/sdn/vnets/{vnet}`.
pub const SDN_VNET: Endpoint = Endpoint::new(
    Method::Get,
    "/cluster/sdn/vnets/{vnet}",
    &[r("vnet", S), p("pending", B), p("running", B)],
    Privileges::Unchecked,
);
