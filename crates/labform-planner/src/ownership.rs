//! Ownership records: how labform marks the VMs it owns, on the VMs themselves.
//!
//! There is no state file to lose. Each VM labform creates carries tags (`labform`, `lab-<lab>`,
//! `scope-<scope>`, ...) and a block in its description:
//!
//! ```text
//! --- labform ---
//! lab: k3s-home
//! scope: k3s-home
//! cluster: home
//! role: server
//! key: vm:home-server-0
//! image: debian-12
//! spec: 6f1c0a9e2b7d4c55
//! api-vip: 10.0.0.5
//! load-balancers: 10.0.0.200-10.0.0.207
//! --- end labform ---
//! ```
//!
//! A cluster's nodes also record the addresses the cluster holds beside their own (its API VIP
//! and its load-balancer block), so that a lab in another scope on the same Proxmox sees them
//! and never hands them out (`Inventory::observed_ids`).
//!
//! Text a person writes in the description around the block is kept. A VM is owned by a lab file
//! when its block names that file's scope; everything else is never changed or deleted.
//!
//! A VM (not a template) also carries its spec hash as a tag, `spec-<hash>` ([`spec_tag`]), so
//! that `/cluster/resources`, which lists every guest's tags but not its description, shows it:
//! a plan that trusts the recorded spec instead of reading each config (`plan --no-refresh`)
//! reads the ownership from the tags ([`Owner::from_tags`]). The block stays the record; the tag
//! is written with it, in the same config update at the end of apply's work on the VM (before,
//! the VM carries no spec tag, so an apply killed halfway is never trusted). The spec hash never
//! covers the tag, and reconciliation never compares it: a VM made before labform wrote it gets
//! it when the lab next changes it.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use std::net::Ipv4Addr;

use crate::allocate::AllocationKey;
use crate::plan::AddressBlock;

const BEGIN: &str = "--- labform ---";

/// The prefix of the tag that carries a VM's spec hash.
pub const SPEC_TAG_PREFIX: &str = "spec-";

/// The tag that carries spec hash `spec` (`spec-6f1c0a9e2b7d4c55`).
pub fn spec_tag(spec: &str) -> String {
    format!("{SPEC_TAG_PREFIX}{spec}")
}

/// Whether `tag` is a spec tag.
pub fn is_spec_tag(tag: &str) -> bool {
    tag.starts_with(SPEC_TAG_PREFIX)
}

/// A `tags` value (separated by `;`, `,` or spaces) without its spec tag, joined with `;`.
pub fn without_spec_tag(tags: &str) -> String {
    tags.split([';', ',', ' '])
        .filter(|tag| !tag.is_empty() && !is_spec_tag(tag))
        .collect::<Vec<_>>()
        .join(";")
}
const END: &str = "--- end labform ---";

/// The ownership block of one VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Lab name.
    pub lab: String,
    /// Ownership scope.
    pub scope: String,
    /// Cluster instance, if a Kubernetes node.
    pub cluster: Option<String>,
    /// Role (`server`, `agent/worker`, `template`, `vm`).
    pub role: String,
    /// The allocation key (`vm:<name>`, `template:...`): what the lock file records it under.
    pub key: AllocationKey,
    /// The image it was made from.
    pub image: Option<String>,
    /// Hash of the VM's desired spec when labform last wrote it.
    pub spec: String,
    /// The API VIP of its cluster, when the cluster has one.
    pub api_vip: Option<Ipv4Addr>,
    /// The load-balancer block of its cluster, when the cluster has one.
    pub load_balancers: Option<AddressBlock>,
}

impl Owner {
    /// The block as it is written into the description.
    pub fn block(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "{BEGIN}");
        let _ = writeln!(text, "lab: {}", self.lab);
        let _ = writeln!(text, "scope: {}", self.scope);
        if let Some(cluster) = &self.cluster {
            let _ = writeln!(text, "cluster: {cluster}");
        }
        let _ = writeln!(text, "role: {}", self.role);
        let _ = writeln!(text, "key: {}", self.key);
        if let Some(image) = &self.image {
            let _ = writeln!(text, "image: {image}");
        }
        let _ = writeln!(text, "spec: {}", self.spec);
        if let Some(vip) = self.api_vip {
            let _ = writeln!(text, "api-vip: {vip}");
        }
        if let Some(block) = self.load_balancers {
            let _ = writeln!(text, "load-balancers: {block}");
        }
        let _ = write!(text, "{END}");
        text
    }

    /// Reads the block from a description; `None` when there is none or it is malformed.
    pub fn parse(description: &str) -> Option<Owner> {
        let start = description.find(BEGIN)?;
        let body_start = start + BEGIN.len();
        let end = description[body_start..].find(END)? + body_start;
        let mut lab = None;
        let mut scope = None;
        let mut cluster = None;
        let mut role = None;
        let mut key_value = None;
        let mut image = None;
        let mut spec = None;
        let mut api_vip = None;
        let mut load_balancers = None;
        for line in description[body_start..end].lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().to_owned();
            match key.trim() {
                "lab" => lab = Some(value),
                "scope" => scope = Some(value),
                "cluster" => cluster = Some(value),
                "role" => role = Some(value),
                "key" => key_value = Some(value),
                "image" => image = Some(value),
                "spec" => spec = Some(value),
                "api-vip" => api_vip = value.parse().ok(),
                "load-balancers" => load_balancers = value.parse().ok(),
                _ => {}
            }
        }
        Some(Owner {
            lab: lab?,
            scope: scope?,
            cluster,
            role: role?,
            key: key_value?.parse().ok()?,
            image,
            spec: spec.unwrap_or_default(),
            api_vip,
            load_balancers,
        })
    }

    /// The ownership of the VM (not a template) named `name` as its `tags` record it: `labform`,
    /// `scope-<scope>` and `spec-<hash>` are needed, `lab-`, `role-` and `cluster-` are read when
    /// there; the key is `vm:<name>`. The image, the API VIP and the load-balancer block are not
    /// in the tags (`None`): a plan that trusts the tags compares the spec hash only, which
    /// covers the image. `None` without those tags (another tool's VM, or one labform made
    /// before it wrote the spec tag: its config must be read).
    pub fn from_tags(name: &str, tags: &[String]) -> Option<Owner> {
        if !tags.iter().any(|tag| tag == "labform") {
            return None;
        }
        let value = |prefix: &str| {
            tags.iter()
                .find_map(|tag| tag.strip_prefix(prefix))
                .map(str::to_owned)
        };
        let scope = value("scope-")?;
        let spec = value(SPEC_TAG_PREFIX)?;
        Some(Owner {
            lab: value("lab-").unwrap_or_else(|| scope.clone()),
            scope,
            cluster: value("cluster-"),
            role: value("role-").unwrap_or_else(|| "vm".to_owned()),
            key: AllocationKey::vm(name),
            image: None,
            spec,
            api_vip: None,
            load_balancers: None,
        })
    }

    /// `description` with this block in place of any earlier one; other text is kept.
    pub fn write_into(&self, description: &str) -> String {
        let kept = remove_block(description);
        if kept.trim().is_empty() {
            self.block()
        } else {
            format!("{}\n\n{}", kept.trim_end(), self.block())
        }
    }
}

/// `description` without labform's block.
pub fn remove_block(description: &str) -> String {
    match (description.find(BEGIN), description.find(END)) {
        (Some(start), Some(end)) if end > start => {
            let mut kept = String::new();
            kept.push_str(description[..start].trim_end());
            let rest = description[end + END.len()..].trim_start();
            if !kept.is_empty() && !rest.is_empty() {
                kept.push_str("\n\n");
            }
            kept.push_str(rest);
            kept
        }
        _ => description.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            lab: "home".into(),
            scope: "home".into(),
            cluster: Some("home".into()),
            role: "server".into(),
            key: AllocationKey::vm("home-server-0"),
            image: Some("debian".into()),
            spec: "abc123".into(),
            api_vip: Some(Ipv4Addr::new(10, 0, 0, 5)),
            load_balancers: Some(AddressBlock {
                first: Ipv4Addr::new(10, 0, 0, 200),
                last: Ipv4Addr::new(10, 0, 0, 207),
            }),
        }
    }

    #[test]
    fn blocks_round_trip_and_keep_other_text() {
        let written = owner().write_into("Rack 2, shelf 3.\nAsk Sam before rebooting.");
        assert!(
            written.starts_with("Rack 2, shelf 3.\nAsk Sam before rebooting.\n\n--- labform ---")
        );
        assert_eq!(Owner::parse(&written), Some(owner()));
        let mut changed = owner();
        changed.spec = "def456".into();
        let rewritten = changed.write_into(&written);
        assert_eq!(Owner::parse(&rewritten), Some(changed));
        assert_eq!(rewritten.matches("--- labform ---").count(), 1);
        assert_eq!(
            remove_block(&rewritten),
            "Rack 2, shelf 3.\nAsk Sam before rebooting."
        );
    }

    #[test]
    fn tags_carry_scope_key_and_spec() {
        let tags: Vec<String> = "labform;lab-home;scope-home;role-server;cluster-home;spec-abc123"
            .split(';')
            .map(str::to_owned)
            .collect();
        let owner = Owner::from_tags("home-server-0", &tags).unwrap();
        assert_eq!(
            (
                owner.scope.as_str(),
                owner.key.to_string(),
                owner.spec.as_str()
            ),
            ("home", "vm:home-server-0".to_owned(), "abc123")
        );
        assert_eq!(owner.cluster.as_deref(), Some("home"));
        assert_eq!(owner.image, None);
        let without_spec: Vec<String> = tags
            .iter()
            .filter(|tag| !is_spec_tag(tag))
            .cloned()
            .collect();
        assert_eq!(Owner::from_tags("home-server-0", &without_spec), None);
        let not_labform: Vec<String> = tags[1..].to_vec();
        assert_eq!(Owner::from_tags("home-server-0", &not_labform), None);
    }

    #[test]
    fn malformed_blocks_are_not_ownership() {
        assert_eq!(Owner::parse("no block"), None);
        assert_eq!(
            Owner::parse("--- labform ---\nlab: a\n--- end labform ---"),
            None
        );
        assert_eq!(
            Owner::parse("--- labform ---\nlab: a\nscope: a\nrole: vm"),
            None
        );
        assert_eq!(
            Owner::parse("--- labform ---\nlab: a\nscope: a\nrole: vm\n--- end labform ---"),
            None
        );
    }
}
