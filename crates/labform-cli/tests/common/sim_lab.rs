//! The K3s lab the simulator tests of `labform replace` and crash safety apply on `labform sim
//! serve`: one Proxmox endpoint `sim`, a Debian image served on loopback, one network `lan`,
//! and a K3s cluster `k`, each test choosing the counts.

use sha2::Digest as _;

/// An image of `2^bits` bytes made from `seed` (a different seed, a different image), served
/// over plain HTTP on loopback: its port and SHA-256.
pub fn served_image(bits: u32, seed: u32) -> (u16, String) {
    let image: Vec<u8> = (0..(1u32 << bits))
        .map(|i| (i.wrapping_mul(seed) >> 7) as u8)
        .collect();
    let checksum = format!("{:x}", sha2::Sha256::digest(&image));
    (super::serve_file(image), checksum)
}

/// What differs between the tests' labs.
pub struct SimLab<'a> {
    /// The lab's name.
    pub name: &'a str,
    /// How many Proxmox nodes the endpoint has (`pve1`, `pve2`, ...).
    pub proxmox_nodes: u32,
    /// The simulator's certificate fingerprint, when the lab pins it.
    pub fingerprint: Option<&'a str>,
    /// The cluster's API VIP, when it has one.
    pub api_vip: Option<&'a str>,
    /// How many servers.
    pub servers: u32,
    /// How many agents.
    pub agents: u32,
    /// The agents' disks (`[{size: 16GiB}]`).
    pub agent_disks: &'a str,
    /// What follows the cluster (a `vms:` section), or nothing.
    pub rest: &'a str,
}

impl SimLab<'_> {
    /// The lab file, its image at `http://127.0.0.1:PORT/debian-12.qcow2` with `checksum`.
    pub fn text(&self, port: u16, checksum: &str) -> String {
        let fingerprint = self
            .fingerprint
            .map(|fingerprint| format!("    fingerprint: \"{fingerprint}\"\n"))
            .unwrap_or_default();
        let nodes: Vec<String> = (1..=self.proxmox_nodes)
            .map(|node| format!("{{name: pve{node}, cpu: 16, memory: 64GiB}}"))
            .collect();
        let api_vip = self
            .api_vip
            .map(|address| format!("    api_vip: {{address: {address}}}\n"))
            .unwrap_or_default();
        format!(
            "lab: {name}
proxmox:
  - name: sim
    endpoint: https://127.0.0.1:8006
{fingerprint}    credentials: {{password: {{user: root@pam, password: {{env: LABFORM_PVE_PASSWORD}}}}}}
    nodes: [{nodes}]
    storages:
      - {{name: local, content: [iso, import, snippets, images], capacity: 100GiB, type: dir}}
      - {{name: local-lvm, content: [images], capacity: 1TiB, type: lvmthin}}
images:
  - {{name: debian, url: 'http://127.0.0.1:{port}/debian-12.qcow2', checksum: 'sha256:{checksum}'}}
defaults:
  image: debian
  ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJm3w8jCrashTestKey000000000000000000000000 t@t']
networks:
  - {{name: lan, bridge: vmbr0, cidr: 10.9.0.0/24, gateway: 10.9.0.1, pools: [{{name: nodes, purpose: nodes, range: 10.9.0.10-10.9.0.99}}]}}
clusters:
  - name: k
    distribution: k3s
    version: v1.31.4+k3s1
    network: lan
{api_vip}    servers: {{count: {servers}, cpu: 2, memory: 2GiB, disks: [{{size: 16GiB}}]}}
    agents: [{{count: {agents}, cpu: 2, memory: 2GiB, disks: {agent_disks}}}]
{rest}",
            name = self.name,
            nodes = nodes.join(", "),
            servers = self.servers,
            agents = self.agents,
            agent_disks = self.agent_disks,
            rest = self.rest,
        )
    }

    /// Writes the lab as `lab.yaml` in `directory`, with an image of `2^bits` bytes made from
    /// `seed` served on loopback: the lab file's path.
    pub fn write(&self, directory: &std::path::Path, bits: u32, seed: u32) -> std::path::PathBuf {
        let (port, checksum) = served_image(bits, seed);
        let path = directory.join("lab.yaml");
        std::fs::write(&path, self.text(port, &checksum)).expect("write the lab");
        path
    }
}
