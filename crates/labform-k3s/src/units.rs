//! The systemd units labform installs K3s as, and the script that resets a node. labform writes
//! these itself instead of running K3s's install script, so every file on a node is known in
//! advance, can be reviewed, and is compared byte for byte on the next apply.
//!
//! The units follow what K3s's own installer writes (`Type=notify`, `KillMode=process`,
//! `Delegate=yes`, unlimited tasks and files, restart always), as `k3s.service` for servers and
//! `k3s-agent.service` for agents, the names K3s's documentation uses.

/// Where the binary goes.
pub const BINARY_PATH: &str = "/usr/local/bin/k3s";

/// Where K3s reads its configuration.
pub const CONFIG_PATH: &str = "/etc/rancher/k3s/config.yaml";

/// Where K3s imports air-gap images from at start.
pub const IMAGES_DIRECTORY: &str = "/var/lib/rancher/k3s/agent/images";

/// The kubeconfig a K3s server writes.
pub const SERVER_KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";

/// The service a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `k3s server`.
    Server,
    /// `k3s agent`.
    Agent,
}

impl Service {
    /// The systemd unit name.
    pub fn unit(self) -> &'static str {
        match self {
            Service::Server => "k3s.service",
            Service::Agent => "k3s-agent.service",
        }
    }

    /// The unit file's path.
    pub fn unit_path(self) -> String {
        format!("/etc/systemd/system/{}", self.unit())
    }

    /// The unit file's contents.
    pub fn unit_file(self) -> String {
        let (what, command) = match self {
            Service::Server => ("server", "server"),
            Service::Agent => ("agent", "agent"),
        };
        // Proxy settings (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) and other environment, as K3s's
        // documentation places them; optional.
        let name = self.unit().trim_end_matches(".service");
        format!(
            "# labform: K3s {what}, installed by labform from verified release files.\n\
             [Unit]\n\
             Description=Lightweight Kubernetes ({what})\n\
             Documentation=https://docs.k3s.io\n\
             Wants=network-online.target\n\
             After=network-online.target\n\
             \n\
             [Install]\n\
             WantedBy=multi-user.target\n\
             \n\
             [Service]\n\
             Type=notify\n\
             KillMode=process\n\
             Delegate=yes\n\
             User=root\n\
             LimitNOFILE=1048576\n\
             LimitNPROC=infinity\n\
             LimitCORE=infinity\n\
             TasksMax=infinity\n\
             TimeoutStartSec=0\n\
             Restart=always\n\
             RestartSec=5s\n\
             EnvironmentFile=-/etc/default/{name}\n\
             ExecStartPre=-/sbin/modprobe br_netfilter\n\
             ExecStartPre=-/sbin/modprobe overlay\n\
             ExecStart={BINARY_PATH} {command}\n"
        )
    }
}

/// The shell script that takes K3s off a node: stops and disables the service, stops the
/// containers it left running, unmounts what they mounted, removes K3s's network interfaces,
/// its state and labform's files. Idempotent: running it on a clean node does nothing.
pub fn reset_script() -> String {
    let units = [Service::Server, Service::Agent];
    let mut script = String::from("set -u\n");
    for service in units {
        script.push_str(&format!(
            "systemctl disable --now {unit} 2>/dev/null || true\n",
            unit = service.unit()
        ));
    }
    script.push_str(
        "# Containers outlive the service (KillMode=process): stop their shims. ([c] keeps the\n\
         # pattern from matching this script's own command line.)\n\
         for pid in $(pgrep -f '[c]ontainerd-shim.*/run/k3s/' 2>/dev/null); do kill -9 \"$pid\" 2>/dev/null || true; done\n\
         # Mounts under K3s's and the kubelet's directories, deepest first.\n\
         awk '$2 ~ \"^/(run/k3s|var/lib/kubelet|var/lib/rancher/k3s)\" {print $2}' /proc/self/mounts | sort -r | while read -r mount; do umount -l \"$mount\" 2>/dev/null || true; done\n\
         for link in cni0 flannel.1 flannel-v6.1 kube-ipvs0 flannel-wg flannel-wg-v6 cilium_host cilium_net cilium_vxlan vxlan.calico; do ip link delete \"$link\" 2>/dev/null || true; done\n\
         rm -rf /etc/rancher/k3s /var/lib/rancher/k3s /var/lib/kubelet /run/k3s /run/flannel /var/lib/cni\n",
    );
    for service in units {
        script.push_str(&format!("rm -f {}\n", service.unit_path()));
    }
    script.push_str(&format!(
        "rm -f {BINARY_PATH}\nsystemctl daemon-reload 2>/dev/null || true\n"
    ));
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_script_does_not_kill_itself() {
        // pgrep -f matches whole command lines, including `sh -c SCRIPT`'s own: the pattern
        // must match a shim's command line but not the script's text.
        let script = reset_script();
        let pattern = script
            .lines()
            .find_map(|line| line.split("pgrep -f '").nth(1))
            .and_then(|rest| rest.split('\'').next())
            .expect("the script kills shims with pgrep -f");
        let matches = |text: &str| {
            let mut grep = std::process::Command::new("grep")
                .args(["-cE", pattern])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("grep runs");
            std::io::Write::write_all(&mut grep.stdin.take().expect("stdin"), text.as_bytes())
                .expect("write");
            let output = grep.wait_with_output().expect("grep ends");
            String::from_utf8_lossy(&output.stdout).trim() != "0"
        };
        assert!(!matches(&script.replace('\n', " ")), "{pattern}");
        assert!(matches(
            "/var/lib/rancher/k3s/data/abc/bin/containerd-shim-runc-v2 -namespace k8s.io -id 1 -address /run/k3s/containerd/containerd.sock"
        ));
    }

    #[test]
    fn units_and_reset_script() {
        insta::assert_snapshot!("server-unit", Service::Server.unit_file());
        insta::assert_snapshot!("agent-unit", Service::Agent.unit_file());
        insta::assert_snapshot!("reset-script", reset_script());
    }
}
