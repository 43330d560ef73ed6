//! The Kubernetes release the cluster runs: the tarball from the release directory
//! ([`labform_test_tiers::kubernetes_release_dir`]) is checked against the `SHA256SUMS` beside
//! it and unpacked once into a cache directory (`~/.cache/labform/kubernetes/v1.20.2`, or
//! `$LABFORM_KUBERNETES_CACHE`), like the real-VM tests' node image. Every binary is checked
//! against its line of `SHA256SUMS` each time the cache is reused, so a damaged or replaced
//! cached binary is unpacked again rather than run.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use labform_test_tiers::KUBERNETES_RELEASE_TARBALL;

use crate::StartError;

/// The binaries the cluster runs, and kubeadm (whose configuration checks labform's kubeadm
/// tests run), as named in the tarball (`kubernetes-1.20.2/bin/NAME`).
pub(crate) const BINARIES: [&str; 6] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kubectl",
    "kubeadm",
];

/// The directory inside the tarball.
const TOP: &str = "kubernetes-1.20.2";

fn failed(detail: impl Into<String>) -> StartError {
    StartError::Release {
        detail: detail.into(),
    }
}

/// The SHA-256 of a file, in hexadecimal, by `sha256sum` (hashing the release's 470 MB in an
/// unoptimised test build would take half a minute).
pub(crate) fn sha256_file(path: &Path) -> Result<String, std::io::Error> {
    let output = Command::new("sha256sum").arg(path).output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .next()
        .filter(|hash| hash.len() == 64)
        .map(str::to_owned)
        .ok_or_else(|| std::io::Error::other("sha256sum printed no hash"))
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `SHA256SUMS` as path → hash (`HASH  PATH` lines, as `sha256sum` writes them).
fn read_sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (hash, path) = line.trim().split_once(char::is_whitespace)?;
            let path = path.trim_start().trim_start_matches('*');
            (hash.len() == 64 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()))
                .then(|| (path.to_owned(), hash.to_ascii_lowercase()))
        })
        .collect()
}

/// The cache directory: `$LABFORM_KUBERNETES_CACHE`, else `$HOME/.cache/labform/kubernetes/v1.20.2`.
fn cache_dir() -> PathBuf {
    if let Some(directory) = std::env::var_os("LABFORM_KUBERNETES_CACHE") {
        return PathBuf::from(directory);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/labform/kubernetes/v1.20.2")
}

/// Whether every binary in `bin` has the hash `sums` gives it.
fn binaries_match(bin: &Path, sums: &BTreeMap<String, String>) -> Result<(), String> {
    for name in BINARIES {
        let key = format!("{TOP}/bin/{name}");
        let wanted = sums
            .get(&key)
            .ok_or_else(|| format!("SHA256SUMS has no line for {key}"))?;
        let actual = sha256_file(&bin.join(name))
            .map_err(|error| format!("cannot read {}: {error}", bin.join(name).display()))?;
        if &actual != wanted {
            return Err(format!(
                "{} has SHA-256 {actual}, SHA256SUMS says {wanted}",
                bin.join(name).display()
            ));
        }
    }
    Ok(())
}

/// The directory of verified binaries: from the cache when they are there and match, else
/// unpacked from the verified tarball.
pub fn prepare() -> Result<PathBuf, StartError> {
    let source = labform_test_tiers::kubernetes_release_dir();
    let sums_path = source.join("SHA256SUMS");
    let sums_text = fs::read_to_string(&sums_path)
        .map_err(|error| failed(format!("cannot read {}: {error}", sums_path.display())))?;
    let sums = read_sums(&sums_text);
    let cache = cache_dir();
    let bin = cache.join("bin");
    if bin.is_dir() && binaries_match(&bin, &sums).is_ok() {
        return Ok(bin);
    }

    let tarball = source.join(KUBERNETES_RELEASE_TARBALL);
    let wanted = sums.get(KUBERNETES_RELEASE_TARBALL).ok_or_else(|| {
        failed(format!(
            "{} has no line for {KUBERNETES_RELEASE_TARBALL}",
            sums_path.display()
        ))
    })?;
    let actual = sha256_file(&tarball)
        .map_err(|error| failed(format!("cannot read {}: {error}", tarball.display())))?;
    if &actual != wanted {
        return Err(failed(format!(
            "{} has SHA-256 {actual}, but {} says {wanted}",
            tarball.display(),
            sums_path.display()
        )));
    }
    fs::create_dir_all(&cache)
        .map_err(|error| failed(format!("cannot create {}: {error}", cache.display())))?;
    let unpacking = cache.join(format!("unpacking-{}", std::process::id()));
    let _ = fs::remove_dir_all(&unpacking);
    fs::create_dir_all(&unpacking)
        .map_err(|error| failed(format!("cannot create {}: {error}", unpacking.display())))?;
    let output = Command::new("tar")
        .arg("-xJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacking)
        .args(BINARIES.map(|name| format!("{TOP}/bin/{name}")))
        .output()
        .map_err(|error| failed(format!("cannot run tar: {error}")))?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&unpacking);
        return Err(failed(format!(
            "tar could not unpack {}: {}",
            tarball.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let unpacked = unpacking.join(TOP).join("bin");
    if let Err(detail) = binaries_match(&unpacked, &sums) {
        let _ = fs::remove_dir_all(&unpacking);
        return Err(failed(format!(
            "the unpacked release does not match: {detail}"
        )));
    }
    let _ = fs::remove_dir_all(&bin);
    fs::rename(&unpacked, &bin).map_err(|error| {
        failed(format!(
            "cannot move {} to {}: {error}",
            unpacked.display(),
            bin.display()
        ))
    })?;
    let _ = fs::remove_dir_all(&unpacking);
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_read_as_sha256sum_writes_them() {
        let text = "eb5dae5b6bf290cd1e85ffd77a5c1e21d27fb012ab99573187875ac4345f5f4f  kubernetes-1.20.2-linux-amd64.tar.xz\n\
                    91FA93B33F7384F7082D8BD06BD495FD218F4FEC6CB2178DC3E510CE6942E688 *kubernetes-1.20.2/bin/kube-apiserver\n\
                    not a line\n";
        let sums = read_sums(text);
        assert_eq!(sums.len(), 2);
        assert_eq!(
            sums["kubernetes-1.20.2/bin/kube-apiserver"],
            "91fa93b33f7384f7082d8bd06bd495fd218f4fec6cb2178dc3e510ce6942e688"
        );
    }
}
