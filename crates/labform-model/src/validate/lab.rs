//! The lab as a whole: its name and scope, unique names across every section, and the
//! `defaults` section (login user, SSH public keys, default image).

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn lab_identity(&mut self) {
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

    pub(super) fn unique_names(&mut self) {
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

    pub(super) fn defaults(&mut self) {
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
}
