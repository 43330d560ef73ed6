//! An air-gap directory of Kubernetes files (`labform apply --kubernetes-artifacts DIR`):
//! `kubeadm`, `kubelet` and `kubectl` of the cluster's version (and `crictl`, optional), the
//! image archives kubeadm needs (`*.tar`, imported with `ctr -n k8s.io images import`), and the
//! OS packages a node may lack (`*.deb`: containerd, runc, the CNI plugins, conntrack and what
//! they depend on; a node installs those it does not have), each listed in the directory's
//! `SHA256SUMS` (`HASH  PATH` lines, as `sha256sum` writes them; a binary may be listed as
//! `NAME` or `SOMETHING/bin/NAME`, as release trees are). Every file is checked against its line
//! before labform uses it; a file not listed is never read.
//!
//! Image archives named after a control-plane component (`kube-apiserver*.tar`,
//! `kube-controller-manager*.tar`, `kube-scheduler*.tar`, `etcd*.tar`) go to control planes
//! only; the others (pause, kube-proxy, CoreDNS, the CNI's) to every node.
//! `scripts/kubernetes-air-gap.py` makes such a directory from `../shared/k8s` and Debian's
//! packages.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::node::sha256_hex;

/// The binaries an air-gap directory must have.
pub const BINARIES: [&str; 3] = ["kubeadm", "kubelet", "kubectl"];

/// A binary an air-gap directory may have: kubeadm's preflight checks and image checks run
/// through it (cri-tools).
pub const CRICTL: &str = "crictl";

/// The beginnings of the names of image archives only control planes need.
const CONTROL_PLANE_IMAGES: [&str; 4] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
];

/// A file read from the directory and checked against `SHA256SUMS`.
#[derive(Clone)]
pub struct VerifiedFile {
    /// The file's name (`kubeadm`, `kube-apiserver.tar`).
    pub name: String,
    /// Its bytes.
    pub contents: Arc<Vec<u8>>,
    /// Its SHA-256, hexadecimal.
    pub sha256: String,
}

impl std::fmt::Debug for VerifiedFile {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("VerifiedFile")
            .field("name", &self.name)
            .field("bytes", &self.contents.len())
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// The verified files of an air-gap directory.
#[derive(Debug, Clone)]
pub struct AirGapFiles {
    /// The directory.
    pub directory: PathBuf,
    /// kubeadm, kubelet and kubectl, in that order, then crictl when the directory has it.
    pub binaries: Vec<VerifiedFile>,
    /// Image archives.
    pub images: Vec<VerifiedFile>,
    /// Debian packages (`*.deb`).
    pub packages: Vec<VerifiedFile>,
}

impl VerifiedFile {
    /// Whether only control planes need this image archive.
    pub fn control_plane_only(&self) -> bool {
        CONTROL_PLANE_IMAGES
            .iter()
            .any(|component| self.name.starts_with(component))
    }
}

/// Why an air-gap directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the Kubernetes files in {directory}: {detail}")]
pub struct ArtifactError {
    /// The directory.
    pub directory: String,
    /// What is wrong, with a hint.
    pub detail: String,
}

/// `SHA256SUMS` as (path, hash) pairs.
fn read_sums(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (hash, path) = line.trim().split_once(char::is_whitespace)?;
            let path = path.trim_start().trim_start_matches('*');
            (hash.len() == 64 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()))
                .then(|| (path.to_owned(), hash.to_ascii_lowercase()))
        })
        .collect()
}

/// Reads and verifies the air-gap directory `directory`.
pub fn read(directory: &Path) -> Result<AirGapFiles, ArtifactError> {
    let failed = |detail: String| ArtifactError {
        directory: directory.display().to_string(),
        detail,
    };
    let sums_path = directory.join("SHA256SUMS");
    let text = std::fs::read_to_string(&sums_path).map_err(|error| {
        failed(format!(
            "cannot read SHA256SUMS ({error})\n  hint: the directory needs kubeadm, kubelet, kubectl and the image archives, and SHA256SUMS listing them (`sha256sum kubeadm kubelet kubectl *.tar > SHA256SUMS`)"
        ))
    })?;
    let sums = read_sums(&text);
    let verified = |path: &str, hash: &str| -> Result<VerifiedFile, ArtifactError> {
        let bytes = std::fs::read(directory.join(path))
            .map_err(|error| failed(format!("cannot read {path} ({error})")))?;
        let actual = sha256_hex(&bytes);
        if actual != hash {
            return Err(failed(format!(
                "{path} has SHA-256 {actual} but SHA256SUMS says {hash}; it was not used"
            )));
        }
        let name = Path::new(path)
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_owned());
        Ok(VerifiedFile {
            name,
            contents: Arc::new(bytes),
            sha256: actual,
        })
    };
    let mut binaries = Vec::new();
    for name in BINARIES {
        let (path, hash) = sums
            .iter()
            .find(|(path, _)| path == name || path.ends_with(&format!("/bin/{name}")))
            .ok_or_else(|| failed(format!("SHA256SUMS lists no {name}")))?;
        binaries.push(verified(path, hash)?);
    }
    if let Some((path, hash)) = sums
        .iter()
        .find(|(path, _)| path == CRICTL || path.ends_with(&format!("/bin/{CRICTL}")))
    {
        binaries.push(verified(path, hash)?);
    }
    let mut images = Vec::new();
    for (path, hash) in sums.iter().filter(|(path, _)| path.ends_with(".tar")) {
        images.push(verified(path, hash)?);
    }
    let mut packages = Vec::new();
    for (path, hash) in sums.iter().filter(|(path, _)| path.ends_with(".deb")) {
        packages.push(verified(path, hash)?);
    }
    Ok(AirGapFiles {
        directory: directory.to_owned(),
        binaries,
        images,
        packages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_against_their_sums() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path();
        let mut sums = String::new();
        for name in BINARIES {
            let contents = format!("binary {name}");
            std::fs::create_dir_all(path.join("kubernetes/bin")).expect("mkdir");
            std::fs::write(path.join("kubernetes/bin").join(name), &contents).expect("write");
            sums.push_str(&format!(
                "{}  kubernetes/bin/{name}\n",
                sha256_hex(contents.as_bytes())
            ));
        }
        std::fs::write(path.join("pause.tar"), "image").expect("write");
        sums.push_str(&format!("{}  pause.tar\n", sha256_hex(b"image")));
        std::fs::create_dir_all(path.join("packages")).expect("mkdir");
        std::fs::write(path.join("packages/runc_1.deb"), "package").expect("write");
        sums.push_str(&format!(
            "{}  packages/runc_1.deb\n",
            sha256_hex(b"package")
        ));
        std::fs::write(path.join("etcd.tar"), "etcd").expect("write");
        sums.push_str(&format!("{}  etcd.tar\n", sha256_hex(b"etcd")));
        std::fs::write(path.join("SHA256SUMS"), &sums).expect("write");
        let files = read(path).expect("verified");
        assert_eq!(
            files
                .binaries
                .iter()
                .map(|file| file.name.as_str())
                .collect::<Vec<_>>(),
            BINARIES
        );
        assert_eq!(files.images.len(), 2);
        assert_eq!(files.packages.len(), 1);
        assert_eq!(files.packages[0].name, "runc_1.deb");
        let only: Vec<(&str, bool)> = files
            .images
            .iter()
            .map(|image| (image.name.as_str(), image.control_plane_only()))
            .collect();
        assert_eq!(only, [("pause.tar", false), ("etcd.tar", true)]);

        std::fs::write(path.join("pause.tar"), "another image").expect("write");
        let error = read(path).expect_err("changed").to_string();
        assert!(error.contains("pause.tar has SHA-256"), "{error}");

        std::fs::write(path.join("SHA256SUMS"), "").expect("write");
        let error = read(path).expect_err("empty").to_string();
        assert!(error.contains("SHA256SUMS lists no kubeadm"), "{error}");
    }
}
