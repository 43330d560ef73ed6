#!/usr/bin/env python3
"""Makes an air-gap directory for `labform apply --kubernetes-artifacts DIR` from what this machine
can reach (no image registry): the Kubernetes v1.20.2 binaries of ../shared/k8s, control-plane
images built from them, the OS packages a Debian 12 node needs for kubeadm, and SHA256SUMS.

    python3 scripts/kubernetes-air-gap.py OUT_DIR [--release-dir DIR]

OUT_DIR receives:
  kubeadm, kubelet, kubectl      the release's binaries (checked against its SHA256SUMS)
  images/*.tar                   docker-archive images `ctr -n k8s.io images import` reads, each a tar
                                 of one layer tar, the image config and manifest.json (no Docker):
                                 kube-apiserver, kube-controller-manager, kube-scheduler (the static
                                 binaries), etcd (Debian's etcd-server with the libraries it links),
                                 pause (Debian's static busybox sleeping, also tagged local/busybox:1
                                 for test pods), all under the names kubeadm v1.20.2 lists
  packages/*.deb                 containerd, runc, containernetworking-plugins, conntrack, socat,
                                 ebtables, ethtool, iptables and their dependencies (`apt-get
                                 download`); labform installs those a node lacks
  SHA256SUMS                     every file above
  SKIPPED                        the images kubeadm lists that cannot be built here, and why

Not built (no source here): CoreDNS (k8s.gcr.io/coredns:1.7.0) and kube-proxy, whose image needs
iptables' user space beside the binary. A finished OUT_DIR (its SHA256SUMS checks) is reused.
Needs root for nothing; needs apt-get, tar, xz, ldd and sha256sum.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

VERSION = "v1.20.2"
TARBALL = "kubernetes-1.20.2-linux-amd64.tar.xz"
TOP = "kubernetes-1.20.2/bin"
# What `kubeadm config images list --kubernetes-version v1.20.2` prints, built or skipped below.
CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
REGISTRY = "k8s.gcr.io"
ETCD_TAG = "3.4.13-0"
PAUSE_TAG = "3.2"
SKIPPED = {
    f"{REGISTRY}/coredns:1.7.0": "CoreDNS is not packaged by Debian 12 and no registry is reachable",
    f"{REGISTRY}/kube-proxy:{VERSION}": "the image needs iptables' user space with the binary; not built yet",
}
PACKAGES = ["containerd", "runc", "containernetworking-plugins", "conntrack", "socat",
            "ebtables", "ethtool", "iptables"]
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def finished(out):
    sums = os.path.join(out, "SHA256SUMS")
    if not os.path.isfile(sums):
        return False
    return subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def linked_files(binary):
    """The binary and, when it is linked dynamically, the libraries and loader `ldd` names."""
    files = [binary]
    result = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if result.returncode != 0:
        return files  # "not a dynamic executable"
    for line in result.stdout.splitlines():
        for word in line.split():
            if word.startswith("/") and os.path.exists(word):
                files.append(word)
    return files


def image(out_path, tags, files, entrypoint=None):
    """A docker-archive image whose one layer holds `files` (source -> path in the image)."""
    with tempfile.TemporaryDirectory() as work:
        layer = os.path.join(work, "layer.tar")
        with tarfile.open(layer, "w") as tar:
            directories = set()
            for source, target in sorted(files.items(), key=lambda item: item[1]):
                parts = target.strip("/").split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    directory = "/".join(parts[:depth])
                    if directory not in directories:
                        directories.add(directory)
                        info = tarfile.TarInfo(directory)
                        info.type = tarfile.DIRTYPE
                        info.mode = 0o755
                        tar.addfile(info)
                info = tar.gettarinfo(os.path.realpath(source), arcname=target.strip("/"))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                with open(os.path.realpath(source), "rb") as file:
                    tar.addfile(info, file)
        config = {"architecture": "amd64", "os": "linux",
                  "config": {"Env": [PATH_ENV]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha256(layer)]}}
        if entrypoint:
            config["config"]["Entrypoint"] = entrypoint
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        with open(os.path.join(work, config_name), "wb") as file:
            file.write(config_bytes)
        with open(os.path.join(work, "manifest.json"), "w") as file:
            json.dump([{"Config": config_name, "Layers": ["layer.tar"], "RepoTags": tags}], file)
        with tarfile.open(out_path, "w") as tar:
            for name in ["manifest.json", config_name, "layer.tar"]:
                tar.add(os.path.join(work, name), arcname=name)


def download_packages(directory):
    """PACKAGES and everything they depend on, as Debian's .debs; a node installs those it lacks."""
    known = subprocess.run(["apt-cache", "policy", PACKAGES[0]], capture_output=True, text=True)
    if "Candidate:" not in known.stdout or "(none)" in known.stdout:
        # A fresh machine's package lists may be missing.
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    result = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances"] + PACKAGES,
        capture_output=True, text=True, check=True)
    names = set(PACKAGES)
    for line in result.stdout.splitlines():
        word = line.strip()
        if word and not word.startswith("<") and ":" not in word and " " not in word:
            names.add(word)
        elif ":" in word:
            name = word.split(":", 1)[1].strip()
            if name and not name.startswith("<"):
                names.add(name)
    # Only packages with an installable candidate (virtual ones have none).
    policy = subprocess.run(["apt-cache", "policy"] + sorted(names), capture_output=True,
                            text=True, check=True).stdout
    real, current = [], None
    for line in policy.splitlines():
        if not line.startswith(" ") and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:") and "(none)" not in line:
            real.append(current)
    os.makedirs(directory, exist_ok=True)
    download = ["apt-get", "download", "-q"] + sorted(real)
    if subprocess.run(download, cwd=directory, stdout=subprocess.DEVNULL).returncode != 0:
        # A fresh machine's package lists may be missing or old.
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(download, cwd=directory, check=True, stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--release-dir", default=os.environ.get(
        "LABFORM_KUBERNETES_RELEASE", os.path.join(here, "../../shared/k8s")))
    arguments = parser.parse_args()
    out = os.path.abspath(arguments.out)
    if finished(out):
        print(f"air-gap directory ready in {out}")
        return
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "images"))
    release = os.path.abspath(arguments.release_dir)
    with tempfile.TemporaryDirectory() as work:
        # The release, checked against its SHA256SUMS before anything of it is used.
        subprocess.run(["sha256sum", "--quiet", "-c", "--ignore-missing", "SHA256SUMS"],
                       cwd=release, check=True)
        subprocess.run(["tar", "-xJf", os.path.join(release, TARBALL), "-C", work], check=True)
        sums = {}
        with open(os.path.join(release, "SHA256SUMS")) as file:
            for line in file:
                digest, path = line.split()
                sums[path] = digest
        bin_dir = os.path.join(work, TOP)
        for name in os.listdir(bin_dir):
            wanted = sums.get(f"{TOP}/{name}")
            if wanted and sha256(os.path.join(bin_dir, name)) != wanted:
                sys.exit(f"{name} in {TARBALL} does not match SHA256SUMS")
        for name in ["kubeadm", "kubelet", "kubectl"]:
            shutil.copy(os.path.join(bin_dir, name), os.path.join(out, name))
            os.chmod(os.path.join(out, name), 0o755)
        for name in CONTROL_PLANE:
            image(os.path.join(out, "images", f"{name}.tar"), [f"{REGISTRY}/{name}:{VERSION}"],
                  {os.path.join(bin_dir, name): f"/usr/local/bin/{name}"})
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(etcd):
        sys.exit("etcd is missing: apt-get install etcd-server")
    files = {path: path for path in linked_files(etcd)}
    files[etcd] = "/usr/local/bin/etcd"
    image(os.path.join(out, "images", "etcd.tar"), [f"{REGISTRY}/etcd:{ETCD_TAG}"], files)
    image(os.path.join(out, "images", "pause.tar"),
          [f"{REGISTRY}/pause:{PAUSE_TAG}", "local/busybox:1"], {"/bin/busybox": "/bin/busybox"},
          entrypoint=["/bin/busybox", "sleep", "2147483647"])
    download_packages(os.path.join(out, "packages"))
    with open(os.path.join(out, "SKIPPED"), "w") as file:
        for name, why in SKIPPED.items():
            file.write(f"{name}: {why}\n")
    listed = ["kubeadm", "kubelet", "kubectl"]
    listed += sorted(f"images/{name}" for name in os.listdir(os.path.join(out, "images")))
    listed += sorted(f"packages/{name}" for name in os.listdir(os.path.join(out, "packages")))
    with open(os.path.join(out, "SHA256SUMS"), "w") as file:
        for path in listed:
            file.write(f"{sha256(os.path.join(out, path))}  {path}\n")
    print(f"air-gap directory ready in {out}")


if __name__ == "__main__":
    main()
