//! The VMs' network on the host: bridges, tap devices named as Proxmox
//! names them (`tap<vmid>i<n>`) with the VLAN tag as the port's untagged
//! VLAN, all inside the network namespace if one is given.

use super::*;

impl QemuBackend {
    /// `ip` with the namespace selected.
    pub(super) fn ip(&self, args: &[&str]) -> Result<String, BackendError> {
        let mut all: Vec<&str> = Vec::new();
        if let Some(netns) = &self.options.netns {
            all.extend(["-n", netns.as_str()]);
        }
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A program run inside the namespace.
    pub(super) fn in_namespace(
        &self,
        program: &str,
        args: &[&str],
    ) -> Result<String, BackendError> {
        match &self.options.netns {
            Some(netns) => {
                let mut all = vec!["netns", "exec", netns.as_str(), program];
                all.extend_from_slice(args);
                run("ip", &all)
            }
            None => run(program, args),
        }
    }

    pub(super) fn link_exists(&self, name: &str) -> bool {
        self.ip(&["link", "show", "dev", name]).is_ok()
    }

    pub(super) fn ensure_bridge(&self, bridge: &str) -> Result<(), BackendError> {
        if !self.link_exists(bridge)
            && let Err(e) = self.ip(&["link", "add", "name", bridge, "type", "bridge"])
            && !self.link_exists(bridge)
        {
            return Err(e);
        }
        self.ip(&["link", "set", "dev", bridge, "up"])?;
        Ok(())
    }

    pub(super) fn taps_of(&self, vmid: u32) -> Vec<String> {
        let prefix = format!("tap{vmid}i");
        self.ip(&["-o", "link", "show"])
            .map(|text| {
                text.lines()
                    .filter_map(|line| line.split(": ").nth(1))
                    .map(|name| name.split('@').next().unwrap_or(name).to_owned())
                    .filter(|name| {
                        name.strip_prefix(&prefix)
                            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn remove_taps(&self, vmid: u32) {
        for tap in self.taps_of(vmid) {
            let _ = self.ip(&["link", "del", "dev", &tap]);
        }
    }

    pub(super) fn plug_nic(
        &self,
        vmid: u32,
        nic: &crate::backend::MachineNic,
    ) -> Result<String, BackendError> {
        let tap = format!("tap{vmid}i{}", nic.index);
        let bridge = nic.bridge.as_deref().ok_or_else(|| {
            BackendError::Unsupported(format!("net{}: no bridge configured", nic.index))
        })?;
        self.ensure_bridge(bridge)?;
        if self.link_exists(&tap) {
            self.ip(&["link", "del", "dev", &tap])?;
        }
        self.ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])?;
        self.ip(&["link", "set", "dev", &tap, "master", bridge])?;
        if let Some(tag) = nic.tag {
            // A VLAN-aware bridge: the tap's port carries the tag as its untagged VLAN.
            self.ip(&[
                "link",
                "set",
                "dev",
                bridge,
                "type",
                "bridge",
                "vlan_filtering",
                "1",
            ])
            .map_err(|e| {
                BackendError::Unsupported(format!(
                    "net{}: VLAN tag {tag} needs a VLAN-aware bridge, which this kernel does \
                     not provide (CONFIG_BRIDGE_VLAN_FILTERING): {e}",
                    nic.index
                ))
            })?;
            self.in_namespace("bridge", &["vlan", "del", "dev", &tap, "vid", "1"])?;
            self.in_namespace(
                "bridge",
                &[
                    "vlan",
                    "add",
                    "dev",
                    &tap,
                    "vid",
                    &tag.to_string(),
                    "pvid",
                    "untagged",
                ],
            )?;
        }
        self.ip(&["link", "set", "dev", &tap, "up"])?;
        Ok(tap)
    }
}
