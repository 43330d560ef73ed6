//! Guest agent endpoints (ping, network interfaces), answered by the QEMU
//! backend's agent or, state only, from the VM's cloud-init network config.

use super::*;
use labform_proxmox::endpoint;

/// The opening of a guest agent call: either guest agent privilege on the VM.
fn agent_call<'a>(client: &'a SimClient, node: &'a str, vmid: u32) -> VmCall<'a> {
    client
        .on_vm(node, vmid)
        .any_privilege(&["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"])
}

/// Whether the VM's guest agent can answer: configured, the VM running, and
/// (state only) booted long enough for the agent to have started.
pub(super) fn agent_ready(client: &SimClient, vm: &Vm) -> std::result::Result<(), ApiError> {
    if !agent_enabled(&vm.conf) {
        return Err(e500("No QEMU guest agent configured"));
    }
    if !vm.running {
        return Err(e500(format!("VM {} is not running", vm.vmid)));
    }
    if !client.sim.backend().runs_vms() {
        let t = client.sim.inner.config.timing;
        if vm
            .started_at
            .is_none_or(|s| s.elapsed() < t.dur(t.agent_secs))
        {
            return Err(e500("QEMU guest agent is not running"));
        }
    }
    Ok(())
}

pub(super) async fn agent_network_interfaces(
    client: &SimClient,
    node: &NodeName,
    vmid: VmId,
) -> Result<Vec<GuestInterface>> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(
            &endpoint::agent::NETWORK_INTERFACES,
            &[&node, &vmid],
            async {
                let simulated = agent_call(client, node, vmid).read(|_, vm| {
                    agent_ready(client, vm)?;
                    Ok((!client.sim.backend().runs_vms()).then(|| guest_interfaces(vm)))
                })?;
                if let Some(interfaces) = simulated {
                    return Ok(interfaces);
                }
                let answer = client
                    .sim
                    .on_backend(move |b| b.agent(vmid, "guest-network-get-interfaces", None))
                    .await
                    .map_err(e500)?;
                serde_json::from_value(answer)
                    .map_err(|e| e500(format!("unexpected guest agent answer: {e}")))
            },
        )
        .await
}

pub(super) async fn agent_ping(client: &SimClient, node: &NodeName, vmid: VmId) -> Result<()> {
    let node = node.as_str();
    let vmid = vmid.get();
    client
        .run(&endpoint::agent::PING, &[&node, &vmid], async {
            agent_call(client, node, vmid).read(|_, vm| agent_ready(client, vm))?;
            if !client.sim.backend().runs_vms() {
                return Ok(());
            }
            client
                .sim
                .on_backend(move |b| b.agent(vmid, "guest-ping", None))
                .await
                .map_err(e500)?;
            Ok(())
        })
        .await
}

/// The interfaces a cloud-init configured guest reports: `lo` plus one
/// `ethN` per `netN`, with the `ipconfigN` static addresses, or for DHCP an
/// address derived from the VMID in 172.16.0.0/16 (and SLAAC from the MAC).
pub fn guest_interfaces(vm: &Vm) -> Vec<GuestInterface> {
    let addr = |kind: &str, a: String, p: u64| GuestIpAddress {
        kind: kind.into(),
        address: a,
        prefix: p,
    };
    let mut out = vec![GuestInterface {
        name: "lo".into(),
        hardware_address: Some("00:00:00:00:00:00".into()),
        ip_addresses: Some(vec![
            addr("ipv4", "127.0.0.1".into(), 8),
            addr("ipv6", "::1".into(), 128),
        ]),
    }];
    for i in 0..32u32 {
        let Some(net) = vm
            .conf
            .get(&format!("net{i}"))
            .and_then(|v| NetDevice::parse(v).ok())
        else {
            continue;
        };
        let mac = net.macaddr.unwrap_or(MacAddr([0; 6]));
        let ipc = vm
            .conf
            .get(&format!("ipconfig{i}"))
            .and_then(|v| IpConfig::parse(v).ok());
        let mut addrs = Vec::new();
        match ipc.as_ref().and_then(|c| c.ip) {
            Some(Ipv4Setting::Static(a, p)) => {
                addrs.push(addr("ipv4", a.to_string(), u64::from(p)))
            }
            Some(Ipv4Setting::Dhcp) | None
                if ipc
                    .as_ref()
                    .is_none_or(|c| c.ip6.is_none() || c.ip.is_some()) =>
            {
                addrs.push(addr(
                    "ipv4",
                    format!("172.16.{}.{}", (vm.vmid >> 8) & 0xff, vm.vmid & 0xff),
                    16,
                ));
            }
            _ => {}
        }
        match ipc.as_ref().and_then(|c| c.ip6) {
            Some(Ipv6Setting::Static(a, p)) => {
                addrs.push(addr("ipv6", a.to_string(), u64::from(p)))
            }
            Some(Ipv6Setting::Auto) | Some(Ipv6Setting::Dhcp) => {
                addrs.push(addr("ipv6", modified_eui64("fd00", mac), 64));
            }
            None => {}
        }
        addrs.push(addr("ipv6", modified_eui64("fe80", mac), 64));
        out.push(GuestInterface {
            name: format!("eth{i}"),
            hardware_address: Some(mac.to_lower()),
            ip_addresses: Some(addrs),
        });
    }
    out
}

/// The IPv6 address in `prefix::/64` that SLAAC derives from `mac` (modified EUI-64).
fn modified_eui64(prefix: &str, mac: MacAddr) -> String {
    let m = mac.0;
    format!(
        "{prefix}::{:02x}{:02x}:{:02x}ff:fe{:02x}:{:02x}{:02x}",
        m[0] ^ 2,
        m[1],
        m[2],
        m[3],
        m[4],
        m[5]
    )
}
