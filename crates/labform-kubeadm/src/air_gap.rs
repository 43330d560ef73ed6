//! What an air-gapped node can and cannot do, read from the node after its preparation: whether
//! `crictl` is there (kubeadm's preflight checks and image checks run through it: without it
//! they cannot run, so labform skips kubeadm's `preflight` phase and says so), which images
//! kubeadm names that containerd does not hold (what runs them will not start, so labform says
//! which), and whether the Helm controller's image is there (without it no add-on can be
//! delivered, so labform leaves them and says why instead of waiting for CRDs that never come).

use std::collections::BTreeSet;

use labform_ssh::{Session, SshError, shell_quote};

use crate::node::AIR_GAP_BINARIES;

/// What a node reports about its images and tools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeImages {
    /// Whether `crictl` is on the node.
    pub crictl: bool,
    /// The images containerd holds in its Kubernetes namespace, as references.
    pub present: BTreeSet<String>,
    /// The images kubeadm names for the cluster's version (`kubeadm config images list`).
    pub kubeadm: Vec<String>,
}

const CRICTL_MARKER: &str = "labform-crictl";
const PRESENT_MARKER: &str = "labform-present";
const KUBEADM_MARKER: &str = "labform-kubeadm";

/// The command that reports a node's [`NodeImages`]; `list_arguments` are the arguments of
/// `kubeadm config images list` (the version and the image repository).
pub fn images_command(list_arguments: &str) -> String {
    let script = format!(
        "PATH={AIR_GAP_BINARIES}:$PATH; \
         if command -v crictl > /dev/null 2>&1; then echo '{CRICTL_MARKER} yes'; else echo '{CRICTL_MARKER} no'; fi; \
         ctr -n k8s.io images ls -q 2> /dev/null | sed 's/^/{PRESENT_MARKER} /'; \
         kubeadm config images list {list_arguments} 2> /dev/null | sed 's/^/{KUBEADM_MARKER} /'"
    );
    format!("sudo -n sh -c {}", shell_quote(&script))
}

/// Reads the images command's output.
pub fn parse_images(output: &str) -> NodeImages {
    let mut images = NodeImages::default();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix(CRICTL_MARKER) {
            images.crictl = rest.trim() == "yes";
        } else if let Some(rest) = line.strip_prefix(PRESENT_MARKER) {
            images.present.insert(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix(KUBEADM_MARKER) {
            images.kubeadm.push(rest.trim().to_owned());
        }
    }
    images
}

/// Reads what `session`'s node holds.
pub async fn read_images(session: &Session, list_arguments: &str) -> Result<NodeImages, SshError> {
    let output = session
        .exec_checked(&images_command(list_arguments))
        .await?;
    Ok(parse_images(&String::from_utf8_lossy(&output.stdout)))
}

/// An image reference as containerd names it: Docker Hub's domain and `library/` filled in
/// (`rancher/helm-controller:v1` is `docker.io/rancher/helm-controller:v1`).
pub fn normalized(reference: &str) -> String {
    let (first, rest) = match reference.split_once('/') {
        Some(parts) => parts,
        None => return format!("docker.io/library/{reference}"),
    };
    if first.contains('.') || first.contains(':') || first == "localhost" {
        reference.to_owned()
    } else {
        format!("docker.io/{first}/{rest}")
    }
}

impl NodeImages {
    /// Whether containerd holds `reference`.
    pub fn has(&self, reference: &str) -> bool {
        self.present.contains(&normalized(reference))
    }

    /// The images kubeadm names that containerd does not hold.
    pub fn missing(&self) -> Vec<String> {
        self.kubeadm
            .iter()
            .filter(|image| !self.has(image))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_named_as_containerd_names_them() {
        assert_eq!(
            normalized("rancher/helm-controller:v0.17.7"),
            "docker.io/rancher/helm-controller:v0.17.7"
        );
        assert_eq!(normalized("busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(normalized("k8s.gcr.io/pause:3.2"), "k8s.gcr.io/pause:3.2");
        assert_eq!(normalized("localhost:5000/etcd:3"), "localhost:5000/etcd:3");
    }

    #[test]
    fn the_report_is_read_back() {
        let images = parse_images(
            "labform-crictl no\n\
             labform-present k8s.gcr.io/pause:3.2\n\
             labform-present docker.io/local/busybox:1\n\
             labform-kubeadm k8s.gcr.io/pause:3.2\n\
             labform-kubeadm k8s.gcr.io/coredns:1.7.0\n",
        );
        assert!(!images.crictl);
        assert_eq!(images.missing(), ["k8s.gcr.io/coredns:1.7.0"]);
        assert!(images.has("local/busybox:1"));
        assert!(!images.has("rancher/helm-controller:v0.17.7"));
        let command = images_command("--kubernetes-version 'v1.20.2'");
        assert!(command.starts_with("sudo -n sh -c "), "{command}");
    }
}
