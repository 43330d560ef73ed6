//! The test tiers: each group of tests that needs the same things from the machine, and
//! [`TIERS`], every one in the order the README lists them.

use crate::{Requirement, Tier};

/// Unit and property tests, snapshots, the fuzzer's corpus replay: always run.
pub const UNIT: Tier = Tier {
    name: "unit",
    requirements: &[],
};

/// Tests against the Proxmox simulator and the kube-apiserver double (`labform-kube-sim`) over
/// HTTPS on loopback, the crash test included: always run.
pub const SIMULATORS: Tier = Tier {
    name: "simulators",
    requirements: &[],
};

/// The SSH layer against a real OpenSSH server on loopback (uploads as root go through `sudo`).
pub const REAL_SSHD: Tier = Tier {
    name: "real-sshd",
    requirements: &[
        Requirement::Root,
        Requirement::Program {
            name: "sshd",
            package: "openssh-server",
        },
        Requirement::Program {
            name: "sudo",
            package: "sudo",
        },
    ],
};

/// Rendered user data through `cloud-init schema`, network configs and seeds through cloud-init's
/// own Python code (Debian's `cloud-init`, imported by Debian's `/usr/bin/python3`).
pub const CLOUD_INIT: Tier = Tier {
    name: "cloud-init",
    requirements: &[
        Requirement::Program {
            name: "cloud-init",
            package: "cloud-init",
        },
        Requirement::PythonModules {
            interpreter: "/usr/bin/python3",
            modules: &["cloudinit", "yaml"],
            install: "Debian package cloud-init: apt-get install cloud-init",
        },
    ],
};

/// NoCloud seed images read back by outside tools: `blkid` and `isoinfo`.
pub const SEED_IMAGE_READERS: Tier = Tier {
    name: "seed-image-readers",
    requirements: &[
        Requirement::Program {
            name: "blkid",
            package: "util-linux",
        },
        Requirement::Program {
            name: "isoinfo",
            package: "genisoimage",
        },
    ],
};

/// Rendered manifests through kubernetes-validate and the CRDs' JSON Schemas (Python's
/// `jsonschema`).
pub const KUBERNETES_VALIDATORS: Tier = Tier {
    name: "kubernetes-validators",
    requirements: &[Requirement::PythonModules {
        interpreter: "python3",
        modules: &["kubernetes_validate", "jsonschema"],
        install: "pip install kubernetes-validate jsonschema",
    }],
};

/// A Proxmox client nobody here wrote, PyPI's proxmoxer, against `labform sim serve`.
pub const PROXMOXER: Tier = Tier {
    name: "proxmoxer",
    requirements: &[Requirement::Proxmoxer],
};

/// The simulator's QEMU backend: volumes as files made by `qemu-img`, started VMs as QEMU
/// processes with a seed image made by `genisoimage`. No root, no guest operating system.
pub const QEMU_BACKEND: Tier = Tier {
    name: "qemu-backend",
    requirements: &[
        Requirement::Program {
            name: "qemu-system-x86_64",
            package: "qemu-system-x86",
        },
        Requirement::Program {
            name: "qemu-img",
            package: "qemu-utils",
        },
        Requirement::Program {
            name: "genisoimage",
            package: "genisoimage",
        },
    ],
};

/// A lab applied to real QEMU VMs in a network namespace, checked over SSH (5 to 10 minutes).
pub const REAL_VMS: Tier = Tier {
    name: "real-vms",
    requirements: &[
        Requirement::Root,
        Requirement::Program {
            name: "qemu-system-x86_64",
            package: "qemu-system-x86",
        },
        Requirement::Program {
            name: "qemu-img",
            package: "qemu-utils",
        },
        Requirement::Program {
            name: "genisoimage",
            package: "genisoimage",
        },
        Requirement::Program {
            name: "ip",
            package: "iproute2",
        },
        Requirement::Program {
            name: "ssh",
            package: "openssh-client",
        },
        Requirement::Program {
            name: "ssh-keygen",
            package: "openssh-client",
        },
        Requirement::Program {
            name: "socat",
            package: "socat",
        },
        Requirement::NodeImageBuildScript,
    ],
};

/// A real single-node Kubernetes v1.20.2 on this machine (etcd, kube-apiserver,
/// controller-manager, scheduler, containerd and a kubelet in their own namespaces, from
/// `labform-kube-real`), against which labform's Kubernetes API code runs.
pub const REAL_KUBERNETES: Tier = Tier {
    name: "real-kubernetes",
    requirements: &[
        Requirement::Root,
        Requirement::KubernetesRelease,
        Requirement::Program {
            name: "etcd",
            package: "etcd-server",
        },
        Requirement::Program {
            name: "containerd",
            package: "containerd",
        },
        Requirement::Program {
            name: "containerd-shim-runc-v2",
            package: "containerd",
        },
        Requirement::Program {
            name: "ctr",
            package: "containerd",
        },
        Requirement::Program {
            name: "runc",
            package: "runc",
        },
        Requirement::Program {
            name: "/usr/lib/cni/bridge",
            package: "containernetworking-plugins",
        },
        Requirement::Program {
            name: "/usr/lib/cni/host-local",
            package: "containernetworking-plugins",
        },
        Requirement::Program {
            name: "/usr/lib/cni/loopback",
            package: "containernetworking-plugins",
        },
        Requirement::Program {
            name: "/bin/busybox",
            package: "busybox-static",
        },
        Requirement::Program {
            name: "iptables",
            package: "iptables",
        },
        Requirement::Program {
            name: "tar",
            package: "tar",
        },
        Requirement::Program {
            name: "sha256sum",
            package: "coreutils",
        },
        Requirement::Program {
            name: "xz",
            package: "xz-utils",
        },
        Requirement::Program {
            name: "unshare",
            package: "util-linux",
        },
        Requirement::Program {
            name: "nsenter",
            package: "util-linux",
        },
        Requirement::Program {
            name: "ip",
            package: "iproute2",
        },
    ],
};

/// The real kubeadm v1.20.2 of the Kubernetes release (verified and unpacked by
/// `labform-kube-real`, no cluster started): `kubeadm config migrate` and `config images list`
/// read labform's rendered kubeadm configurations, and `openssl` checks the discovery hash.
pub const REAL_KUBEADM: Tier = Tier {
    name: "real-kubeadm",
    requirements: &[
        Requirement::KubernetesRelease,
        Requirement::Program {
            name: "tar",
            package: "tar",
        },
        Requirement::Program {
            name: "sha256sum",
            package: "coreutils",
        },
        Requirement::Program {
            name: "xz",
            package: "xz-utils",
        },
        Requirement::Program {
            name: "openssl",
            package: "openssl",
        },
    ],
};

/// Rendered systemd units checked by systemd itself: `systemd-analyze verify` on the units and
/// `systemd-analyze calendar` on their `OnCalendar=` events (kubeadm's etcd snapshot timer).
pub const SYSTEMD: Tier = Tier {
    name: "systemd",
    requirements: &[Requirement::Program {
        name: "systemd-analyze",
        package: "systemd",
    }],
};

/// A kubeadm cluster formed by `labform apply` on real QEMU VMs: what [`REAL_VMS`] needs (its
/// tests check both tiers), and for the air-gap directory `scripts/kubernetes-air-gap.py` makes,
/// the Kubernetes release, Debian's etcd and static busybox (images), `ldd` and `apt-get`
/// (Debian's packages by `apt-get download`).
pub const REAL_KUBEADM_VMS: Tier = Tier {
    name: "real-kubeadm-vms",
    requirements: &[
        Requirement::KubernetesRelease,
        Requirement::Program {
            name: "python3",
            package: "python3",
        },
        Requirement::Program {
            name: "apt-get",
            package: "apt",
        },
        Requirement::Program {
            name: "ldd",
            package: "libc-bin",
        },
        Requirement::Program {
            name: "etcd",
            package: "etcd-server",
        },
        Requirement::Program {
            name: "/bin/busybox",
            package: "busybox-static",
        },
        Requirement::Program {
            name: "tar",
            package: "tar",
        },
        Requirement::Program {
            name: "xz",
            package: "xz-utils",
        },
    ],
};

/// Scripts that run in busybox containers, run by busybox's own shell and applets (Talos's etcd
/// snapshot pods name and prune their snapshots with one).
pub const BUSYBOX: Tier = Tier {
    name: "busybox",
    requirements: &[Requirement::Program {
        name: "/bin/busybox",
        package: "busybox-static",
    }],
};

/// The diagrams' DOT laid out by Graphviz's `dot`.
pub const GRAPHVIZ: Tier = Tier {
    name: "graphviz",
    requirements: &[Requirement::Program {
        name: "dot",
        package: "graphviz",
    }],
};

/// The diagrams' Mermaid drawn by Mermaid itself: mermaid-cli's `mmdc` on Node.js, rendering in
/// Debian's headless Chromium.
pub const MERMAID: Tier = Tier {
    name: "mermaid",
    requirements: &[
        Requirement::Program {
            name: "node",
            package: "nodejs",
        },
        Requirement::Program {
            name: "/usr/bin/chromium",
            package: "chromium",
        },
        Requirement::MermaidCli,
    ],
};

/// The dashboard's metrics checked by Prometheus's `promtool check metrics`.
pub const PROMTOOL: Tier = Tier {
    name: "promtool",
    requirements: &[Requirement::Program {
        name: "promtool",
        package: "prometheus",
    }],
};

/// The dashboard over HTTPS: a certificate made by `openssl`, requests made by `curl`, which
/// verifies it.
pub const HTTPS_CLIENTS: Tier = Tier {
    name: "https-clients",
    requirements: &[
        Requirement::Program {
            name: "openssl",
            package: "openssl",
        },
        Requirement::Program {
            name: "curl",
            package: "curl",
        },
    ],
};

/// The dashboard's pages loaded and drawn by Debian's headless Chromium.
pub const CHROMIUM: Tier = Tier {
    name: "chromium",
    requirements: &[Requirement::Program {
        name: "/usr/bin/chromium",
        package: "chromium",
    }],
};

/// Git servers on loopback for the controller (`labform serve --git`): Git's own smart-HTTP
/// server (`git http-backend`) behind a small Python HTTPS server with a certificate signed by a
/// test CA made by `openssl`, and the `git` program the controller runs.
pub const GIT_SERVERS: Tier = Tier {
    name: "git-servers",
    requirements: &[
        Requirement::Program {
            name: "git",
            package: "git",
        },
        Requirement::Program {
            name: "/usr/lib/git-core/git-http-backend",
            package: "git",
        },
        Requirement::Program {
            name: "/usr/bin/python3",
            package: "python3",
        },
        Requirement::Program {
            name: "openssl",
            package: "openssl",
        },
        Requirement::Program {
            name: "ssh",
            package: "openssh-client",
        },
    ],
};

/// Every tier, in the order the README lists them.
pub const TIERS: &[Tier] = &[
    UNIT,
    SIMULATORS,
    REAL_SSHD,
    CLOUD_INIT,
    SEED_IMAGE_READERS,
    KUBERNETES_VALIDATORS,
    PROXMOXER,
    QEMU_BACKEND,
    REAL_VMS,
    REAL_KUBEADM,
    SYSTEMD,
    REAL_KUBEADM_VMS,
    REAL_KUBERNETES,
    BUSYBOX,
    GRAPHVIZ,
    MERMAID,
    PROMTOOL,
    HTTPS_CLIENTS,
    CHROMIUM,
    GIT_SERVERS,
];
