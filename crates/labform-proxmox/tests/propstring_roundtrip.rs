//! Property tests: property strings round-trip byte for byte, and typed
//! values survive canonical printing.

use labform_proxmox::propstring::{
    Drive, IpConfig, MacAddr, NET_MODELS, NetDevice, PropertyString,
};
use proptest::prelude::*;

fn bool_spelling() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "1", "0", "on", "off", "yes", "no", "true", "false", "TRUE", "On",
    ])
    .prop_map(String::from)
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn mac_text() -> impl Strategy<Value = String> {
    (mac(), any::<bool>()).prop_map(|(m, lower)| if lower { m.to_lower() } else { m.to_string() })
}

fn net_string() -> impl Strategy<Value = String> {
    let model = prop::sample::select(NET_MODELS.to_vec());
    let head = (model, prop::option::of(mac_text()), 0..3u8).prop_map(|(m, mac, form)| {
        match (mac, form) {
            (Some(mac), 0) => vec![format!("{m}={mac}")],
            (Some(mac), 1) => vec![format!("model={m}"), format!("macaddr={mac}")],
            (Some(mac), _) => vec![m.to_string(), format!("macaddr={mac}")],
            (None, 0) => vec![m.to_string()],
            (None, _) => vec![format!("model={m}")],
        }
    });
    let opts = (
        prop::option::of("[a-z][a-z0-9]{0,6}".prop_map(|b| format!("bridge={b}"))),
        prop::option::of((1u16..=4094).prop_map(|t| format!("tag={t}"))),
        prop::option::of(bool_spelling().prop_map(|b| format!("firewall={b}"))),
        prop::option::of(bool_spelling().prop_map(|b| format!("link_down={b}"))),
        prop::option::of((1u32..=65520).prop_map(|t| format!("mtu={t}"))),
        prop::option::of((0u32..=64).prop_map(|t| format!("queues={t}"))),
        prop::option::of(
            (1u16..4000, 1u16..90).prop_map(|(a, b)| format!("trunks={a};{}-{}", b, b + 4)),
        ),
    );
    (head, opts)
        .prop_flat_map(|(head, (a, b, c, d, e, f, g))| {
            let mut parts: Vec<String> = head;
            parts.extend([a, b, c, d, e, f, g].into_iter().flatten());
            Just(parts).prop_shuffle()
        })
        .prop_map(|parts| parts.join(","))
}

fn drive_string() -> impl Strategy<Value = String> {
    let volume = prop_oneof![
        ("[a-z][a-z0-9-]{0,8}", 0u32..2000).prop_map(|(s, n)| format!("{s}:{n}")),
        "[a-z][a-z0-9-]{0,8}".prop_map(|s| format!("{s}:cloudinit")),
        ("[a-z][a-z0-9-]{0,8}", 100u32..100000, 0u8..4)
            .prop_map(|(s, id, d)| format!("{s}:vm-{id}-disk-{d}")),
        Just("none".to_string()),
    ];
    let volume =
        (volume, any::<bool>()).prop_map(|(v, keyed)| if keyed { format!("file={v}") } else { v });
    let opts = (
        prop::option::of(
            (
                1u64..4096,
                prop::sample::select(vec!["G", "M", "K", "T", ""]),
            )
                .prop_map(|(n, u)| format!("size={n}{u}")),
        ),
        prop::option::of(bool_spelling().prop_map(|b| format!("ssd={b}"))),
        prop::option::of(bool_spelling().prop_map(|b| format!("iothread={b}"))),
        prop::option::of(
            prop::sample::select(vec!["on", "ignore"]).prop_map(|b| format!("discard={b}")),
        ),
        prop::option::of(
            prop::sample::select(vec!["disk", "cdrom"]).prop_map(|b| format!("media={b}")),
        ),
        prop::option::of(
            prop::sample::select(vec!["raw", "qcow2", "vmdk"]).prop_map(|b| format!("format={b}")),
        ),
        prop::option::of(
            "[a-z]{1,5}:import/[a-z]{1,8}\\.qcow2".prop_map(|b| format!("import-from={b}")),
        ),
    );
    (volume, opts)
        .prop_flat_map(|(v, (a, b, c, d, e, f, g))| {
            let mut parts = vec![v];
            parts.extend([a, b, c, d, e, f, g].into_iter().flatten());
            Just(parts).prop_shuffle()
        })
        .prop_map(|p| p.join(","))
}

fn ipconfig_string() -> impl Strategy<Value = String> {
    let v4 = prop_oneof![
        Just(vec!["ip=dhcp".to_string()]),
        (
            any::<[u8; 4]>(),
            0u8..=32,
            prop::option::of(any::<[u8; 4]>())
        )
            .prop_map(|(a, p, gw)| {
                let mut v = vec![format!("ip={}/{p}", std::net::Ipv4Addr::from(a))];
                if let Some(g) = gw {
                    v.push(format!("gw={}", std::net::Ipv4Addr::from(g)));
                }
                v
            }),
        Just(vec![]),
    ];
    let v6 = prop_oneof![
        Just(vec!["ip6=dhcp".to_string()]),
        Just(vec!["ip6=auto".to_string()]),
        (
            any::<[u8; 16]>(),
            0u8..=128,
            prop::option::of(any::<[u8; 16]>())
        )
            .prop_map(|(a, p, gw)| {
                let mut v = vec![format!("ip6={}/{p}", std::net::Ipv6Addr::from(a))];
                if let Some(g) = gw {
                    v.push(format!("gw6={}", std::net::Ipv6Addr::from(g)));
                }
                v
            }),
        Just(vec![]),
    ];
    (v4, v6)
        .prop_flat_map(|(a, b)| {
            let mut parts = a;
            parts.extend(b);
            Just(parts).prop_shuffle()
        })
        .prop_map(|p| p.join(","))
}

proptest! {
    #[test]
    fn net_round_trips_byte_identical(s in net_string()) {
        let n = NetDevice::parse(&s).unwrap();
        prop_assert_eq!(n.to_string(), s);
        // The canonical form parses to the same typed value and is a fixed point.
        let c = NetDevice::parse(&n.canonical()).unwrap();
        prop_assert_eq!(&c.model, &n.model);
        prop_assert_eq!(c.macaddr, n.macaddr);
        prop_assert_eq!(&c.bridge, &n.bridge);
        prop_assert_eq!(c.tag, n.tag);
        prop_assert_eq!(c.firewall, n.firewall);
        prop_assert_eq!(c.link_down, n.link_down);
        prop_assert_eq!(c.mtu, n.mtu);
        prop_assert_eq!(&c.trunks, &n.trunks);
        prop_assert_eq!(c.canonical(), n.canonical());
    }

    #[test]
    fn drive_round_trips_byte_identical(s in drive_string()) {
        let d = Drive::parse(&s).unwrap();
        prop_assert_eq!(d.to_string(), s);
        let c = Drive::parse(&d.canonical()).unwrap();
        prop_assert_eq!(&c.volume, &d.volume);
        prop_assert_eq!(c.size, d.size);
        prop_assert_eq!(c.ssd, d.ssd);
        prop_assert_eq!(&c.import_from, &d.import_from);
        prop_assert_eq!(c.canonical(), d.canonical());
    }

    #[test]
    fn ipconfig_round_trips_byte_identical(s in ipconfig_string()) {
        let c = IpConfig::parse(&s).unwrap();
        prop_assert_eq!(c.to_string(), s);
    }

    #[test]
    fn generic_property_strings_round_trip(parts in prop::collection::vec("[a-z0-9_.:-]{1,8}(=[A-Za-z0-9_.:/;-]{0,8})?", 0..8)) {
        let s = parts.join(",");
        let p = PropertyString::parse(&s).unwrap();
        prop_assert_eq!(p.to_string(), s);
    }

    #[test]
    fn setting_mac_keeps_other_entries(s in net_string(), m in mac()) {
        let mut n = NetDevice::parse(&s).unwrap();
        n.set_macaddr(m);
        prop_assert_eq!(n.macaddr, Some(m));
        let reparsed = NetDevice::parse(&n.to_string()).unwrap();
        prop_assert_eq!(reparsed.macaddr, Some(m));
        prop_assert_eq!(&reparsed.bridge, &n.bridge);
        prop_assert_eq!(reparsed.tag, n.tag);
    }
}

proptest! {
    #[test]
    fn upids_round_trip(
        node in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
        pid in any::<u32>(),
        pstart in 0u64..0xF_FFFF_FFFF,
        start in any::<u32>(),
        ty in "[a-z]{2,10}",
        id in "[0-9a-z@-]{0,8}",
        user in "[a-z]{1,8}@(pam|pve)(![a-z][a-z0-9]{1,6})?",
    ) {
        let u = labform_proxmox::Upid::new(&node, pid, pstart, u64::from(start), &ty, &id, &user);
        let parsed: labform_proxmox::Upid = u.as_str().parse().unwrap();
        prop_assert_eq!(&parsed, &u);
        prop_assert_eq!(parsed.to_string(), u.to_string());
    }
}
