#!/usr/bin/env bash
# The whole test suite: installs what the tests use when it is missing (Debian packages
# openssh-server, cloud-init and genisoimage, Python packages kubernetes-validate and jsonschema; root needed
# for apt-get and for the SSH and network tests), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v sshd > /dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v cloud-init > /dev/null || missing+=(cloud-init)
command -v isoinfo > /dev/null || missing+=(genisoimage)
command -v blkid > /dev/null || missing+=(util-linux)
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
