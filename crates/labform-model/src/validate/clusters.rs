//! The `clusters` section: name, distribution and version, network and API VIP, node groups,
//! pod and service networks, datastore and backups. The add-ons are checked by their own
//! modules (see `addons.rs`).

use super::*;

impl<'a> Checker<'a> {
    /// What comes with K3s and not with kubeadm: flannel (K3s's built-in CNI) and Traefik (K3s's
    /// packaged ingress, which the add-on only configures). labform installs neither on kubeadm.
    fn kubeadm_components(&mut self, cluster: &Cluster) {
        let at = &cluster.source;
        if cluster.cni == Cni::Flannel {
            self.push(
                Diagnostic::error(
                    "not-on-kubeadm",
                    &at.at("cni"),
                    "flannel comes with K3s; labform installs no flannel on kubeadm clusters",
                )
                .hint("set `cni: calico` or `cni: cilium` (kubeadm clusters need a CNI labform installs)"),
            );
        }
        if cluster.addons.traefik.is_some() {
            self.push(
                Diagnostic::error(
                    "not-on-kubeadm",
                    &at.at("addons").at("traefik"),
                    "Traefik comes with K3s; the add-on configures K3s's Traefik and labform installs none on kubeadm clusters",
                )
                .hint("use `envoy_gateway` for ingress on kubeadm, or remove `traefik`"),
            );
        }
    }

    pub(super) fn cluster(&mut self, cluster: &Cluster) {
        let at = &cluster.source;
        self.dns_name(&at.at("name"), "cluster", &cluster.name);
        self.version(cluster);
        self.system_extensions(cluster);
        if cluster.distribution == Distribution::Kubeadm {
            self.kubeadm_components(cluster);
        }
        let network = if self.reference(
            &at.at("network"),
            "network",
            &cluster.network,
            self.network_names(),
        ) {
            self.network(&cluster.network)
        } else {
            None
        };
        if let (Some(network), Some(pool)) = (network, &cluster.address_pool) {
            self.pool_reference(&at.at("address_pool"), network, pool, PoolPurpose::Nodes);
        } else if let Some(network) = network
            && !network
                .pools
                .iter()
                .any(|p| p.purpose == PoolPurpose::Nodes)
        {
            self.push(
                Diagnostic::error("no-node-pool", &at.at("network"), format!("network `{}` has no pool for node addresses", network.name))
                    .hint("add a pool with `purpose: nodes` to the network, or name one with `address_pool`"),
            );
        }
        // Groups.
        self.group(&at.at("servers"), &cluster.servers, true);
        let single_agent_group = cluster.agents.len() == 1;
        let mut agent_names: Vec<&str> = Vec::new();
        for (index, group) in cluster.agents.iter().enumerate() {
            let group_at = at.at("agents").index(index);
            self.group(&group_at, group, false);
            match &group.name {
                Some(name) => {
                    self.dns_name(&group_at.at("name"), "agent group", name);
                    if name == "server" || agent_names.contains(&name.as_str()) {
                        self.push(
                            Diagnostic::error(
                                "duplicate-name",
                                &group_at.at("name"),
                                format!(
                                    "agent group `{name}` is declared twice (or is named `server`)"
                                ),
                            )
                            .hint("give each agent group its own name"),
                        );
                    }
                    agent_names.push(name);
                }
                None if !single_agent_group => self.push(
                    Diagnostic::error(
                        "missing-field",
                        &group_at,
                        "agent groups need names when there are several",
                    )
                    .hint("add `name: workers` (or similar) to each agent group"),
                ),
                None => {}
            }
        }
        if cluster.servers.name.is_some() {
            self.push(
                Diagnostic::warning(
                    "ignored-field",
                    &at.at("servers.name"),
                    "the server group's name is always `server`",
                )
                .hint("remove `name` from `servers`"),
            );
        }
        // Control plane and datastore.
        let servers = cluster.servers.count;
        if servers == 0 {
            self.push(
                Diagnostic::error(
                    "no-servers",
                    &at.at("servers.count"),
                    "a cluster needs at least one server",
                )
                .hint("set `servers.count: 1` (or 3 for HA)"),
            );
        }
        match &cluster.datastore {
            Datastore::EmbeddedEtcd if servers > 1 && servers.is_multiple_of(2) => self.push(
                Diagnostic::error("etcd-quorum", &at.at("servers.count"), format!("{servers} servers with embedded etcd: an even number adds no fault tolerance"))
                    .hint(format!("use {} or {} servers; etcd needs a majority to stay up", servers - 1, servers + 1)),
            ),
            Datastore::Sqlite if servers > 1 => self.push(
                Diagnostic::error("sqlite-single-server", &at.at("datastore"), format!("SQLite serves one server, but the cluster has {servers}"))
                    .hint("use `datastore: embedded-etcd` or an external datastore for several servers"),
            ),
            Datastore::Sqlite | Datastore::External(_) if cluster.distribution != Distribution::K3s => self.push(
                Diagnostic::error("datastore-distribution", &at.at("datastore"), format!("{} keeps its state in etcd", cluster.distribution.as_str()))
                    .hint("use `datastore: embedded-etcd`"),
            ),
            _ => {}
        }
        if let Some(network) = network {
            let subnet = network.cidr.trunc();
            match &cluster.api_vip {
                None if servers > 1 => self.push(
                    Diagnostic::error("missing-api-vip", at, format!("{servers} servers but no API VIP: clients would depend on one server"))
                        .hint(format!("add `api_vip: {{address: ...}}` on {subnet} outside every pool, or `api_vip: {{from_pool: ...}}` naming a vips pool")),
                ),
                None => {}
                Some(ApiVip::Address(address)) => {
                    if !subnet.contains(address) {
                        self.push(
                            Diagnostic::error("vip-outside-subnet", &at.at("api_vip.address"), format!("API VIP {address} is not on the servers' subnet {subnet}"))
                                .hint("kube-vip announces the VIP with ARP on the servers' network; choose a free address on it"),
                        );
                    } else {
                        self.address_in_subnet(&at.at("api_vip.address"), "API VIP", *address, &subnet);
                        if *address == network.gateway {
                            self.push(Diagnostic::error("vip-in-pool", &at.at("api_vip.address"), format!("API VIP {address} is the network's gateway")).hint("choose a free address outside every pool"));
                        }
                        for pool in &network.pools {
                            if pool.purpose != PoolPurpose::Vips && pool.range.contains(*address) {
                                self.push(
                                    Diagnostic::error("vip-in-pool", &at.at("api_vip.address"), format!("API VIP {address} lies in pool `{}` ({})", pool.name, pool.range))
                                        .hint("a VIP inside a pool may be handed to a VM or a service; choose an address outside every pool"),
                                );
                            }
                        }
                    }
                }
                Some(ApiVip::FromPool(pool)) => self.pool_reference(&at.at("api_vip.from_pool"), network, pool, PoolPurpose::Vips),
            }
            for (key, cidr) in [
                ("pod_cidr", cluster.pod_cidr),
                ("service_cidr", cluster.service_cidr),
            ] {
                let Some(cidr) = cidr else { continue };
                if cidr.trunc() != cidr {
                    self.push(
                        Diagnostic::error(
                            "cidr-host-bits",
                            &at.at(key),
                            format!("`{cidr}` has host bits set"),
                        )
                        .hint(format!("the network is `{}`", cidr.trunc())),
                    );
                }
            }
            let pod = cluster
                .pod_cidr
                .unwrap_or_else(|| DEFAULT_POD_CIDR.parse().expect("valid"));
            let service = cluster
                .service_cidr
                .unwrap_or_else(|| DEFAULT_SERVICE_CIDR.parse().expect("valid"));
            if overlaps(&pod, &service) {
                self.push(
                    Diagnostic::error(
                        "cidr-overlap",
                        &at.at("service_cidr"),
                        format!("service network {service} overlaps pod network {pod}"),
                    )
                    .hint("K3s defaults are 10.42.0.0/16 for pods and 10.43.0.0/16 for services"),
                );
            }
            for lab_network in &self.lab.networks {
                for (key, range) in [("pod_cidr", pod), ("service_cidr", service)] {
                    if overlaps(&range, &lab_network.cidr.trunc()) {
                        self.push(
                            Diagnostic::error("cidr-overlap", &at.at(key), format!("{} {range} overlaps network `{}` ({})", key.replace('_', " "), lab_network.name, lab_network.cidr))
                                .hint("pod and service networks must not overlap the networks nodes live on; pick another private range"),
                        );
                    }
                }
            }
        }
        self.addons(cluster, network);
        if let Some(backups) = &cluster.backups {
            self.backups(
                &at.at("backups"),
                backups,
                cluster.datastore == Datastore::EmbeddedEtcd,
            );
        }
        let environment_names: Vec<&str> = self
            .lab
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        for (index, environment) in cluster.environments.iter().enumerate() {
            self.reference(
                &at.at("environments").index(index),
                "environment",
                environment,
                environment_names.iter().copied(),
            );
        }
    }

    pub(super) fn version(&mut self, cluster: &Cluster) {
        let version = cluster.version.as_str();
        let core = version.strip_prefix('v').unwrap_or(version);
        let (numbers, suffix) = core
            .split_once('+')
            .map_or((core, None), |(n, s)| (n, Some(s)));
        let numeric = numbers.split('.').count() == 3
            && numbers
                .split('.')
                .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()));
        let (valid, example) = match cluster.distribution {
            Distribution::K3s => (
                version.starts_with('v') && numeric && suffix.is_some_and(|s| s.starts_with("k3s")),
                "v1.31.4+k3s1",
            ),
            Distribution::Kubeadm => (numeric && suffix.is_none(), "v1.29.6"),
            Distribution::Talos => (numeric && suffix.is_none(), "v1.8.3"),
        };
        if !valid {
            self.push(
                Diagnostic::error(
                    "invalid-version",
                    &cluster.source.at("version"),
                    format!(
                        "`{version}` is not a {} version",
                        cluster.distribution.as_str()
                    ),
                )
                .hint(format!("write a release tag such as `{example}`")),
            );
        }
        if let Some(kubernetes) = &cluster.kubernetes_version {
            let at = cluster.source.at("kubernetes_version");
            if cluster.distribution != Distribution::Talos {
                self.push(
                    Diagnostic::error(
                        "kubernetes-version",
                        &at,
                        format!(
                            "`kubernetes_version` is for Talos clusters; a {} cluster's `version` is its Kubernetes version",
                            cluster.distribution.as_str()
                        ),
                    )
                    .hint("remove it and set `version:`"),
                );
            } else {
                let numbers = kubernetes.strip_prefix('v').unwrap_or_default();
                let parts: Vec<&str> = numbers.split('.').collect();
                let valid = parts.len() == 3
                    && parts
                        .iter()
                        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()));
                if !valid {
                    self.push(
                        Diagnostic::error(
                            "kubernetes-version",
                            &at,
                            format!("`{kubernetes}` is not a Kubernetes version"),
                        )
                        .hint("write a release tag such as `v1.31.2` (Talos pulls that tag of the kubelet and control-plane images)"),
                    );
                }
            }
        }
    }

    /// `system_extensions`: Talos's alone, each an official extension's `owner/name`.
    fn system_extensions(&mut self, cluster: &Cluster) {
        let at = cluster.source.at("system_extensions");
        if cluster.system_extensions.is_empty() {
            return;
        }
        if cluster.distribution != Distribution::Talos {
            self.push(
                Diagnostic::error(
                    "system-extensions",
                    &at,
                    format!(
                        "`system_extensions` are for Talos clusters; a {} cluster's nodes install packages",
                        cluster.distribution.as_str()
                    ),
                )
                .hint("remove it, and list packages under the lab's or the VM's `cloud_init.packages`"),
            );
            return;
        }
        for (index, name) in cluster.system_extensions.iter().enumerate() {
            if !labform_ids::is_extension_name(name) {
                self.push(
                    Diagnostic::error(
                        "system-extensions",
                        &at.index(index),
                        format!("`{name}` is not the name of an official Talos system extension"),
                    )
                    .hint("write it as Image Factory lists it, `owner/name` in lower case, such as `siderolabs/intel-ucode`"),
                );
            }
        }
    }

    pub(super) fn group(&mut self, at: &Source, group: &NodeGroup, server: bool) {
        self.sizes(at, group.cpu, group.memory);
        if server
            && group.memory < crate::units::ByteSize::gib(1)
            && group.memory >= crate::units::ByteSize::mib(256)
        {
            self.push(
                Diagnostic::warning(
                    "small-server",
                    &at.at("memory"),
                    format!("{} is little for a Kubernetes server", group.memory),
                )
                .hint("K3s servers want at least 2GiB"),
            );
        }
        self.image_reference(at, group.image.as_ref(), true);
        self.placement(&at.at("placement"), &group.placement, group.count);
        self.disks(&at.at("disks"), &group.disks, &group.placement);
        for (index, taint) in group.taints.iter().enumerate() {
            let valid = taint.split_once(':').is_some_and(|(_, effect)| {
                matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
            });
            if !valid {
                self.push(
                    Diagnostic::error(
                        "invalid-taint",
                        &at.at("taints").index(index),
                        format!("`{taint}` is not a taint"),
                    )
                    .hint("write `key=value:NoSchedule` (or PreferNoSchedule, NoExecute)"),
                );
            }
        }
        for (index, label) in group.labels.iter().enumerate() {
            self.label(&at.at("labels").index(index), label, true);
        }
        for (index, label) in group.api_labels.iter().enumerate() {
            self.label(&at.at("api_labels").index(index), label, false);
        }
        if let Some(additions) = &group.cloud_init {
            self.cloud_init_additions(&at.at("cloud_init"), additions);
        }
    }

    /// A node label `key=value`: its syntax and, for labels the node registers with, the
    /// kubelet's rule on Kubernetes namespaces.
    fn label(&mut self, at: &Source, label: &str, at_registration: bool) {
        let Some(parsed) = crate::labels::split_label(label) else {
            self.push(
                Diagnostic::error("invalid-label", at, format!("`{label}` is not a label"))
                    .hint("write `key=value`"),
            );
            return;
        };
        if let Some(problem) = crate::labels::key_problem(parsed.key)
            .map(|problem| format!("key `{}`: {problem}", parsed.key))
            .or_else(|| crate::labels::value_problem(parsed.value))
        {
            self.push(
                Diagnostic::error("invalid-label", at, format!("`{label}` is not a label: {problem}"))
                    .hint("a key is an optional DNS-subdomain prefix and `/`, then a name of at most 63 letters, digits, `-`, `_` and `.` starting and ending with a letter or digit; a value is empty or such a name"),
            );
            return;
        }
        if at_registration && crate::labels::kubelet_refuses(parsed.key) {
            self.push(
                Diagnostic::error(
                    "reserved-label",
                    at,
                    format!(
                        "the kubelet refuses `{}` at registration: a node may not give itself labels under `kubernetes.io` or `k8s.io` other than `node.kubernetes.io/...`, `kubelet.kubernetes.io/...` and the well-known topology, OS and instance-type keys; the node would never join",
                        parsed.key
                    ),
                )
                .hint(format!(
                    "move `{label}` to `api_labels:`, which labform sets through the API once the node has joined, or use a key of your own such as `node.kubernetes.io/{}`",
                    parsed.key.rsplit('/').next().unwrap_or_default()
                )),
            );
        }
    }

    pub(super) fn backups(&mut self, at: &Source, backups: &Backups, etcd: bool) {
        if let Some(storage) = &backups.storage {
            let found = self
                .lab
                .proxmox
                .iter()
                .flat_map(|e| e.storages.iter())
                .find(|s| &s.name == storage);
            match found {
                None => {
                    let known: Vec<&str> = self
                        .lab
                        .proxmox
                        .iter()
                        .flat_map(|e| e.storages.iter())
                        .filter(|s| s.content.contains(&StorageContent::Backup))
                        .map(|s| s.name.as_str())
                        .collect();
                    self.reference(&at.at("storage"), "storage", storage, known.iter().copied());
                }
                Some(found) if !found.content.contains(&StorageContent::Backup) => self.push(
                    Diagnostic::error(
                        "storage-content",
                        &at.at("storage"),
                        format!("storage `{storage}` cannot hold backups"),
                    )
                    .hint("choose a storage with `backup` in its content"),
                ),
                Some(_) => {}
            }
        } else if backups.vzdump_schedule.is_some() {
            self.push(
                Diagnostic::error("missing-field", at, "a vzdump schedule needs a storage")
                    .hint("add `storage:` naming a storage with `backup` content"),
            );
        }
        if let Some(schedule) = &backups.vzdump_schedule
            && let Err(problem) = crate::schedule::check_calendar_event(schedule)
        {
            self.push(
                Diagnostic::error(
                    "invalid-schedule",
                    &at.at("vzdump_schedule"),
                    format!("`{schedule}` is not a Proxmox calendar event: {problem}"),
                )
                .hint("write e.g. `daily`, `sat 02:00`, `mon..fri 21:00` or `*-*-01 03:00` (Proxmox's calendar-event syntax, not cron)"),
            );
        }
        if let Some(schedule) = &backups.etcd_snapshot_schedule
            && let Err(problem) = crate::schedule::check_cron(schedule)
        {
            self.push(
                Diagnostic::error(
                    "invalid-schedule",
                    &at.at("etcd_snapshot_schedule"),
                    format!("`{schedule}` is not a cron expression K3s can read: {problem}"),
                )
                .hint("write five fields, minute hour day-of-month month day-of-week, e.g. `0 */6 * * *`, or `@daily`; K3s ignores a schedule it cannot parse and never takes a snapshot"),
            );
        }
        for (field, value, what) in [
            ("keep", backups.keep, "backups"),
            (
                "etcd_snapshot_retention",
                backups.etcd_snapshot_retention,
                "etcd snapshots",
            ),
        ] {
            if value == Some(0) {
                self.push(
                    Diagnostic::error(
                        "zero-retention",
                        &at.at(field),
                        format!("keeping 0 {what} never prunes old ones"),
                    )
                    .hint(format!(
                        "keep at least 1 (leave `{field}` out for the default)"
                    )),
                );
            }
        }
        if !etcd && backups.etcd_snapshot_schedule.is_some() {
            self.push(
                Diagnostic::error(
                    "etcd-snapshots",
                    &at.at("etcd_snapshot_schedule"),
                    "etcd snapshots need embedded etcd",
                )
                .hint("remove the schedule, or use `datastore: embedded-etcd`"),
            );
        }
    }
}
