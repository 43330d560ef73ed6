//! The `proxmox` section: each endpoint's address, credentials, TLS pinning, nodes and
//! storages.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn endpoint(&mut self, endpoint: &ProxmoxEndpoint) {
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
}
