//! Structural checks of a merged lab: names, references, networks and pools, cluster shape,
//! add-on dependencies, tenants and environments.
//!
//! These checks need no allocation. Checks that do (pool exhaustion, node capacity, VM ID ranges,
//! generated names) run in `labform-planner`, which reports through the same [`Diagnostic`] type.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use labform_ids::is_dns_label;

use crate::addons::{AddonKind, SecretProvider};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::lab::*;
use crate::source::Source;
use crate::units::IdRange;

/// Default pod network of a cluster.
pub const DEFAULT_POD_CIDR: &str = "10.42.0.0/16";
/// Default service network of a cluster.
pub const DEFAULT_SERVICE_CIDR: &str = "10.43.0.0/16";

/// Runs every structural check and returns what it found (errors and warnings).
pub fn validate(lab: &LabFile) -> Vec<Diagnostic> {
    let mut checker = Checker {
        lab,
        out: Vec::new(),
    };
    checker.run();
    checker.out
}

struct Checker<'a> {
    lab: &'a LabFile,
    out: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn run(&mut self) {
        self.lab_identity();
        self.unique_names();
        self.defaults();
        for endpoint in &self.lab.proxmox {
            self.endpoint(endpoint);
        }
        for image in &self.lab.images {
            self.image(image);
        }
        self.networks();
        for cluster in &self.lab.clusters {
            self.cluster(cluster);
        }
        for vm in &self.lab.vms {
            self.plain_vm(vm);
        }
        self.environments();
        self.tenants();
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.out.push(diagnostic);
    }

    fn dns_name(&mut self, at: &Source, what: &str, name: &str) {
        if !is_dns_label(name) {
            let suggestion: String = name
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect::<String>()
                .trim_matches('-')
                .chars()
                .take(63)
                .collect();
            let mut diagnostic = Diagnostic::error(
                "invalid-name",
                at,
                format!("{what} name `{name}` is not DNS-safe"),
            );
            diagnostic = if suggestion.is_empty() {
                diagnostic.hint("use 1 to 63 lowercase letters, digits and `-`, not starting or ending with `-`")
            } else {
                diagnostic.hint(format!(
                    "use 1 to 63 lowercase letters, digits and `-`, not starting or ending with `-`, e.g. `{suggestion}`"
                ))
            };
            self.push(diagnostic);
        }
    }

    /// Reports `name` unless it is among `known`; returns whether it was found.
    fn reference<'n>(
        &mut self,
        at: &Source,
        what: &str,
        name: &str,
        known: impl IntoIterator<Item = &'n str> + Clone,
    ) -> bool {
        if known.clone().into_iter().any(|candidate| candidate == name) {
            return true;
        }
        let known: Vec<&str> = known.into_iter().collect();
        let hint = match did_you_mean(name, known.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if known.is_empty() => format!("declare a {what} named `{name}` first"),
            None => format!("known {what}s: {}", known.join(", ")),
        };
        self.push(
            Diagnostic::error("unknown-reference", at, format!("unknown {what} `{name}`"))
                .hint(hint),
        );
        false
    }

    fn lab_identity(&mut self) {
        let root = self.lab.source.clone();
        match &self.lab.lab {
            None => self.push(
                Diagnostic::error("missing-lab-name", &root, "the lab has no name")
                    .hint("add `lab: my-lab` at the top of the root file; it is written on every VM labform owns"),
            ),
            Some(name) => self.dns_name(&root.at("lab"), "lab", name),
        }
        if let Some(scope) = &self.lab.scope {
            self.dns_name(&root.at("scope"), "scope", scope);
        }
        let has_vms = !self.lab.clusters.is_empty() || !self.lab.vms.is_empty();
        if has_vms && self.lab.proxmox.is_empty() {
            self.push(
                Diagnostic::error(
                    "no-proxmox",
                    &root,
                    "the lab has VMs but no Proxmox endpoint",
                )
                .hint("add a `proxmox:` section with the endpoint, its nodes and storages"),
            );
        }
    }

    fn unique_names(&mut self) {
        fn check<'x>(
            out: &mut Vec<Diagnostic>,
            what: &str,
            items: impl Iterator<Item = (&'x str, &'x Source)>,
        ) {
            let mut seen: HashMap<&str, &Source> = HashMap::new();
            for (name, source) in items {
                if let Some(first) = seen.get(name) {
                    out.push(
                        Diagnostic::error(
                            "duplicate-name",
                            &source.at("name"),
                            format!("{what} `{name}` is declared twice"),
                        )
                        .note(format!("first declared at {}", first.path))
                        .hint(format!("rename one of them; {what} names must be unique")),
                    );
                } else {
                    seen.insert(name, source);
                }
            }
        }
        let lab = self.lab;
        let out = &mut self.out;
        check(
            out,
            "proxmox endpoint",
            lab.proxmox.iter().map(|e| (e.name.as_str(), &e.source)),
        );
        check(
            out,
            "image",
            lab.images.iter().map(|i| (i.name.as_str(), &i.source)),
        );
        check(
            out,
            "network",
            lab.networks.iter().map(|n| (n.name.as_str(), &n.source)),
        );
        check(
            out,
            "cluster",
            lab.clusters.iter().map(|c| (c.name.as_str(), &c.source)),
        );
        check(
            out,
            "VM",
            lab.vms.iter().map(|v| (v.name.as_str(), &v.source)),
        );
        check(
            out,
            "environment",
            lab.environments
                .iter()
                .map(|e| (e.name.as_str(), &e.source)),
        );
        check(
            out,
            "tenant",
            lab.tenants.iter().map(|t| (t.name.as_str(), &t.source)),
        );
        for endpoint in &lab.proxmox {
            check(
                out,
                "Proxmox node",
                endpoint.nodes.iter().map(|n| (n.name.as_str(), &n.source)),
            );
            check(
                out,
                "storage",
                endpoint
                    .storages
                    .iter()
                    .map(|s| (s.name.as_str(), &s.source)),
            );
        }
        for (index, network) in lab.networks.iter().enumerate() {
            let _ = index;
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (pool_index, pool) in network.pools.iter().enumerate() {
                if seen.insert(pool.name.as_str(), pool_index).is_some() {
                    out.push(
                        Diagnostic::error(
                            "duplicate-name",
                            &network.source.at("pools").index(pool_index).at("name"),
                            format!(
                                "pool `{}` is declared twice in network `{}`",
                                pool.name, network.name
                            ),
                        )
                        .hint("rename one of them; pool names are unique within a network"),
                    );
                }
            }
        }
        // Clusters and plain VMs share one namespace: both become VM names.
        for vm in &lab.vms {
            if lab.clusters.iter().any(|cluster| cluster.name == vm.name) {
                out.push(
                    Diagnostic::error(
                        "duplicate-name",
                        &vm.source.at("name"),
                        format!("VM `{}` has the name of a cluster", vm.name),
                    )
                    .hint("VM and cluster names become host names; make them different"),
                );
            }
        }
    }

    fn defaults(&mut self) {
        let Some(defaults) = &self.lab.defaults else {
            return;
        };
        if let Some(user) = &defaults.user {
            let valid = !user.is_empty()
                && user.len() <= 32
                && user.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && user
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !valid || user == "root" {
                self.push(
                    Diagnostic::error(
                        "invalid-user",
                        &defaults.source.at("user"),
                        format!("`{user}` cannot be the login user"),
                    )
                    .hint("use a lowercase Linux user name other than root, e.g. `labform`"),
                );
            }
        }
        for (index, key) in defaults.ssh_keys.iter().enumerate() {
            let at = defaults.source.at("ssh_keys").index(index);
            if key.contains("PRIVATE KEY") {
                let mut diagnostic = Diagnostic::error("inline-secret", &at, "a private key is written inline")
                    .hint("`ssh_keys` takes public keys (`ssh-ed25519 AAAA... you@host`); never put a private key in a lab file");
                diagnostic.hide_source_line = true;
                self.push(diagnostic);
                continue;
            }
            let mut parts = key.split_whitespace();
            let algorithm = parts.next().unwrap_or_default();
            let body = parts.next().unwrap_or_default();
            let known = algorithm.starts_with("ssh-")
                || algorithm.starts_with("ecdsa-sha2-")
                || algorithm.starts_with("sk-");
            if !known || !body.starts_with("AAAA") {
                self.push(
                    Diagnostic::error("invalid-ssh-key", &at, "this is not an OpenSSH public key")
                        .hint("paste the line of your `~/.ssh/id_ed25519.pub`: `ssh-ed25519 AAAA... comment`"),
                );
            }
        }
        if let Some(image) = &defaults.image {
            let known: Vec<&str> = self.lab.images.iter().map(|i| i.name.as_str()).collect();
            self.reference(
                &defaults.source.at("image"),
                "image",
                image,
                known.iter().copied(),
            );
        }
    }

    fn endpoint(&mut self, endpoint: &ProxmoxEndpoint) {
        let at = &endpoint.source;
        self.dns_name(&at.at("name"), "proxmox endpoint", &endpoint.name);
        match endpoint.endpoint.split_once("://") {
            Some(("https", rest)) if !rest.is_empty() && !rest.starts_with('/') => {}
            Some(("http", _)) => self.push(
                Diagnostic::error("insecure-endpoint", &at.at("endpoint"), "the Proxmox API is reached over plain HTTP")
                    .hint("use `https://`; pin the certificate with `fingerprint:` if it is self-signed (`labform fingerprint URL` shows it)"),
            ),
            _ => self.push(
                Diagnostic::error("invalid-url", &at.at("endpoint"), format!("`{}` is not an https URL", endpoint.endpoint))
                    .hint("write the API address like `https://pve1.lan:8006`"),
            ),
        }
        if let Some(fingerprint) = &endpoint.fingerprint {
            let hex: String = fingerprint.chars().filter(|c| *c != ':').collect();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                self.push(
                    Diagnostic::error("invalid-fingerprint", &at.at("fingerprint"), "the fingerprint is not a SHA-256 fingerprint")
                        .hint("write 32 hex bytes separated by colons (`AB:CD:...`); `labform fingerprint URL` prints it"),
                );
            }
        }
        match &endpoint.credentials {
            Credentials::Token(token) => {
                let valid = token
                    .id
                    .split_once('@')
                    .and_then(|(user, rest)| {
                        rest.split_once('!').map(|(realm, id)| (user, realm, id))
                    })
                    .is_some_and(|(user, realm, id)| {
                        !user.is_empty() && !realm.is_empty() && !id.is_empty()
                    });
                if !valid {
                    self.push(
                        Diagnostic::error(
                            "invalid-token-id",
                            &at.at("credentials.token.id"),
                            format!("`{}` is not an API token ID", token.id),
                        )
                        .hint("write USER@REALM!TOKENID, e.g. `labform@pve!homelab`"),
                    );
                }
            }
            Credentials::Password(password) => {
                if password
                    .user
                    .split_once('@')
                    .is_none_or(|(user, realm)| user.is_empty() || realm.is_empty())
                {
                    self.push(
                        Diagnostic::error(
                            "invalid-user",
                            &at.at("credentials.password.user"),
                            format!("`{}` is not a Proxmox user", password.user),
                        )
                        .hint("write USER@REALM, e.g. `root@pam`"),
                    );
                }
            }
        }
        if endpoint.nodes.is_empty() {
            self.push(
                Diagnostic::error(
                    "no-nodes",
                    &at.at("nodes"),
                    format!("proxmox endpoint `{}` has no nodes", endpoint.name),
                )
                .hint(
                    "list the Proxmox nodes with their `cpu` and `memory` so labform can place VMs",
                ),
            );
        }
        for node in &endpoint.nodes {
            self.dns_name(&node.source.at("name"), "Proxmox node", &node.name);
            if node.cpu == 0 {
                self.push(
                    Diagnostic::error(
                        "invalid-capacity",
                        &node.source.at("cpu"),
                        "a node needs at least one CPU",
                    )
                    .hint("write the node's hardware threads"),
                );
            }
            if node.memory.bytes() == 0 {
                self.push(
                    Diagnostic::error(
                        "invalid-capacity",
                        &node.source.at("memory"),
                        "a node needs memory",
                    )
                    .hint("write the memory VMs may use, e.g. `64GiB`"),
                );
            }
        }
        let node_names: Vec<&str> = endpoint.nodes.iter().map(|n| n.name.as_str()).collect();
        for storage in &endpoint.storages {
            if storage.content.is_empty() {
                self.push(
                    Diagnostic::error(
                        "storage-content",
                        &storage.source.at("content"),
                        format!("storage `{}` holds nothing", storage.name),
                    )
                    .hint(
                        "list what it may hold: images (VM disks), iso, import, backup, snippets",
                    ),
                );
            }
            for (index, node) in storage.nodes.iter().enumerate() {
                self.reference(
                    &storage.source.at("nodes").index(index),
                    "Proxmox node",
                    node,
                    node_names.iter().copied(),
                );
            }
        }
        if !endpoint
            .storages
            .iter()
            .any(|s| s.content.contains(&StorageContent::Images))
        {
            self.push(
                Diagnostic::error(
                    "storage-content",
                    &at.at("storages"),
                    format!(
                        "proxmox endpoint `{}` has no storage for VM disks",
                        endpoint.name
                    ),
                )
                .hint("give one storage `content: [images]`"),
            );
        }
        for (key, ratio) in [
            ("cpu", endpoint.overcommit.cpu),
            ("memory", endpoint.overcommit.memory),
            ("storage", endpoint.overcommit.storage),
        ] {
            if !(ratio.is_finite() && (1.0..=64.0).contains(&ratio)) {
                self.push(
                    Diagnostic::error(
                        "invalid-overcommit",
                        &at.at("overcommit").at(key),
                        format!("overcommit ratio {ratio} is out of range"),
                    )
                    .hint("ratios run from 1.0 (no overcommit) to 64.0"),
                );
            } else if key == "memory" && ratio > 1.5 {
                self.push(
                    Diagnostic::warning(
                        "risky-overcommit",
                        &at.at("overcommit.memory"),
                        format!("memory overcommit {ratio} invites the OOM killer"),
                    )
                    .hint("keep memory overcommit at or below 1.5 unless ballooning is tuned"),
                );
            }
        }
        let vm_ids = endpoint.vm_ids.unwrap_or(IdRange {
            first: 1000,
            last: 8999,
        });
        let template_ids = endpoint.template_ids.unwrap_or(IdRange {
            first: 9000,
            last: 9999,
        });
        for (key, range) in [("vm_ids", vm_ids), ("template_ids", template_ids)] {
            if range.first < 100 || range.last > 999_999_999 {
                self.push(
                    Diagnostic::error(
                        "invalid-id-range",
                        &at.at(key),
                        format!("VM ID range {range} leaves Proxmox's 100-999999999"),
                    )
                    .hint("Proxmox reserves IDs below 100; pick a range such as 1000-8999"),
                );
            }
        }
        if vm_ids.overlaps(&template_ids) {
            self.push(
                Diagnostic::error(
                    "id-range-overlap",
                    &at.at("template_ids"),
                    format!("template IDs {template_ids} overlap VM IDs {vm_ids}"),
                )
                .hint("give templates their own range, e.g. `template_ids: 9000-9999`"),
            );
        }
        if let Some(pool) = &endpoint.pool {
            self.dns_name(&at.at("pool"), "Proxmox pool", pool);
        }
    }

    fn image(&mut self, image: &Image) {
        let at = &image.source;
        self.dns_name(&at.at("name"), "image", &image.name);
        if !(image.url.starts_with("https://") || image.url.starts_with("http://"))
            || image.url.len() < 10
        {
            self.push(
                Diagnostic::error(
                    "invalid-url",
                    &at.at("url"),
                    format!("`{}` is not an http(s) URL", image.url),
                )
                .hint("Proxmox downloads images itself (download-url); give a URL it can reach"),
            );
        }
        let valid = match image.checksum.split_once(':') {
            Some(("sha256", hex)) => hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            Some(("sha512", hex)) => hex.len() == 128 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            _ => false,
        };
        if !valid {
            self.push(
                Diagnostic::error(
                    "invalid-checksum",
                    &at.at("checksum"),
                    "the checksum is not `sha256:<64 hex>` or `sha512:<128 hex>`",
                )
                .hint("copy the image's SHA256SUMS line and write `sha256:` before the hex digest"),
            );
        }
        if let Some(storage) = &image.storage {
            let mut found = false;
            for endpoint in &self.lab.proxmox {
                if let Some(declared) = endpoint.storages.iter().find(|s| &s.name == storage) {
                    found = true;
                    let accepts = declared
                        .content
                        .iter()
                        .any(|c| matches!(c, StorageContent::Iso | StorageContent::Import));
                    if !accepts {
                        self.push(
                            Diagnostic::error(
                                "storage-content",
                                &at.at("storage"),
                                format!("storage `{storage}` cannot hold downloaded images"),
                            )
                            .hint("download-url needs a storage with `iso` or `import` content"),
                        );
                    }
                }
            }
            if !found {
                let known: Vec<&str> = self
                    .lab
                    .proxmox
                    .iter()
                    .flat_map(|e| e.storages.iter().map(|s| s.name.as_str()))
                    .collect();
                self.reference(&at.at("storage"), "storage", storage, known.iter().copied());
            }
        }
    }

    fn networks(&mut self) {
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

    fn address_in_subnet(&mut self, at: &Source, what: &str, address: Ipv4Addr, subnet: &Ipv4Net) {
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

    fn network(&self, name: &str) -> Option<&'a Network> {
        self.lab
            .networks
            .iter()
            .find(|network| network.name == name)
    }

    fn network_names(&self) -> Vec<&'a str> {
        self.lab.networks.iter().map(|n| n.name.as_str()).collect()
    }

    /// Checks a pool reference of `purpose` on `network`.
    fn pool_reference(&mut self, at: &Source, network: &Network, pool: &str, purpose: PoolPurpose) {
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

    fn placement(&mut self, at: &Source, placement: &Placement, count: u32) {
        let endpoint = match &placement.proxmox {
            Some(name) => {
                let known: Vec<&str> = self.lab.proxmox.iter().map(|e| e.name.as_str()).collect();
                if !self.reference(
                    &at.at("proxmox"),
                    "proxmox endpoint",
                    name,
                    known.iter().copied(),
                ) {
                    return;
                }
                self.lab.proxmox.iter().find(|e| &e.name == name)
            }
            None if self.lab.proxmox.len() > 1 => {
                self.push(
                    Diagnostic::error(
                        "ambiguous-endpoint",
                        at,
                        "the lab has several Proxmox endpoints and this group names none",
                    )
                    .hint(format!(
                        "add `placement: {{proxmox: {}}}`",
                        self.lab.proxmox[0].name
                    )),
                );
                return;
            }
            None => self.lab.proxmox.first(),
        };
        let Some(endpoint) = endpoint else { return };
        let node_names: Vec<&str> = endpoint.nodes.iter().map(|n| n.name.as_str()).collect();
        for (index, node) in placement.nodes.iter().enumerate() {
            self.reference(
                &at.at("nodes").index(index),
                "Proxmox node",
                node,
                node_names.iter().copied(),
            );
            if placement.nodes[..index].contains(node) {
                self.push(
                    Diagnostic::error(
                        "duplicate-name",
                        &at.at("nodes").index(index),
                        format!("node `{node}` is listed twice"),
                    )
                    .hint("list each node once"),
                );
            }
        }
        let allowed = if placement.nodes.is_empty() {
            endpoint.nodes.len()
        } else {
            placement.nodes.len()
        };
        if placement.anti_affinity == AntiAffinity::Required && count as usize > allowed {
            self.push(
                Diagnostic::error("anti-affinity", &at.at("anti_affinity"), format!("{count} VMs must run on different nodes but only {allowed} node(s) are allowed"))
                    .hint("allow more nodes, lower the count, or use `anti_affinity: preferred`"),
            );
        }
    }

    fn disks(&mut self, at: &Source, disks: &[Disk], placement: &Placement) {
        let endpoint = match &placement.proxmox {
            Some(name) => self.lab.proxmox.iter().find(|e| &e.name == name),
            None => self.lab.proxmox.first(),
        };
        for (index, disk) in disks.iter().enumerate() {
            let disk_at = at.index(index);
            if disk.size < crate::units::ByteSize::gib(1) {
                self.push(
                    Diagnostic::error(
                        "disk-too-small",
                        &disk_at.at("size"),
                        format!("a disk of {} is too small", disk.size),
                    )
                    .hint("disks start at 1GiB; a boot disk needs several"),
                );
            }
            if let (Some(storage), Some(endpoint)) = (&disk.storage, endpoint) {
                match endpoint.storages.iter().find(|s| &s.name == storage) {
                    None => {
                        let known: Vec<&str> = endpoint
                            .storages
                            .iter()
                            .filter(|s| s.content.contains(&StorageContent::Images))
                            .map(|s| s.name.as_str())
                            .collect();
                        self.reference(
                            &disk_at.at("storage"),
                            "storage",
                            storage,
                            known.iter().copied(),
                        );
                    }
                    Some(found) if !found.content.contains(&StorageContent::Images) => self.push(
                        Diagnostic::error(
                            "storage-content",
                            &disk_at.at("storage"),
                            format!("storage `{storage}` cannot hold VM disks"),
                        )
                        .hint("choose a storage with `images` in its content"),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    fn sizes(&mut self, at: &Source, cpu: u32, memory: crate::units::ByteSize) {
        if cpu == 0 {
            self.push(
                Diagnostic::error(
                    "invalid-size",
                    &at.at("cpu"),
                    "a VM needs at least one vCPU",
                )
                .hint("write `cpu: 1` or more"),
            );
        }
        if memory < crate::units::ByteSize::mib(256) {
            self.push(
                Diagnostic::error(
                    "invalid-size",
                    &at.at("memory"),
                    format!("{memory} of memory is too little to boot"),
                )
                .hint("give at least 512MiB; K3s servers want 2GiB"),
            );
        }
    }

    fn image_reference(&mut self, at: &Source, image: Option<&String>, cloud_only: bool) {
        let image = image.or(self.lab.defaults.as_ref().and_then(|d| d.image.as_ref()));
        let Some(image) = image else {
            self.push(
                Diagnostic::error("missing-image", at, "no image to boot")
                    .hint("set `image:` here or `defaults.image`"),
            );
            return;
        };
        let known: Vec<&str> = self.lab.images.iter().map(|i| i.name.as_str()).collect();
        if !self.reference(&at.at("image"), "image", image, known.iter().copied()) {
            return;
        }
        let declared = self
            .lab
            .images
            .iter()
            .find(|i| &i.name == image)
            .expect("found above");
        if cloud_only && declared.kind == ImageKind::Iso {
            self.push(
                Diagnostic::error(
                    "image-kind",
                    &at.at("image"),
                    format!("image `{image}` is an ISO; Kubernetes nodes clone a cloud image"),
                )
                .hint("use a cloud image with cloud-init (kind: cloud-image)"),
            );
        }
    }

    fn cluster(&mut self, cluster: &Cluster) {
        let at = &cluster.source;
        self.dns_name(&at.at("name"), "cluster", &cluster.name);
        self.version(cluster);
        if cluster.distribution != Distribution::K3s {
            self.push(
                Diagnostic::warning(
                    "distribution-preview",
                    &at.at("distribution"),
                    format!("labform plans {} clusters and builds their VMs, but does not bootstrap {} yet", cluster.distribution.as_str(), cluster.distribution.as_str()),
                )
                .hint("K3s is the first distribution labform bootstraps; kubeadm and Talos follow. Until then, bootstrap this cluster by hand after `apply`"),
            );
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

    fn version(&mut self, cluster: &Cluster) {
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
    }

    fn group(&mut self, at: &Source, group: &NodeGroup, server: bool) {
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
            if label.split_once('=').is_none_or(|(key, _)| key.is_empty()) {
                self.push(
                    Diagnostic::error(
                        "invalid-label",
                        &at.at("labels").index(index),
                        format!("`{label}` is not a label"),
                    )
                    .hint("write `key=value`"),
                );
            }
        }
    }

    fn addons(&mut self, cluster: &Cluster, network: Option<&Network>) {
        let at = cluster.source.at("addons");
        let addons = &cluster.addons;
        if let (Some(metallb), Some(network)) = (&addons.metallb, network) {
            self.pool_reference(
                &at.at("metallb.pool"),
                network,
                &metallb.pool,
                PoolPurpose::LoadBalancers,
            );
            if let Some(pool) = network.pools.iter().find(|p| p.name == metallb.pool) {
                let wanted = u64::from(metallb.addresses.unwrap_or(8));
                if wanted == 0 {
                    self.push(
                        Diagnostic::error(
                            "invalid-size",
                            &at.at("metallb.addresses"),
                            "MetalLB needs at least one address",
                        )
                        .hint("set `addresses: 1` or more"),
                    );
                }
                for (index, reserved) in metallb.reserved.iter().enumerate() {
                    if !pool.range.contains(reserved.address) {
                        self.push(
                            Diagnostic::error(
                                "address-outside-pool",
                                &at.at("metallb.reserved").index(index).at("address"),
                                format!(
                                    "{} is not in pool `{}` ({})",
                                    reserved.address, pool.name, pool.range
                                ),
                            )
                            .hint("dedicated service addresses come from the MetalLB pool"),
                        );
                    }
                }
            }
        }
        for kind in addons.enabled() {
            for required in kind.requires() {
                if !addons.has(*required) {
                    self.push(
                        Diagnostic::error(
                            "addon-dependency",
                            &at.at(kind.key()),
                            format!(
                                "{} needs {} in the same cluster",
                                kind.key(),
                                required.key()
                            ),
                        )
                        .hint(format!(
                            "add `{}: {{}}` to this cluster's add-ons",
                            required.key()
                        )),
                    );
                }
            }
            let lb_provider = addons.metallb.is_some() || cluster.distribution == Distribution::K3s;
            let uses_lb = match kind {
                AddonKind::Traefik => addons
                    .traefik
                    .as_ref()
                    .is_some_and(|t| t.service_type == crate::addons::ServiceType::LoadBalancer),
                other => other.needs_load_balancer(),
            };
            if uses_lb && !lb_provider {
                self.push(
                    Diagnostic::error("addon-needs-load-balancer", &at.at(kind.key()), format!("{} publishes a LoadBalancer service but nothing in this {} cluster provides load balancers", kind.key(), cluster.distribution.as_str()))
                        .hint("add `metallb: {pool: ...}` with a load-balancers pool"),
                );
            }
        }
        if addons.gitlab.is_some()
            && addons.traefik.is_none()
            && addons.envoy_gateway.is_none()
            && cluster.distribution != Distribution::K3s
        {
            self.push(
                Diagnostic::error(
                    "addon-dependency",
                    &at.at("gitlab"),
                    "GitLab needs an ingress",
                )
                .hint("add `traefik: {}` or `envoy_gateway: {}`"),
            );
        }
        if let Some(longhorn) = &addons.longhorn {
            let nodes = cluster.servers.count + cluster.agents.iter().map(|g| g.count).sum::<u32>();
            let replicas = longhorn.replicas.unwrap_or(3.min(nodes.max(1)));
            if replicas == 0 || replicas > nodes {
                self.push(
                    Diagnostic::error(
                        "longhorn-replicas",
                        &at.at("longhorn.replicas"),
                        format!("{replicas} Longhorn replicas on a cluster of {nodes} node(s)"),
                    )
                    .hint(format!(
                        "replicas must be between 1 and the node count ({nodes})"
                    )),
                );
            }
        }
        if let Some(external) = &addons.external_secrets {
            self.external_secrets(cluster, &at.at("external_secrets"), external);
        }
        if let Some(cert_manager) = &addons.cert_manager {
            for (index, issuer) in cert_manager.issuers.iter().enumerate() {
                let issuer_at = at.at("cert_manager.issuers").index(index);
                use crate::addons::IssuerKind;
                if matches!(issuer.kind, IssuerKind::AcmeHttp01 | IssuerKind::AcmeDns01)
                    && issuer.email.is_none()
                {
                    self.push(
                        Diagnostic::error(
                            "missing-field",
                            &issuer_at,
                            "ACME issuers need an account e-mail",
                        )
                        .hint("add `email: you@example.org`"),
                    );
                }
                if issuer.kind == IssuerKind::AcmeDns01
                    && (issuer.dns_provider.is_none() || issuer.dns_token.is_none())
                {
                    self.push(
                        Diagnostic::error(
                            "missing-field",
                            &issuer_at,
                            "DNS-01 issuers need `dns_provider` and `dns_token`",
                        )
                        .hint(
                            "add `dns_provider: cloudflare` and `dns_token: {env: CF_API_TOKEN}`",
                        ),
                    );
                }
                if issuer.kind == IssuerKind::AcmeHttp01
                    && addons.traefik.is_none()
                    && addons.envoy_gateway.is_none()
                    && cluster.distribution != Distribution::K3s
                {
                    self.push(
                        Diagnostic::error(
                            "addon-dependency",
                            &issuer_at,
                            "HTTP-01 challenges need an ingress",
                        )
                        .hint("add `traefik: {}` or use a DNS-01 issuer"),
                    );
                }
            }
        }
    }

    /// External Secrets: each provider's own fields, and Bitwarden's TLS through cert-manager.
    fn external_secrets(
        &mut self,
        cluster: &Cluster,
        at: &Source,
        external: &crate::addons::ExternalSecrets,
    ) {
        let provider = match external.provider {
            SecretProvider::Bitwarden => "Bitwarden",
            SecretProvider::Vault => "Vault",
        };
        for field in external.fields_of_other_provider() {
            let hint = match external.provider {
                SecretProvider::Bitwarden => {
                    "remove `url`; Bitwarden reads `api_url` and `identity_url` (both default to the US cloud)".to_owned()
                }
                SecretProvider::Vault => format!(
                    "remove `{field}`; it is a Bitwarden setting, and the Vault provider takes its address from `url`"
                ),
            };
            self.push(
                Diagnostic::error(
                    "provider-field",
                    &at.at(field),
                    format!("`{field}` is not a setting of the {provider} provider"),
                )
                .hint(hint),
            );
        }
        match external.provider {
            SecretProvider::Vault => {
                if external.url.is_none() {
                    self.push(
                        Diagnostic::error(
                            "missing-field",
                            at,
                            "External Secrets with Vault needs the Vault URL",
                        )
                        .hint("add `url: https://vault.example:8200`"),
                    );
                }
            }
            SecretProvider::Bitwarden => {
                for (field, value, what) in [
                    ("organization_id", &external.organization_id, "organization"),
                    ("project_id", &external.project_id, "project"),
                ] {
                    match value {
                        None => self.push(
                            Diagnostic::error(
                                "missing-field",
                                at,
                                format!("External Secrets with Bitwarden needs the {what} ID"),
                            )
                            .hint(format!(
                                "add `{field}: <UUID>`; the Secrets Manager web app shows it in the page address (`.../sm/<organization ID>/projects/<project ID>`)"
                            )),
                        ),
                        Some(id) if !is_uuid(id) => self.push(
                            Diagnostic::error(
                                "invalid-uuid",
                                &at.at(field),
                                format!("the Bitwarden {what} ID `{id}` is not a UUID"),
                            )
                            .hint(format!(
                                "write the {what} ID as 32 hexadecimal digits in groups of 8-4-4-4-12, e.g. `0f8e2a64-5c1b-4d7e-9a3f-6b2c8d1e4f70`"
                            )),
                        ),
                        Some(_) => {}
                    }
                }
                for field in ["api_url", "identity_url"] {
                    let value = if field == "api_url" {
                        &external.api_url
                    } else {
                        &external.identity_url
                    };
                    let Some(url) = value else { continue };
                    match url.split_once("://") {
                        Some(("https", rest)) if !rest.is_empty() && !rest.starts_with('/') => {}
                        Some(("http", _)) => self.push(
                            Diagnostic::error(
                                "insecure-endpoint",
                                &at.at(field),
                                format!("`{field}` sends the Bitwarden access token over plain HTTP"),
                            )
                            .hint("use `https://`"),
                        ),
                        _ => self.push(
                            Diagnostic::error(
                                "invalid-url",
                                &at.at(field),
                                format!("`{url}` is not an https URL"),
                            )
                            .hint("e.g. `https://api.bitwarden.eu` and `https://identity.bitwarden.eu` for the EU cloud"),
                        ),
                    }
                }
                if cluster.addons.cert_manager.is_none() {
                    self.push(
                        Diagnostic::error(
                            "addon-dependency",
                            &at.at("provider"),
                            "External Secrets with Bitwarden needs cert_manager in the same cluster",
                        )
                        .hint("add `cert_manager: {}`: the Bitwarden SDK server serves only HTTPS, and labform has cert-manager issue its certificate"),
                    );
                }
            }
        }
    }

    fn backups(&mut self, at: &Source, backups: &Backups, etcd: bool) {
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

    fn plain_vm(&mut self, vm: &PlainVm) {
        let at = &vm.source;
        self.dns_name(&at.at("name"), "VM", &vm.name);
        if vm.count == 0 {
            self.push(
                Diagnostic::warning(
                    "empty-group",
                    &at.at("count"),
                    format!("`count: 0` creates no `{}`", vm.name),
                )
                .hint("remove the VM or raise its count"),
            );
        }
        self.sizes(at, vm.cpu, vm.memory);
        self.image_reference(at, vm.image.as_ref(), false);
        self.placement(&at.at("placement"), &vm.placement, vm.count);
        self.disks(&at.at("disks"), &vm.disks, &vm.placement);
        let network = if self.reference(
            &at.at("network"),
            "network",
            &vm.network,
            self.network_names(),
        ) {
            self.network(&vm.network)
        } else {
            None
        };
        if let Some(network) = network {
            match &vm.address {
                Some(VmAddress::Static(address)) => {
                    let subnet = network.cidr.trunc();
                    self.address_in_subnet(&at.at("address.static"), "address", *address, &subnet);
                    if vm.count > 1 {
                        self.push(
                            Diagnostic::error(
                                "static-address-count",
                                &at.at("address"),
                                format!("{} VMs cannot share one static address", vm.count),
                            )
                            .hint("use `address: {pool: ...}` or `count: 1`"),
                        );
                    }
                    if *address == network.gateway {
                        self.push(
                            Diagnostic::error(
                                "address-conflict",
                                &at.at("address.static"),
                                format!("{address} is the gateway"),
                            )
                            .hint("choose another address"),
                        );
                    }
                    for pool in &network.pools {
                        if pool.range.contains(*address) {
                            self.push(
                                Diagnostic::error("address-in-pool", &at.at("address.static"), format!("static address {address} lies in pool `{}` ({})", pool.name, pool.range))
                                    .hint("labform may hand pool addresses to other VMs; use an address outside every pool, or `address: {pool: ...}`"),
                            );
                        }
                    }
                }
                Some(VmAddress::Pool(pool)) => {
                    self.pool_reference(&at.at("address.pool"), network, pool, PoolPurpose::Nodes)
                }
                Some(VmAddress::Dhcp) => {}
                None => {
                    if !network
                        .pools
                        .iter()
                        .any(|p| p.purpose == PoolPurpose::Nodes)
                    {
                        self.push(
                            Diagnostic::error("no-node-pool", &at.at("network"), format!("network `{}` has no pool for node addresses", network.name))
                                .hint("add a `purpose: nodes` pool, or give the VM `address: {static: ...}`"),
                        );
                    }
                }
            }
        }
        if let Some(tenant) = &vm.tenant {
            let known: Vec<&str> = self.lab.tenants.iter().map(|t| t.name.as_str()).collect();
            self.reference(&at.at("tenant"), "tenant", tenant, known.iter().copied());
        }
        if let Some(backups) = &vm.backups {
            self.backups(&at.at("backups"), backups, false);
        }
    }

    fn environments(&mut self) {
        let cluster_names: Vec<&str> = self.lab.clusters.iter().map(|c| c.name.as_str()).collect();
        for environment in &self.lab.environments {
            let at = &environment.source;
            self.dns_name(&at.at("name"), "environment", &environment.name);
            if let Some(network) = &environment.network {
                self.reference(&at.at("network"), "network", network, self.network_names());
            }
            let mut seen: Vec<&str> = Vec::new();
            for (index, overlay) in environment.clusters.iter().enumerate() {
                let overlay_at = at.at("clusters").index(index);
                if !self.reference(
                    &overlay_at.at("cluster"),
                    "cluster",
                    &overlay.cluster,
                    cluster_names.iter().copied(),
                ) {
                    continue;
                }
                if seen.contains(&overlay.cluster.as_str()) {
                    self.push(
                        Diagnostic::error(
                            "duplicate-name",
                            &overlay_at.at("cluster"),
                            format!(
                                "environment `{}` changes cluster `{}` twice",
                                environment.name, overlay.cluster
                            ),
                        )
                        .hint("merge the two overlays"),
                    );
                }
                seen.push(&overlay.cluster);
                let cluster = self
                    .lab
                    .clusters
                    .iter()
                    .find(|c| c.name == overlay.cluster)
                    .expect("found above");
                if !cluster.environments.is_empty()
                    && !cluster.environments.contains(&environment.name)
                {
                    self.push(
                        Diagnostic::error(
                            "overlay-unused",
                            &overlay_at.at("cluster"),
                            format!(
                                "cluster `{}` does not exist in environment `{}`",
                                cluster.name, environment.name
                            ),
                        )
                        .hint(format!(
                            "add `{}` to the cluster's `environments`, or remove this overlay",
                            environment.name
                        )),
                    );
                }
                if let Some(network) = &overlay.network {
                    self.reference(
                        &overlay_at.at("network"),
                        "network",
                        network,
                        self.network_names(),
                    );
                }
                if let Some(servers) = &overlay.servers {
                    if servers.name.is_some() {
                        self.push(
                            Diagnostic::error(
                                "ignored-field",
                                &overlay_at.at("servers.name"),
                                "the server group has no name to change",
                            )
                            .hint("remove `name` from this overlay's `servers`"),
                        );
                    }
                    if servers.count == Some(0) {
                        self.push(
                            Diagnostic::error(
                                "no-servers",
                                &overlay_at.at("servers.count"),
                                "a cluster needs at least one server",
                            )
                            .hint("set the count to 1 or more"),
                        );
                    }
                    let count = servers.count.unwrap_or(cluster.servers.count);
                    if cluster.datastore == Datastore::EmbeddedEtcd
                        && count > 1
                        && count.is_multiple_of(2)
                    {
                        self.push(
                            Diagnostic::error("etcd-quorum", &overlay_at.at("servers.count"), format!("{count} servers with embedded etcd in `{}`: an even number adds no fault tolerance", environment.name))
                                .hint(format!("use {} or {} servers", count - 1, count + 1)),
                        );
                    }
                    if count > 1 && cluster.api_vip.is_none() && overlay.api_vip.is_none() {
                        self.push(
                            Diagnostic::error(
                                "missing-api-vip",
                                &overlay_at.at("servers.count"),
                                format!("{count} servers in `{}` but no API VIP", environment.name),
                            )
                            .hint("give the cluster (or this overlay) an `api_vip`"),
                        );
                    }
                    if let Some(memory) = servers.memory {
                        self.sizes(&overlay_at.at("servers"), servers.cpu.unwrap_or(1), memory);
                    }
                }
                let group_names: Vec<&str> = cluster
                    .agents
                    .iter()
                    .map(|g| g.name.as_deref().unwrap_or("agent"))
                    .collect();
                for (agent_index, agents) in overlay.agents.iter().enumerate() {
                    let agent_at = overlay_at.at("agents").index(agent_index);
                    let name = agents.name.as_deref().unwrap_or("agent");
                    self.reference(
                        &agent_at.at("name"),
                        "agent group",
                        name,
                        group_names.iter().copied(),
                    );
                }
            }
        }
    }

    fn tenants(&mut self) {
        let cluster_names: Vec<&str> = self.lab.clusters.iter().map(|c| c.name.as_str()).collect();
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for tenant in &self.lab.tenants {
            let at = &tenant.source;
            self.dns_name(&at.at("name"), "tenant", &tenant.name);
            if let Some(pool) = &tenant.pool {
                self.dns_name(&at.at("pool"), "Proxmox pool", pool);
            }
            for (index, cluster) in tenant.clusters.iter().enumerate() {
                let cluster_at = at.at("clusters").index(index);
                if !self.reference(
                    &cluster_at,
                    "cluster",
                    cluster,
                    cluster_names.iter().copied(),
                ) {
                    continue;
                }
                if let Some(previous) = owner.insert(cluster, &tenant.name) {
                    self.push(
                        Diagnostic::error(
                            "tenant-conflict",
                            &cluster_at,
                            format!("cluster `{cluster}` belongs to tenant `{previous}` already"),
                        )
                        .hint("a cluster has one owner; give each tenant its own cluster"),
                    );
                }
            }
            for (index, access) in tenant.uses.iter().enumerate() {
                let access_at = at.at("uses").index(index);
                if !self.reference(
                    &access_at.at("cluster"),
                    "cluster",
                    &access.cluster,
                    cluster_names.iter().copied(),
                ) {
                    continue;
                }
                let provider = self
                    .lab
                    .clusters
                    .iter()
                    .find(|c| c.name == access.cluster)
                    .expect("found above");
                for (service_index, service) in access.services.iter().enumerate() {
                    let provided = match service {
                        CentralService::Gitlab => provider.addons.gitlab.is_some(),
                        CentralService::Vault => provider.addons.vault.is_some(),
                        CentralService::Minio => provider.addons.minio.is_some(),
                    };
                    if !provided {
                        self.push(
                            Diagnostic::error(
                                "service-not-provided",
                                &access_at.at("services").index(service_index),
                                format!(
                                    "cluster `{}` does not run {}",
                                    access.cluster,
                                    service.as_str()
                                ),
                            )
                            .hint(format!(
                                "add `{}` to the add-ons of cluster `{}`",
                                service.as_str(),
                                access.cluster
                            )),
                        );
                    }
                }
            }
        }
    }
}

/// Whether `text` is a UUID in its canonical form: 32 hexadecimal digits, grouped 8-4-4-4-12.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.chars().all(|c| c.is_ascii_hexdigit())
        })
}

fn overlaps(left: &Ipv4Net, right: &Ipv4Net) -> bool {
    left.contains(&right.network()) || right.contains(&left.network())
}

fn first_host(subnet: &Ipv4Net) -> Ipv4Addr {
    if subnet.prefix_len() >= 31 {
        subnet.network()
    } else {
        Ipv4Addr::from(u32::from(subnet.network()) + 1)
    }
}

fn last_host(subnet: &Ipv4Net) -> Ipv4Addr {
    if subnet.prefix_len() >= 31 {
        subnet.broadcast()
    } else {
        Ipv4Addr::from(u32::from(subnet.broadcast()) - 1)
    }
}
