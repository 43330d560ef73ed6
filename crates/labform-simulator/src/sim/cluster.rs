//! Cluster-wide reads: version, nodes, `/cluster/resources` and the next free VMID.

use super::*;
use labform_proxmox::endpoint;

pub(super) async fn version(client: &SimClient) -> Result<Version> {
    client
        .run(&endpoint::cluster::VERSION, &[], async {
            Ok(Version {
                version: "9.1.9".into(),
                release: "9.1".into(),
                repoid: "5b2c9d0e2a7c4f31".into(),
            })
        })
        .await
}

pub(super) async fn nodes(client: &SimClient) -> Result<Vec<NodeEntry>> {
    client
        .run(&endpoint::cluster::NODES, &[], async {
            let st = client.sim.lock();
            Ok(client
                .sim
                .inner
                .config
                .nodes
                .iter()
                .map(|n| {
                    let online = st.online.get(&n.name).copied().unwrap_or(false);
                    let audit = st.has(&client.who, &format!("/nodes/{}", n.name), "Sys.Audit");
                    let mem: u64 = st
                        .vms
                        .values()
                        .filter(|v| v.node == n.name && v.running)
                        .map(|v| v.memory_mib() << 20)
                        .sum();
                    NodeEntry {
                        node: n.name.clone(),
                        status: if online { "online" } else { "offline" }.into(),
                        cpu: (audit && online).then_some(0.02),
                        maxcpu: audit.then_some(u64::from(n.cpus)),
                        mem: (audit && online).then_some(mem),
                        maxmem: audit.then_some(n.memory),
                        uptime: (audit && online).then_some(86_400),
                    }
                })
                .collect())
        })
        .await
}

pub(super) async fn cluster_resources(
    client: &SimClient,
    kind: Option<ResourceType>,
) -> Result<Vec<ClusterResource>> {
    client
        .run(&endpoint::cluster::RESOURCES, &[], async {
            let st = client.sim.lock();
            let config = &client.sim.inner.config;
            let mut out = Vec::new();
            // As pve-manager's `resources`: pools (only unfiltered), guests,
            // nodes, storages per node, SDN zones per node, and the local network zone.
            let mut pools: BTreeMap<String, ClusterResource> = BTreeMap::new();
            if kind.is_none() {
                for id in st.pools.keys() {
                    if st.has(&client.who, &format!("/pool/{id}"), "Pool.Audit") {
                        pools.insert(
                            id.clone(),
                            ClusterResource {
                                id: format!("/pool/{id}"),
                                kind: "pool".into(),
                                ..Default::default()
                            },
                        );
                    }
                }
            }
            let mut guests = Vec::new();
            if kind.is_none() || kind == Some(ResourceType::Vm) {
                for vm in st.vms.values() {
                    let entry = guest_resource(client, &st, vm);
                    if let (Some(pool), Some(uptime)) = (&vm.pool, entry.uptime)
                        && uptime > 0
                        && let Some(p) = pools.get_mut(pool)
                    {
                        add_to_pool(p, &entry);
                    }
                    if !st.has(&client.who, &format!("/vms/{}", vm.vmid), "VM.Audit") {
                        continue;
                    }
                    guests.push(entry);
                }
            }
            out.extend(pools.into_values());
            out.extend(guests);
            if kind.is_none() || kind == Some(ResourceType::Node) {
                for n in &config.nodes {
                    let audit = st.has(&client.who, &format!("/nodes/{}", n.name), "Sys.Audit");
                    let online = st.online.get(&n.name).copied().unwrap_or(false);
                    let used: u64 = st
                        .vms
                        .values()
                        .filter(|v| v.node == n.name && v.running)
                        .map(|v| v.memory_mib() << 20)
                        .sum::<u64>()
                        + (2 << 30);
                    let stats = audit && online;
                    out.push(ClusterResource {
                        id: format!("node/{}", n.name),
                        kind: "node".into(),
                        node: Some(n.name.clone()),
                        status: Some(if online { "online" } else { "offline" }.into()),
                        level: Some(String::new()),
                        maxcpu: audit.then_some(f64::from(n.cpus)),
                        maxmem: audit.then_some(n.memory),
                        maxdisk: audit.then_some(100 << 30),
                        uptime: stats.then_some(86_400),
                        cpu: stats.then_some(0.02),
                        mem: stats.then_some(used.min(n.memory)),
                        disk: stats.then_some(10 << 30),
                        cgroup_mode: Some(2),
                        host_arch: Some("x86_64".into()),
                        hastate: st
                            .datacenter
                            .ha_resources
                            .sections
                            .first()
                            .map(|_| if online { "online" } else { "unknown" }.to_owned()),
                        ..Default::default()
                    });
                }
            }
            if kind.is_none() || kind == Some(ResourceType::Storage) {
                for n in &config.nodes {
                    for s in &config.storages {
                        if !(s.nodes.is_empty() || s.nodes.contains(&n.name))
                            || !st.has(
                                &client.who,
                                &format!("/storage/{}", s.id),
                                "Datastore.Audit",
                            )
                        {
                            continue;
                        }
                        let key = Simulator::store_key(s, &n.name);
                        out.push(ClusterResource {
                            id: format!("storage/{}/{}", n.name, s.id),
                            kind: "storage".into(),
                            node: Some(n.name.clone()),
                            storage: Some(s.id.clone()),
                            plugintype: Some(s.kind.as_str().into()),
                            status: Some("available".into()),
                            shared: Some(s.shared),
                            content: Some(s.content.join(",")),
                            maxdisk: Some(s.capacity),
                            disk: Some(Simulator::used_bytes(&st, &key)),
                            ..Default::default()
                        });
                    }
                }
            }
            if kind.is_none() || kind == Some(ResourceType::Sdn) {
                for n in &config.nodes {
                    for zone in &st.datacenter.sdn_zones.sections {
                        if !st.has(&client.who, &format!("/sdn/zones/{}", zone.id), "SDN.Audit") {
                            continue;
                        }
                        out.push(ClusterResource {
                            id: format!("sdn/{}/{}", n.name, zone.id),
                            kind: "sdn".into(),
                            sdn: Some(zone.id.clone()),
                            node: Some(n.name.clone()),
                            status: Some("ok".into()),
                            zone_type: Some(zone.kind.clone()),
                            ..Default::default()
                        });
                    }
                }
            }
            if kind.is_none() && st.has(&client.who, "/sdn/zones/localnetwork", "SDN.Audit") {
                for n in &config.nodes {
                    out.push(ClusterResource {
                        id: format!("network/{}/zone/localnetwork", n.name),
                        kind: "network".into(),
                        network_type: Some("zone".into()),
                        network: Some("localnetwork".into()),
                        node: Some(n.name.clone()),
                        status: Some("ok".into()),
                        ..Default::default()
                    });
                }
            }
            Ok(out)
        })
        .await
}

/// A guest's entry: `extract_vm_stats` (none of the statistics while pvestatd
/// has not reported the guest yet), its pool, tags, lock and HA state.
fn guest_resource(client: &SimClient, st: &State, vm: &Vm) -> ClusterResource {
    // Freshly created or cloned VMs are in the vmlist before pvestatd has
    // reported their stats.
    let t = client.sim.inner.config.timing;
    let fresh = matches!(vm.lock(), Some("clone") | Some("create"))
        || vm.created_at.elapsed() < t.dur(t.resources_lag_secs);
    let f = super::figures::VmFigures::of(vm);
    let stat = |v: u64| (!fresh).then_some(v);
    let sid = format!("vm:{}", vm.vmid);
    let hastate = st
        .datacenter
        .ha_service_state
        .get(&sid)
        .cloned()
        .or_else(|| {
            st.datacenter.ha_resources.get(&sid).map(|r| {
                r.options
                    .get("state")
                    .cloned()
                    .unwrap_or_else(|| "started".into())
            })
        });
    ClusterResource {
        id: format!("qemu/{}", vm.vmid),
        kind: "qemu".into(),
        node: Some(vm.node.clone()),
        vmid: Some(u64::from(vm.vmid)),
        name: if fresh {
            None
        } else {
            vm.conf
                .get("name")
                .cloned()
                .or(Some(format!("VM {}", vm.vmid)))
        },
        status: Some(
            if fresh {
                "unknown"
            } else if vm.running {
                "running"
            } else {
                "stopped"
            }
            .into(),
        ),
        template: (!fresh).then_some(vm.is_template()),
        maxcpu: (!fresh).then_some(f.cpus as f64),
        cpu: (!fresh).then_some(f.cpu),
        maxmem: stat(f.maxmem),
        mem: stat(f.mem),
        maxdisk: stat(f.maxdisk),
        disk: stat(0),
        uptime: stat(f.uptime),
        netin: stat(f.netin),
        netout: stat(f.netout),
        diskread: stat(f.diskread),
        diskwrite: stat(f.diskwrite),
        memhost: stat(f.memhost),
        pool: vm
            .pool
            .clone()
            .filter(|p| st.has(&client.who, &format!("/pool/{p}"), "Pool.Audit")),
        tags: vm.conf.get("tags").cloned(),
        lock: vm.lock().map(str::to_owned),
        hastate,
        ..Default::default()
    }
}

/// Adds a running guest's figures to its pool's entry, as pve-manager sums them.
fn add_to_pool(pool: &mut ClusterResource, guest: &ClusterResource) {
    pool.uptime = pool.uptime.max(guest.uptime);
    pool.mem = Some(pool.mem.unwrap_or(0) + guest.mem.unwrap_or(0));
    pool.maxmem = Some(pool.maxmem.unwrap_or(0) + guest.maxmem.unwrap_or(0));
    let (cpu, maxcpu) = (pool.cpu.unwrap_or(0.0), pool.maxcpu.unwrap_or(0.0));
    let (guest_cpu, guest_maxcpu) = (guest.cpu.unwrap_or(0.0), guest.maxcpu.unwrap_or(0.0));
    if maxcpu + guest_maxcpu > 0.0 {
        pool.cpu = Some((cpu * maxcpu + guest_cpu * guest_maxcpu) / (maxcpu + guest_maxcpu));
    }
    pool.maxcpu = Some(maxcpu + guest_maxcpu);
}

pub(super) async fn next_vmid(client: &SimClient, check: Option<VmId>) -> Result<VmId> {
    client
        .run(&endpoint::cluster::NEXT_ID, &[], async {
            let st = client.sim.lock();
            if let Some(v) = check {
                if st.vms.contains_key(&v.get()) {
                    return Err(ApiError::param("vmid", format!("VM {v} already exists")));
                }
                return Ok(v);
            }
            (100..1_000_000u32)
                .find(|id| !st.vms.contains_key(id))
                .and_then(|id| VmId::new(id).ok())
                .ok_or_else(|| e500("unable to get any free VMID in range [100, 999999]"))
        })
        .await
}
