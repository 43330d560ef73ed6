//! Cluster-wide reads: version, nodes, `/cluster/resources` and the next free VMID.

use super::*;

pub(super) async fn version(client: &SimClient) -> Result<Version> {
    client
        .run("GET", "/version", wp("/version"), async {
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
        .run("GET", "/nodes", wp("/nodes"), async {
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
        .run(
            "GET",
            "/cluster/resources",
            wp("/cluster/resources"),
            async {
                let st = client.sim.lock();
                let mut out = Vec::new();
                if kind.is_none() || kind == Some(ResourceType::Vm) {
                    for vm in st.vms.values() {
                        if !st.has(&client.who, &format!("/vms/{}", vm.vmid), "VM.Audit") {
                            continue;
                        }
                        // Freshly created or cloned VMs are in the vmlist before
                        // pvestatd has reported their stats.
                        let t = client.sim.inner.config.timing;
                        let fresh = matches!(vm.lock(), Some("clone") | Some("create"))
                            || vm.created_at.elapsed() < t.dur(t.resources_lag_secs);
                        let disk: u64 = vm
                            .conf
                            .iter()
                            .filter(|(k, _)| is_drive_key(k))
                            .filter_map(|(_, v)| Drive::parse(v).ok())
                            .filter(|d| !d.is_cdrom())
                            .filter_map(|d| d.size.map(|s| s.0))
                            .sum();
                        out.push(ClusterResource {
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
                            maxcpu: (!fresh).then_some(vm.cpus() as f64),
                            cpu: (!fresh).then_some(if vm.running { 0.01 } else { 0.0 }),
                            maxmem: (!fresh).then_some(vm.memory_mib() << 20),
                            mem: (!fresh).then_some(if vm.running {
                                (vm.memory_mib() << 20) / 2
                            } else {
                                0
                            }),
                            maxdisk: (!fresh).then_some(disk),
                            disk: (!fresh).then_some(0),
                            uptime: (!fresh).then_some(if vm.running { 1 } else { 0 }),
                            pool: vm.pool.clone().filter(|p| {
                                st.has(&client.who, &format!("/pool/{p}"), "Pool.Audit")
                            }),
                            tags: vm.conf.get("tags").cloned(),
                            lock: vm.lock().map(str::to_owned),
                            ..Default::default()
                        });
                    }
                }
                if kind.is_none() || kind == Some(ResourceType::Node) {
                    for n in &client.sim.inner.config.nodes {
                        let audit = st.has(&client.who, &format!("/nodes/{}", n.name), "Sys.Audit");
                        let online = st.online.get(&n.name).copied().unwrap_or(false);
                        out.push(ClusterResource {
                            id: format!("node/{}", n.name),
                            kind: "node".into(),
                            node: Some(n.name.clone()),
                            status: Some(if online { "online" } else { "offline" }.into()),
                            maxcpu: audit.then_some(f64::from(n.cpus)),
                            maxmem: audit.then_some(n.memory),
                            ..Default::default()
                        });
                    }
                }
                if kind.is_none() || kind == Some(ResourceType::Storage) {
                    for n in &client.sim.inner.config.nodes {
                        for s in &client.sim.inner.config.storages {
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
                Ok(out)
            },
        )
        .await
}

pub(super) async fn next_vmid(client: &SimClient, check: Option<VmId>) -> Result<VmId> {
    client
        .run("GET", "/cluster/nextid", wp("/cluster/nextid"), async {
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
