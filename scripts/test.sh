#!/usr/bin/env bash
# The whole test suite: installs what the tests use when it is missing (Debian packages
# openssh-server, cloud-init, genisoimage, and QEMU with what the real-VM test's image build needs, Python packages kubernetes-validate and jsonschema; root needed
# for apt-get and for the SSH and network tests), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v sshd > /dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v cloud-init > /dev/null || missing+=(cloud-init)
command -v isoinfo > /dev/null || missing+=(genisoimage)
command -v blkid > /dev/null || missing+=(util-linux)
# The real-VM test: QEMU, namespaces, and what the node image build (../shared/vm-image/build.sh) uses.
command -v qemu-system-x86_64 > /dev/null || missing+=(qemu-system-x86)
command -v qemu-img > /dev/null || missing+=(qemu-utils)
command -v ip > /dev/null || missing+=(iproute2)
command -v ssh > /dev/null || missing+=(openssh-client)
# Uploads as root go through sudo, as on the nodes.
command -v sudo > /dev/null || missing+=(sudo)
# The real-VM test bridges the simulator's API into its network namespace.
command -v socat > /dev/null || missing+=(socat)
command -v debootstrap > /dev/null || missing+=(debootstrap)
command -v mkfs.ext4 > /dev/null || missing+=(e2fsprogs)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the tests need ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
python3 -c 'import kubernetes_validate, jsonschema' 2> /dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate jsonschema

cargo test --workspace --locked --no-fail-fast "$@"
