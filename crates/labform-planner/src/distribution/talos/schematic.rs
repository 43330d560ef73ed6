//! The Image Factory schematic of a cluster's nodes: the system extensions baked into the Talos
//! image, its ID and the addresses of the images made from it.
//!
//! Image Factory names a schematic by the SHA-256 of its canonical YAML: the schematic marshalled
//! by Go's `gopkg.in/yaml.v3` (four-space indentation, empty fields left out, `customization`
//! always present). The schematic without customisation is `customization: {}` (ID
//! `376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba`, the "default schematic"
//! of Image Factory's documentation), and the one with only `siderolabs/qemu-guest-agent` has the
//! ID Talos's Proxmox guide shows (`ce4c9805...`). labform writes the same bytes itself.
//!
//! The planner decides the schematic (the guest agent, what the add-ons need, the lab's own
//! `system_extensions`) and the plan carries it; `labform-talos` names its installer image in
//! the machine configurations and upgrades to it.

use labform_model::lab::Cluster;
use sha2::{Digest as _, Sha256};

/// Image Factory's public instance.
pub const FACTORY_HOST: &str = "factory.talos.dev";

/// The extension every labform node carries: the QEMU guest agent, through which Proxmox (and
/// labform) see the node's addresses.
pub const GUEST_AGENT_EXTENSION: &str = "siderolabs/qemu-guest-agent";

/// A schematic: the official system extensions, sorted and without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schematic {
    extensions: Vec<String>,
}

impl Schematic {
    /// The schematic with `extensions` (official extension names such as
    /// `siderolabs/iscsi-tools`, checked by the lab's validation and, for labform's own, by this
    /// module's tests), sorted, without repeats.
    pub fn new<I, S>(extensions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut names: Vec<String> = extensions.into_iter().map(Into::into).collect();
        names.sort();
        names.dedup();
        Schematic { extensions: names }
    }

    /// The schematic of `cluster`'s nodes: the QEMU guest agent, the system extensions its
    /// add-ons need, and those the lab lists.
    pub fn of_cluster(cluster: &Cluster) -> Self {
        Schematic::new(
            std::iter::once(GUEST_AGENT_EXTENSION)
                .chain(cluster.addons.image_extensions())
                .chain(cluster.system_extensions.iter().map(String::as_str)),
        )
    }

    /// The extensions, sorted.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The canonical YAML Image Factory hashes (and accepts at `POST /schematics`).
    pub fn canonical_yaml(&self) -> String {
        if self.extensions.is_empty() {
            return "customization: {}\n".to_owned();
        }
        let mut yaml =
            String::from("customization:\n    systemExtensions:\n        officialExtensions:\n");
        for extension in &self.extensions {
            yaml.push_str("            - ");
            yaml.push_str(extension);
            yaml.push('\n');
        }
        yaml
    }

    /// The schematic ID: the SHA-256 of [`Schematic::canonical_yaml`], in hexadecimal.
    pub fn id(&self) -> String {
        Sha256::digest(self.canonical_yaml().as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// The nocloud disk image of `version` for amd64 (what a Proxmox VM boots), uncompressed:
    /// Proxmox imports only uncompressed disk images and decompresses downloads only for ISOs,
    /// and Image Factory serves every disk image without compression too (`.raw` beside
    /// `.raw.xz`).
    pub fn nocloud_image_url(&self, version: &str) -> String {
        format!(
            "https://{FACTORY_HOST}/image/{}/{version}/nocloud-amd64.raw",
            self.id()
        )
    }

    /// The installer image of `version` (machine configuration `install.image`, and upgrades).
    pub fn installer_image(&self, version: &str) -> String {
        format!("{FACTORY_HOST}/installer/{}:{version}", self.id())
    }

    /// The schematic ID in an Image Factory image address
    /// (`https://factory.talos.dev/image/ID/VERSION/...`), if it is one.
    pub fn id_in_url(url: &str) -> Option<&str> {
        let rest = url.strip_prefix(&format!("https://{FACTORY_HOST}/image/"))?;
        let id = rest.split('/').next()?;
        (id.len() == 64 && id.bytes().all(|byte| byte.is_ascii_hexdigit())).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schematic_has_image_factorys_well_known_id() {
        let schematic = Schematic::new(Vec::<String>::new());
        assert_eq!(
            schematic.id(),
            "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
        );
    }

    #[test]
    fn the_guest_agent_schematic_has_the_id_of_taloss_proxmox_guide() {
        let schematic = Schematic::new([GUEST_AGENT_EXTENSION]);
        assert_eq!(
            schematic.canonical_yaml(),
            "customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/qemu-guest-agent\n"
        );
        assert_eq!(
            schematic.id(),
            "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
        );
        let version = "v1.13.9";
        assert_eq!(
            schematic.installer_image(version),
            "factory.talos.dev/installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515:v1.13.9"
        );
        assert_eq!(
            schematic.nocloud_image_url(version),
            "https://factory.talos.dev/image/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515/v1.13.9/nocloud-amd64.raw"
        );
        assert_eq!(
            Schematic::id_in_url(&schematic.nocloud_image_url(version)),
            Some("ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515")
        );
    }

    #[test]
    fn extensions_are_sorted_without_repeats() {
        let schematic = Schematic::new([
            "siderolabs/util-linux-tools",
            GUEST_AGENT_EXTENSION,
            "siderolabs/iscsi-tools",
            GUEST_AGENT_EXTENSION,
        ]);
        assert_eq!(
            schematic.extensions(),
            [
                "siderolabs/iscsi-tools",
                GUEST_AGENT_EXTENSION,
                "siderolabs/util-linux-tools"
            ]
        );
    }
}
