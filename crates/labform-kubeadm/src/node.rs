//! One kubeadm node's files and its preparation, over SSH: labform keeps a preparation script,
//! the node's `kubeadm.yaml`, on the first control plane the cluster CA, on the control planes of
//! a cluster with an API VIP kube-vip's static pod, and, air-gapped, the verified binaries, the
//! kubelet's unit and kubeadm drop-in and the image archives. Each file is compared by SHA-256
//! with what the node has (one command) and uploaded only when different (as root, atomically,
//! secrets with mode 0600 and only through the SSH channel's data).
//!
//! The preparation script is idempotent and changes only what differs: kernel modules and
//! sysctls, swap off, containerd (the OS package) with the systemd cgroup driver and the
//! sandbox image kubeadm of the cluster's version names, and kubeadm, kubelet and kubectl of the
//! exact version, from pkgs.k8s.io's repository for that minor version (its key checked against
//! [`PACKAGE_KEY_FINGERPRINT`] before apt trusts it) or from the uploaded binaries. It takes one
//! argument: `all` on a node that does not run Kubernetes yet, `kubeadm` (kubeadm alone) and
//! `kubelet` (kubelet and kubectl, then a kubelet restart) for the two halves of an upgrade, as
//! kubeadm's upgrade procedure orders them.

use std::sync::Arc;

use labform_secrets::{ExposeSecret as _, SecretString};
use labform_ssh::{Session, shell_quote};
use sha2::{Digest as _, Sha256};

use crate::version::KubernetesVersion;

/// The folder of labform's files on a kubeadm node.
pub const LABFORM_DIRECTORY: &str = "/etc/kubernetes/labform";
/// The preparation script.
pub const PREPARE_SCRIPT: &str = "/etc/kubernetes/labform/prepare.sh";
/// The add-on manifests the first control plane applies, one file each, in apply order.
pub const MANIFESTS_DIRECTORY: &str = "/etc/kubernetes/labform/manifests";
/// The cluster CA certificate kubeadm signs with (labform's).
pub const CA_CERTIFICATE: &str = "/etc/kubernetes/pki/ca.crt";
/// The cluster CA key.
pub const CA_KEY: &str = "/etc/kubernetes/pki/ca.key";
/// kube-vip's static pod on the control planes.
pub const KUBE_VIP_MANIFEST: &str = "/etc/kubernetes/manifests/kube-vip.yaml";
/// The administrator's kubeconfig kubeadm writes on control planes.
pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";
/// The kubeconfig kubeadm 1.29 and later writes for the first control plane's own use during
/// `kubeadm init` (`admin.conf` gets its rights only once the API runs).
pub const SUPER_ADMIN_KUBECONFIG: &str = "/etc/kubernetes/super-admin.conf";
/// The kubelet's kubeconfig: present once the node is part of a cluster.
pub const KUBELET_KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";
/// Where air-gapped binaries go.
pub const AIR_GAP_BINARIES: &str = "/usr/local/bin";
/// Where air-gapped image archives go before `ctr` imports them.
pub const AIR_GAP_IMAGES: &str = "/var/lib/labform/images";
/// Where air-gapped OS packages (`*.deb`) go before `dpkg` installs those the node lacks.
pub const AIR_GAP_PACKAGES: &str = "/var/lib/labform/packages";
/// The kubelet unit labform writes when air-gapped (the packages bring their own).
pub const KUBELET_UNIT: &str = "/etc/systemd/system/kubelet.service";
/// kubeadm's drop-in for the kubelet unit, written by labform when air-gapped.
pub const KUBELET_DROP_IN: &str = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf";

/// The fingerprint of the key pkgs.k8s.io signs its repositories with (`isv:kubernetes OBS
/// Project`); the preparation script refuses a `Release.key` with another.
pub const PACKAGE_KEY_FINGERPRINT: &str = "DE15B14486CD377B9E876E1A234654DA9A296436";

/// What a file holds.
#[derive(Clone)]
pub enum FileContents {
    /// Public bytes.
    Public(Arc<Vec<u8>>),
    /// A secret (a node's `kubeadm.yaml`, the CA key): never logged.
    Secret(SecretString),
}

impl FileContents {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            FileContents::Public(bytes) => bytes,
            FileContents::Secret(secret) => secret.expose_secret().as_bytes(),
        }
    }
}

/// A file labform keeps on a node.
#[derive(Clone)]
pub struct NodeFile {
    /// Absolute path.
    pub path: String,
    /// Contents.
    pub contents: FileContents,
    /// Permission bits.
    pub mode: u32,
    /// SHA-256 of the contents, hexadecimal.
    pub sha256: String,
}

impl std::fmt::Debug for NodeFile {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NodeFile")
            .field("path", &self.path)
            .field("bytes", &self.contents.bytes().len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish_non_exhaustive()
    }
}

/// SHA-256 in hexadecimal.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl NodeFile {
    /// A public file.
    pub fn public(path: impl Into<String>, bytes: Vec<u8>, mode: u32) -> Self {
        Self::with_contents(path, FileContents::Public(Arc::new(bytes)), mode)
    }

    /// A secret file (mode 0600).
    pub fn secret(path: impl Into<String>, value: SecretString) -> Self {
        Self::with_contents(path, FileContents::Secret(value), 0o600)
    }

    /// A file of `contents`.
    pub fn with_contents(path: impl Into<String>, contents: FileContents, mode: u32) -> Self {
        let sha256 = sha256_hex(contents.bytes());
        NodeFile {
            path: path.into(),
            contents,
            mode,
            sha256,
        }
    }

    /// A public file whose SHA-256 is known already (an air-gap file, verified when read).
    pub fn verified(
        path: impl Into<String>,
        file: &crate::artifacts::VerifiedFile,
        mode: u32,
    ) -> Self {
        NodeFile {
            path: path.into(),
            contents: FileContents::Public(file.contents.clone()),
            mode,
            sha256: file.sha256.clone(),
        }
    }
}

/// Where kubeadm, kubelet and kubectl come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageSource {
    /// pkgs.k8s.io's apt repository of the cluster's minor version (Debian and Ubuntu nodes).
    Repository,
    /// Binaries labform uploads (`--kubernetes-artifacts DIR`), with the kubelet unit and
    /// kubeadm's drop-in labform writes, and image archives imported with `ctr`.
    AirGap,
}

/// What the preparation script installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrepareStage {
    /// Everything (a node not yet in the cluster).
    All,
    /// kubeadm only (first half of an upgrade).
    Kubeadm,
    /// kubelet and kubectl, and a kubelet restart (second half of an upgrade).
    Kubelet,
}

impl PrepareStage {
    /// The script's argument.
    pub fn argument(self) -> &'static str {
        match self {
            PrepareStage::All => "all",
            PrepareStage::Kubeadm => "kubeadm",
            PrepareStage::Kubelet => "kubelet",
        }
    }
}

/// The kubelet unit labform writes for air-gapped nodes (the packages' `kubelet.service`, with
/// the binary in [`AIR_GAP_BINARIES`]).
pub fn kubelet_unit() -> String {
    format!(
        "# labform: the kubelet, from binaries labform uploaded and verified (air-gapped).\n\
         [Unit]\n\
         Description=kubelet: The Kubernetes Node Agent\n\
         Documentation=https://kubernetes.io/docs/\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         ExecStart={AIR_GAP_BINARIES}/kubelet\n\
         Restart=always\n\
         StartLimitInterval=0\n\
         RestartSec=10\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// kubeadm's drop-in for the kubelet unit (the packages' `10-kubeadm.conf`): the kubelet reads
/// the configuration and flags `kubeadm init` and `join` write.
pub fn kubelet_drop_in() -> String {
    format!(
        "# labform: kubeadm's drop-in for the kubelet (air-gapped).\n\
         [Service]\n\
         Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\n\
         Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\n\
         EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n\
         EnvironmentFile=-/etc/default/kubelet\n\
         ExecStart=\n\
         ExecStart={AIR_GAP_BINARIES}/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"
    )
}

/// The preparation script for Kubernetes `version` from `source`; `image_repository` is the
/// registry kubeadm pulls from when it is not kubeadm's default (air-gapped clusters).
pub fn prepare_script(
    version: KubernetesVersion,
    source: PackageSource,
    image_repository: Option<&str>,
) -> String {
    let minor = version.minor_text();
    let package = format!("{}.{}.{}", version.major, version.minor, version.patch);
    let repository_flag = image_repository
        .map(|repository| format!(" --image-repository {}", shell_quote(repository)))
        .unwrap_or_default();
    let mut script = format!(
        "#!/bin/sh\n\
         # labform: prepares this node for kubeadm {version}: kernel modules and sysctls, swap off,\n\
         # containerd with the systemd cgroup driver and kubeadm's sandbox image, kubeadm, kubelet and\n\
         # kubectl {version}. Idempotent: it changes only what differs.\n\
         # Usage: prepare.sh all|kubeadm|kubelet\n\
         set -eu\n\
         stage=${{1:-all}}\n\
         version={version}\n\
         export DEBIAN_FRONTEND=noninteractive\n\
         \n\
         fail() {{ echo \"labform prepare: $*\" >&2; exit 1; }}\n\
         \n\
         # Kernel modules and sysctls for pod networking.\n\
         printf 'overlay\\nbr_netfilter\\n' > /etc/modules-load.d/labform-kubernetes.conf\n\
         modprobe overlay\n\
         modprobe br_netfilter\n\
         printf 'net.bridge.bridge-nf-call-iptables = 1\\nnet.bridge.bridge-nf-call-ip6tables = 1\\nnet.ipv4.ip_forward = 1\\n' \\\n\
         \x20 > /etc/sysctl.d/90-labform-kubernetes.conf\n\
         sysctl --system > /dev/null\n\
         \n\
         # Swap off, now and at boot: the kubelet does not start with swap.\n\
         swapoff -a\n\
         sed -i -E 's@^([^#][^[:space:]]*[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$@# labform (swap off for the kubelet): \\1@' /etc/fstab\n\
         \n\
         # The kubelet reads /etc/resolv.conf for every pod and starts none without it; a node that has\n\
         # none (cloud-init's ifupdown renderer leaves it to resolvconf) gets an empty one.\n\
         [ -e /etc/resolv.conf ] || : > /etc/resolv.conf\n\
         \n\
         \n"
    );
    match source {
        PackageSource::Repository => script.push_str(&format!(
            "# containerd, the OS package.\n\
             if ! command -v containerd > /dev/null; then\n\
             \x20 apt-get update -q > /dev/null\n\
             \x20 apt-get install -y -q containerd > /dev/null\n\
             fi\n\
             \n\
             # kubeadm, kubelet and kubectl {version} from pkgs.k8s.io's {minor} repository, its key pinned.\n\
             installed() {{ dpkg-query -W -f='${{Version}}' \"$1\" 2> /dev/null | grep -q '^{package}-'; }}\n\
             install_packages() {{\n\
             \x20 missing=\n\
             \x20 for package in \"$@\"; do installed \"$package\" || missing=\"$missing $package={package}-*\"; done\n\
             \x20 [ -n \"$missing\" ] || return 0\n\
             \x20 if [ ! -f /etc/apt/sources.list.d/labform-kubernetes-{minor}.list ]; then\n\
             \x20   apt-get update -q > /dev/null\n\
             \x20   apt-get install -y -q ca-certificates curl gpg > /dev/null\n\
             \x20   install -d -m 0755 /etc/apt/keyrings\n\
             \x20   key=$(mktemp)\n\
             \x20   curl -fsSL https://pkgs.k8s.io/core:/stable:/{minor}/deb/Release.key -o \"$key\"\n\
             \x20   fingerprint=$(gpg --show-keys --with-colons \"$key\" | awk -F: '$1 == \"fpr\" {{ print $10; exit }}')\n\
             \x20   [ \"$fingerprint\" = {PACKAGE_KEY_FINGERPRINT} ] \\\n\
             \x20     || fail \"pkgs.k8s.io's key has fingerprint $fingerprint, not {PACKAGE_KEY_FINGERPRINT}; nothing installed\"\n\
             \x20   gpg --dearmor --batch --yes -o /etc/apt/keyrings/labform-kubernetes.gpg \"$key\"\n\
             \x20   rm -f \"$key\" /etc/apt/sources.list.d/labform-kubernetes-*.list\n\
             \x20   echo 'deb [signed-by=/etc/apt/keyrings/labform-kubernetes.gpg] https://pkgs.k8s.io/core:/stable:/{minor}/deb/ /' \\\n\
             \x20     > /etc/apt/sources.list.d/labform-kubernetes-{minor}.list\n\
             \x20 fi\n\
             \x20 apt-get update -q > /dev/null\n\
             \x20 # shellcheck disable=SC2086\n\
             \x20 apt-get install -y -q --allow-change-held-packages --allow-downgrades $missing > /dev/null\n\
             \x20 apt-mark hold \"$@\" > /dev/null\n\
             }}\n\
             case $stage in\n\
             \x20 all) install_packages kubeadm kubelet kubectl ;;\n\
             \x20 kubeadm) install_packages kubeadm ;;\n\
             \x20 kubelet) install_packages kubelet kubectl ;;\n\
             \x20 *) fail \"unknown stage $stage\" ;;\n\
             esac\n\
             kubeadm=kubeadm\n\
             \n"
        )),
        PackageSource::AirGap => script.push_str(&format!(
            "# The OS packages labform uploaded (air-gapped): those this node lacks are installed.\n\
             missing=\n\
             for package in {AIR_GAP_PACKAGES}/*.deb; do\n\
             \x20 [ -f \"$package\" ] || continue\n\
             \x20 name=$(dpkg-deb -f \"$package\" Package)\n\
             \x20 dpkg-query -W -f='${{Status}}' \"$name\" 2> /dev/null | grep -q 'ok installed' || missing=\"$missing $package\"\n\
             done\n\
             if [ -n \"$missing\" ]; then\n\
             \x20 # shellcheck disable=SC2086\n\
             \x20 dpkg -i $missing > /dev/null || fail \"installing the uploaded packages failed\"\n\
             fi\n\
             command -v containerd > /dev/null || fail \"containerd is not installed and the air-gap directory has no containerd package\"\n\
             # The CNI plugins where containerd looks for them (/opt/cni/bin, where kubernetes-cni puts them):\n\
             # Debian's containernetworking-plugins installs them in /usr/lib/cni.\n\
             if [ -d /usr/lib/cni ]; then\n\
             \x20 mkdir -p /opt/cni/bin\n\
             \x20 for plugin in /usr/lib/cni/*; do [ -e \"/opt/cni/bin/${{plugin##*/}}\" ] || ln -s \"$plugin\" /opt/cni/bin/; done\n\
             fi\n\
             \n\
             # kubeadm, kubelet and kubectl {version} were uploaded by labform (air-gapped), verified.\n\
             kubeadm={AIR_GAP_BINARIES}/kubeadm\n\
             [ \"$($kubeadm version -o short)\" = \"$version\" ] || fail \"$kubeadm is not {version}\"\n\
             systemctl daemon-reload\n\
             \n"
        )),
    }
    script.push_str(&format!(
        "# containerd's configuration: its defaults, the systemd cgroup driver and the sandbox image kubeadm\n\
         # {version} names; containerd restarts only when it changes.\n\
         sandbox=$($kubeadm config images list --kubernetes-version \"$version\"{repository_flag} 2> /dev/null | grep '/pause:' | head -n 1)\n\
         [ -n \"$sandbox\" ] || fail \"kubeadm named no sandbox (pause) image\"\n\
         wanted=$(containerd config default | sed -e 's/SystemdCgroup = false/SystemdCgroup = true/' \\\n\
         \x20 -e \"s@sandbox_image = .*@sandbox_image = \\\"$sandbox\\\"@\")\n\
         printf '%s\\n' \"$wanted\" | grep -q 'SystemdCgroup = true' || fail \"containerd's default configuration has no SystemdCgroup setting\"\n\
         printf '%s\\n' \"$wanted\" | grep -qF \"sandbox_image = \\\"$sandbox\\\"\" || fail \"containerd's default configuration has no sandbox_image setting\"\n\
         mkdir -p /etc/containerd\n\
         if [ \"$(cat /etc/containerd/config.toml 2> /dev/null)\" != \"$wanted\" ]; then\n\
         \x20 printf '%s\\n' \"$wanted\" > /etc/containerd/config.toml\n\
         \x20 systemctl restart containerd\n\
         fi\n\
         systemctl enable --now containerd > /dev/null 2>&1\n\
         \n"
    ));
    if source == PackageSource::AirGap {
        script.push_str(&format!(
            "# The image archives labform uploaded, into containerd's Kubernetes namespace.\n\
             for archive in {AIR_GAP_IMAGES}/*.tar; do\n\
             \x20 [ -f \"$archive\" ] || continue\n\
             \x20 ctr -n k8s.io images import \"$archive\" > /dev/null\n\
             done\n\
             \n"
        ));
    }
    script.push_str(
        "systemctl enable kubelet > /dev/null 2>&1\n\
         if [ \"$stage\" = kubelet ]; then\n\
         \x20 systemctl daemon-reload\n\
         \x20 systemctl restart kubelet\n\
         fi\n",
    );
    script
}

/// The shell script that takes kubeadm off a node: `kubeadm reset` (static pods, etcd's data,
/// kubeadm's files and the kubelet's state), then what it leaves: the CNI's configuration and
/// interfaces, kube-vip's manifest and labform's files, the etcd snapshot timer (the snapshots
/// stay). The packages stay installed (and held).
/// Idempotent.
pub fn reset_script() -> String {
    format!(
        "set -u\n\
         # Without crictl, kubeadm reset cannot remove the containers: stop the kubelet, then end\n\
         # and remove them through containerd.\n\
         if ! command -v crictl > /dev/null 2>&1 && command -v ctr > /dev/null 2>&1; then\n\
         \x20 systemctl stop kubelet 2> /dev/null || true\n\
         \x20 for container in $(ctr -n k8s.io containers ls -q 2> /dev/null); do\n\
         \x20   ctr -n k8s.io tasks delete -f \"$container\" > /dev/null 2>&1 || true\n\
         \x20   ctr -n k8s.io containers rm \"$container\" > /dev/null 2>&1 || true\n\
         \x20 done\n\
         fi\n\
         for kubeadm in kubeadm {AIR_GAP_BINARIES}/kubeadm; do\n\
         \x20 if command -v \"$kubeadm\" > /dev/null 2>&1; then\n\
         \x20   \"$kubeadm\" reset -f > /dev/null 2>&1 || true\n\
         \x20   break\n\
         \x20 fi\n\
         done\n\
         systemctl stop kubelet 2> /dev/null || true\n\
         for link in cni0 flannel.1 tunl0 vxlan.calico cilium_host cilium_net cilium_vxlan kube-ipvs0; do ip link delete \"$link\" 2> /dev/null || true; done\n\
         rm -rf /etc/cni/net.d {LABFORM_DIRECTORY} {KUBE_VIP_MANIFEST} /var/lib/etcd /var/lib/kubelet {AIR_GAP_IMAGES} {AIR_GAP_PACKAGES}\n\
         {}",
        crate::etcd_snapshots::reset_lines()
    )
}

/// What a node has now: the SHA-256 of each managed file that exists, whether it is part of a
/// cluster, and whether its kubelet runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// SHA-256 by path.
    pub digests: std::collections::BTreeMap<String, String>,
    /// Whether the node is in a cluster (`kubelet.conf` exists).
    pub joined: bool,
    /// `systemctl is-active kubelet`.
    pub kubelet: String,
    /// labform's add-on manifest files there (the first control plane), by file name.
    pub manifests: Vec<String>,
}

/// Marker of the state line in the facts command's output.
const STATE_MARKER: &str = "labform-state";
/// Marker of a manifest file line.
const MANIFEST_MARKER: &str = "labform-manifest";

/// The command that reports a node's facts about `paths`.
pub fn facts_command(paths: &[&str]) -> String {
    let quoted: Vec<String> = paths.iter().map(|path| shell_quote(path)).collect();
    let script = format!(
        "for file in {files}; do if [ -f \"$file\" ]; then sha256sum \"$file\"; fi; done; \
         for file in {MANIFESTS_DIRECTORY}/*.yaml; do if [ -f \"$file\" ]; then echo \"{MANIFEST_MARKER} $(basename \"$file\")\"; sha256sum \"$file\"; fi; done; \
         joined=no; if [ -f {KUBELET_KUBECONFIG} ]; then joined=yes; fi; \
         echo \"{STATE_MARKER} $joined $(systemctl is-active kubelet 2>/dev/null)\"",
        files = quoted.join(" "),
    );
    format!("sudo -n sh -c {}", shell_quote(&script))
}

/// Reads the facts command's output.
pub fn parse_facts(output: &str) -> NodeFacts {
    let mut facts = NodeFacts::default();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix(STATE_MARKER) {
            let mut words = rest.split_whitespace();
            facts.joined = words.next() == Some("yes");
            facts.kubelet = words.next().unwrap_or("unknown").to_owned();
        } else if let Some(name) = line.strip_prefix(MANIFEST_MARKER) {
            facts.manifests.push(name.trim().to_owned());
        } else if let Some((digest, path)) = line.split_once("  ") {
            facts.digests.insert(path.to_owned(), digest.to_owned());
        }
    }
    facts
}

/// Reads the facts of `files` (and the manifests folder) from the node.
pub async fn read_facts(
    session: &Session,
    files: &[NodeFile],
) -> Result<NodeFacts, labform_ssh::SshError> {
    let paths: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
    let output = session.exec_checked(&facts_command(&paths)).await?;
    Ok(parse_facts(&String::from_utf8_lossy(&output.stdout)))
}

/// The files of `files` whose contents on the node differ from labform's (or are missing).
pub fn differing<'a>(files: &'a [NodeFile], facts: &NodeFacts) -> Vec<&'a NodeFile> {
    files
        .iter()
        .filter(|file| facts.digests.get(&file.path) != Some(&file.sha256))
        .collect()
}

/// Uploads `files` as root.
pub async fn upload(session: &Session, files: &[&NodeFile]) -> Result<(), labform_ssh::SshError> {
    for file in files {
        session
            .upload_as_root(&file.path, file.contents.bytes(), file.mode)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> KubernetesVersion {
        KubernetesVersion::parse(text).expect("a version")
    }

    /// `sh -n` (the node's `/bin/sh` family) parses the script.
    fn parses(script: &str) {
        let output = std::process::Command::new("sh")
            .args(["-n", "-c", script])
            .output()
            .expect("sh runs");
        assert!(
            output.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn scripts_parse_and_are_what_people_review() {
        let repository = prepare_script(version("v1.29.6"), PackageSource::Repository, None);
        let air_gap = prepare_script(
            version("v1.20.2"),
            PackageSource::AirGap,
            Some("registry.labform.internal"),
        );
        for script in [&repository, &air_gap, &reset_script()] {
            parses(script);
        }
        assert!(repository.contains("https://pkgs.k8s.io/core:/stable:/v1.29/deb/"));
        assert!(repository.contains("'^1.29.6-'"));
        insta::assert_snapshot!("prepare-repository", repository);
        insta::assert_snapshot!("prepare-air-gap", air_gap);
        insta::assert_snapshot!("reset", reset_script());
        insta::assert_snapshot!("kubelet-unit", kubelet_unit());
        insta::assert_snapshot!("kubelet-drop-in", kubelet_drop_in());
    }

    #[test]
    fn facts_are_read_back() {
        let output = "abc  /etc/kubernetes/labform/kubeadm.yaml\n\
                      labform-manifest 00-helm-controller.yaml\n\
                      def  /etc/kubernetes/labform/manifests/00-helm-controller.yaml\n\
                      labform-state yes active\n";
        let facts = parse_facts(output);
        assert!(facts.joined);
        assert_eq!(facts.kubelet, "active");
        assert_eq!(facts.manifests, ["00-helm-controller.yaml"]);
        assert_eq!(facts.digests["/etc/kubernetes/labform/kubeadm.yaml"], "abc");
        let fresh = parse_facts("labform-state no inactive\n");
        assert!(!fresh.joined);
        let file = NodeFile::public("/etc/kubernetes/labform/kubeadm.yaml", b"x".to_vec(), 0o600);
        assert_eq!(differing(std::slice::from_ref(&file), &facts).len(), 1);
    }

    #[test]
    fn secrets_stay_out_of_commands_and_debug() {
        let file = NodeFile::secret(CA_KEY, SecretString::from("-----BEGIN PRIVATE KEY----- x"));
        assert!(!format!("{file:?}").contains("PRIVATE"));
        let command = facts_command(&[CA_KEY, PREPARE_SCRIPT]);
        assert!(!command.contains("PRIVATE"));
    }
}
