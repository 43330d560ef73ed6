//! Where the tests find what lies outside the repository: programs (on `PATH`, or in `/usr/sbin`
//! and `/sbin`), the Kubernetes release, the node image build script, proxmoxer's virtual
//! environment and mermaid-cli, each overridable by an environment variable.

use std::path::{Path, PathBuf};

/// The proxmoxer release the `proxmoxer` tier uses (with requests [`PROXMOXER_REQUESTS_VERSION`]).
pub const PROXMOXER_VERSION: &str = "2.3.0";

/// The requests release installed beside proxmoxer.
pub const PROXMOXER_REQUESTS_VERSION: &str = "2.34.2";

/// The Python of the virtual environment `scripts/test.sh` installs proxmoxer into:
/// `$LABFORM_PROXMOXER_PYTHON`, or `target/proxmoxer-venv/bin/python3` of the workspace.
pub fn proxmoxer_python() -> PathBuf {
    std::env::var_os("LABFORM_PROXMOXER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/proxmoxer-venv/bin/python3")
        })
}

/// The Kubernetes release tarball's file name in [`kubernetes_release_dir`].
pub const KUBERNETES_RELEASE_TARBALL: &str = "kubernetes-1.20.2-linux-amd64.tar.xz";

/// The directory with the real-Kubernetes tier's release: `$LABFORM_KUBERNETES_RELEASE`, or
/// `../shared/k8s` beside the repository (a documented path outside it: README, "Tests"). It
/// holds [`KUBERNETES_RELEASE_TARBALL`] and `SHA256SUMS`.
pub fn kubernetes_release_dir() -> PathBuf {
    std::env::var_os("LABFORM_KUBERNETES_RELEASE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/k8s"))
}

/// The script that builds the real-VM tests' node image: `$LABFORM_VM_IMAGE_BUILD`, or
/// `../shared/vm-image/build.sh` beside the repository (a documented path outside it: README,
/// "Tests").
pub fn node_image_build_script() -> PathBuf {
    std::env::var_os("LABFORM_VM_IMAGE_BUILD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vm-image/build.sh")
        })
}

/// mermaid-cli's `mmdc`: `$LABFORM_MERMAID_CLI` (`scripts/test.sh` installs it with npm under
/// `target/tools/mermaid-cli` and sets it), else `mmdc` on `PATH`.
pub fn mermaid_cli() -> Option<PathBuf> {
    match std::env::var_os("LABFORM_MERMAID_CLI") {
        Some(path) => {
            let path = PathBuf::from(path);
            is_executable(&path).then_some(path)
        }
        None => find_program("mmdc"),
    }
}

/// The path of a program: `name` itself when absolute, else the first match on `PATH`, then in
/// `/usr/sbin` and `/sbin` (not on every user's `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let candidate = Path::new(name);
    if candidate.is_absolute() {
        return is_executable(candidate).then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|directory| directory.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}
