#!/usr/bin/env bash
# The whole test suite, every tier (README, "Tests"): installs what the tests use when it is
# missing (Debian packages: OpenSSH, cloud-init, genisoimage, QEMU and what the real-VM test's image
# build needs, etcd, containerd, runc, the CNI plugins and a static busybox for the real-Kubernetes
# tier; Graphviz, Node.js and Chromium for the diagrams' DOT and Mermaid checks, Prometheus's
# promtool for the dashboard's metrics and curl for its HTTPS; PyPI packages
# kubernetes-validate and jsonschema, and proxmoxer in target/proxmoxer-venv; npm packages
# @mermaid-js/mermaid-cli and puppeteer under target/tools), checks that every outside command the
# tests run is there afterwards, then runs every test of the workspace with
# LABFORM_REQUIRE_ALL_TIERS=1, so a tier that cannot run fails instead of being skipped.
# Needs root: for apt-get, and for the real-sshd and real-VM tiers. Arguments go to `cargo test`
# (for example `bash scripts/test.sh -p labform-ssh`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Every outside command a test runs (or a script a test runs, such as the node image build), and
# the Debian package it comes from.
requirements=(
  "sshd openssh-server"
  "ssh openssh-client"
  "ssh-keygen openssh-client"
  "cloud-init cloud-init"
  "/usr/bin/python3 python3"
  "isoinfo genisoimage"
  "genisoimage genisoimage"
  "blkid util-linux"
  "qemu-system-x86_64 qemu-system-x86"
  "qemu-img qemu-utils"
  "ip iproute2"
  "sudo sudo"
  "socat socat"
  "debootstrap debootstrap"
  "mkfs.ext4 e2fsprogs"
  "sha256sum coreutils"
  "kill procps"
  "grep grep"
  "ldd libc-bin"
  "apt-get apt"
  "etcd etcd-server"
  "systemd-analyze systemd"
  "containerd containerd"
  "containerd-shim-runc-v2 containerd"
  "ctr containerd"
  "runc runc"
  "/usr/lib/cni/bridge containernetworking-plugins"
  "/usr/lib/cni/host-local containernetworking-plugins"
  "/usr/lib/cni/loopback containernetworking-plugins"
  "/bin/busybox busybox-static"
  "iptables iptables"
  "tar tar"
  "xz xz-utils"
  "unshare util-linux"
  "nsenter util-linux"
  "openssl openssl"
  "dot graphviz"
  "node nodejs"
  "npm npm"
  "/usr/bin/chromium chromium"
  "promtool prometheus"
  "curl curl"
  "git git"
  "/usr/lib/git-core/git-http-backend git"
)

# Whether a program file exists (never a shell builtin: tests start programs directly).
have() {
  case $1 in
    /*) [ -x "$1" ] ;;
    *) type -P "$1" > /dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}

missing_packages() {
  local entry
  for entry in "${requirements[@]}"; do
    have "${entry%% *}" || echo "${entry#* }"
  done | sort -u
}

missing_commands() {
  local entry
  for entry in "${requirements[@]}"; do
    have "${entry%% *}" || echo "  ${entry%% *} (Debian package ${entry#* })"
  done
}

# qemu-system-x86 and qemu-utils come from one source package and must be installed at one
# version: with a newer qemu-utils already there (this machine kind ships qemu-utils 10 from
# bookworm-backports), asking for qemu-system-x86 alone makes apt REMOVE qemu-utils. So both are
# asked for at the version apt would install qemu-system-x86 in, allowing qemu-utils to go down.
qemu_packages() {
  local version
  version=$(apt-cache policy qemu-system-x86 | sed -n 's/^ *Candidate: //p')
  if [[ -n $version && $version != "(none)" ]] \
    && apt-cache madison qemu-utils | grep -F "| $version |" > /dev/null; then
    echo "qemu-system-x86=$version qemu-utils=$version"
  else
    echo "qemu-system-x86 qemu-utils"
  fi
}

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh runs every tier, and the real-sshd and real-VM tiers need root: run it as" \
    "root, or run \`cargo test\` to run the tiers this machine can (it prints the ones it skips)" >&2
  exit 1
fi

# Installs the missing packages (and QEMU as a matching pair); apt's output goes to the log.
install_packages() {
  local package install=() qemu=()
  apt-get update -q || return
  for package in "$@"; do
    case $package in
      qemu-system-x86 | qemu-utils) read -ra qemu < <(qemu_packages) ;;
      *) install+=("$package") ;;
    esac
  done
  install+=("${qemu[@]}")
  echo "apt-get install ${install[*]}"
  apt-get install -y -q --no-install-recommends --allow-downgrades "${install[@]}"
}

mkdir -p target
log=target/test-setup.log
: > "$log"
mapfile -t packages < <(missing_packages)
if ((${#packages[@]})); then
  echo "installing with apt-get: ${packages[*]} (log: $log)"
  if ! DEBIAN_FRONTEND=noninteractive install_packages "${packages[@]}" >> "$log" 2>&1; then
    echo "apt-get failed; what it did ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
fi
if ! python3 -c 'import kubernetes_validate, jsonschema' 2> /dev/null; then
  echo "installing with pip: kubernetes-validate jsonschema (log: $log)"
  python3 -m pip install --disable-pip-version-check kubernetes-validate jsonschema >> "$log" 2>&1 \
    || true
fi
# The proxmoxer tier: PyPI's proxmoxer in a virtual environment under target/ (the versions are
# labform-test-tiers' PROXMOXER_VERSION and PROXMOXER_REQUESTS_VERSION).
proxmoxer_venv=target/proxmoxer-venv
proxmoxer_pins=(proxmoxer==2.3.0 requests==2.34.2)
# Whether the virtual environment has exactly the pinned releases.
proxmoxer_ready() {
  "$proxmoxer_venv/bin/python3" -c 'import sys, proxmoxer, requests
sys.exit((proxmoxer.__version__, requests.__version__) != ("2.3.0", "2.34.2"))' 2> /dev/null
}
if ! proxmoxer_ready; then
  # Debian's python3 makes virtual environments only with python3-venv (ensurepip).
  if ! python3 -c 'import ensurepip' 2> /dev/null; then
    echo "installing with apt-get: python3-venv (log: $log)"
    DEBIAN_FRONTEND=noninteractive install_packages python3-venv >> "$log" 2>&1 || true
  fi
  echo "installing with pip into $proxmoxer_venv: ${proxmoxer_pins[*]} (log: $log)"
  { python3 -m venv --clear "$proxmoxer_venv" \
    && "$proxmoxer_venv/bin/pip" install --disable-pip-version-check "${proxmoxer_pins[@]}"; } >> "$log" 2>&1 \
    || true
fi

# Mermaid's own renderer for the diagrams' Mermaid check (labform-diagram's examples test): npm's
# mermaid-cli (11.x runs on Debian's Node.js 18) with puppeteer driving Debian's chromium (no
# browser download).
mermaid_cli=$PWD/target/tools/mermaid-cli
if [ ! -x "$mermaid_cli/node_modules/.bin/mmdc" ]; then
  echo "installing with npm: @mermaid-js/mermaid-cli@11.9.0 puppeteer@23 (log: $log)"
  mkdir -p "$mermaid_cli"
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$mermaid_cli" --no-audit --no-fund \
    @mermaid-js/mermaid-cli@11.9.0 puppeteer@23 >> "$log" 2>&1 || true
fi
export LABFORM_MERMAID_CLI=$mermaid_cli/node_modules/.bin/mmdc

missing=$(
  missing_commands
  proxmoxer_ready \
    || echo "  ${proxmoxer_pins[*]} in $proxmoxer_venv (python3 -m venv, Debian python3-venv; PyPI)"
  [ -x "$LABFORM_MERMAID_CLI" ] \
    || echo "  $LABFORM_MERMAID_CLI (npm @mermaid-js/mermaid-cli)"
  python3 -c 'import kubernetes_validate, jsonschema' 2> /dev/null \
    || echo "  python3 modules kubernetes_validate and jsonschema (PyPI kubernetes-validate, jsonschema)"
)
if [ -n "$missing" ]; then
  printf 'the tests need what is still missing after installing:\n%s\n' "$missing" >&2
  echo "what apt-get and pip did ($log):" >&2
  cat "$log" >&2
  exit 1
fi
# The real-Kubernetes tier's release (README, "Tests"): checked here so a missing directory is
# named before the build, not after it.
kubernetes_release=${LABFORM_KUBERNETES_RELEASE:-../shared/k8s}
for file in kubernetes-1.20.2-linux-amd64.tar.xz SHA256SUMS; do
  if [ ! -f "$kubernetes_release/$file" ]; then
    echo "the real-Kubernetes tier needs $kubernetes_release/$file (set LABFORM_KUBERNETES_RELEASE)" >&2
    exit 1
  fi
done
echo "outside tools: $(qemu-system-x86_64 --version | head -n 1); $(qemu-img --version | head -n 1)"
echo "  $(etcd --version | head -n 1); $(containerd --version); $(runc --version | head -n 1)"

export LABFORM_REQUIRE_ALL_TIERS=1
# The slow inputs of the real-VM tiers start now and are made while the tests compile: the node
# image (../shared/vm-image/build.sh) and, for the opt-in real kubeadm VM test
# (LABFORM_REAL_KUBEADM_VMS=1), the kubeadm air-gap directory (scripts/kubernetes-air-gap.py); the
# tests reuse both when they are finished.
cache=${HOME:-/root}/.cache/labform
mkdir -p "$cache"
bash "${LABFORM_VM_IMAGE_BUILD:-../shared/vm-image/build.sh}" "${LABFORM_VM_IMAGE_DIR:-$cache/vm-image}" \
  > target/vm-image.log 2>&1 &
image_build=$!
air_gap_build=
if [ "${LABFORM_REAL_KUBEADM_VMS:-}" = 1 ]; then   # the opt-in real kubeadm VM test (README, "Tests")
  python3 scripts/kubernetes-air-gap.py "${LABFORM_KUBERNETES_AIR_GAP:-$cache/kubernetes-air-gap}" \
    --release-dir "$kubernetes_release" > target/kubernetes-air-gap.log 2>&1 &
  air_gap_build=$!
fi
# Without arguments, every crate; `-p CRATE` (or other cargo test arguments) narrows the run
# (with --workspace, -p would not narrow it).
if (($#)); then
  arguments=(--locked --no-fail-fast "$@")
else
  arguments=(--workspace --locked --no-fail-fast)
fi
cargo test --no-run "${arguments[@]}"
wait "$image_build" || { echo "the node image build failed (target/vm-image.log):" >&2; cat target/vm-image.log >&2; }
[ -z "$air_gap_build" ] || wait "$air_gap_build" || { echo "the air-gap directory failed (target/kubernetes-air-gap.log):" >&2; cat target/kubernetes-air-gap.log >&2; }
cargo test "${arguments[@]}"
