//! etcd snapshots of a kubeadm cluster on the lab's schedule. kubeadm has no scheduler of its
//! own, so labform keeps three files on each control plane: a systemd timer on the planned
//! schedule (`labform-etcd-snapshot.timer`, its `OnCalendar=` from the plan), the oneshot
//! service it starts, and the script the service runs.
//!
//! The script takes a snapshot of the node's own etcd member with `etcdctl snapshot save`,
//! through `https://127.0.0.1:2379` with the client certificate kubeadm makes for etcd's health
//! checks (`/etc/kubernetes/pki/etcd/healthcheck-client.crt`, signed by the etcd CA
//! `/etc/kubernetes/pki/etcd/ca.crt` that etcd's `--trusted-ca-file` names). The etcdctl it runs
//! is the one in the cluster's own etcd image (`/usr/local/bin/etcdctl` in
//! `registry.k8s.io/etcd`), the image named by the static pod `/etc/kubernetes/manifests/etcd.yaml`
//! and already on the node (pulled, or imported air-gapped), started with `ctr` in the host's
//! network with the etcd certificates mounted read-only: no other download and an etcdctl of
//! the same version as the cluster's etcd. Snapshots go to [`SNAPSHOT_DIRECTORY`] (outside
//! etcd's data, so `kubeadm reset` and `labform reset` leave them), named after the node and the
//! UTC time; the newest as many as the lab's retention are kept.

use labform_planner::plan::{PlannedCluster, PlannedClusterNode, SystemdTimer};

/// The script the service runs.
pub const SNAPSHOT_SCRIPT: &str = "/etc/kubernetes/labform/etcd-snapshot.sh";
/// The oneshot service.
pub const SNAPSHOT_SERVICE: &str = "/etc/systemd/system/labform-etcd-snapshot.service";
/// The timer on the lab's schedule.
pub const SNAPSHOT_TIMER: &str = "/etc/systemd/system/labform-etcd-snapshot.timer";
/// The timer's unit name.
pub const TIMER_UNIT: &str = "labform-etcd-snapshot.timer";
/// Where the snapshots are kept on each control plane.
pub const SNAPSHOT_DIRECTORY: &str = "/var/backups/etcd";
/// How many snapshots are kept when the lab gives no retention (K3s's default).
pub const DEFAULT_RETENTION: u32 = 5;
/// The etcd CA kubeadm makes.
pub const ETCD_CA: &str = "/etc/kubernetes/pki/etcd/ca.crt";
/// The etcd client certificate kubeadm makes for health checks.
pub const ETCD_CLIENT_CERTIFICATE: &str = "/etc/kubernetes/pki/etcd/healthcheck-client.crt";
/// Its key.
pub const ETCD_CLIENT_KEY: &str = "/etc/kubernetes/pki/etcd/healthcheck-client.key";
/// The static pod whose image holds the cluster's etcdctl.
pub const ETCD_MANIFEST: &str = "/etc/kubernetes/manifests/etcd.yaml";

/// Whether the lab schedules etcd snapshots for `cluster` (so its control planes get the timer).
pub fn scheduled(cluster: &PlannedCluster) -> bool {
    cluster
        .etcd_snapshots
        .as_ref()
        .is_some_and(|snapshots| snapshots.schedule.is_some() && snapshots.systemd_timer.is_some())
}

/// The three files of `node` of `cluster` (path, contents, mode; the script first): none on a
/// worker, or when the lab schedules no etcd snapshots for the cluster.
pub fn files(
    cluster: &PlannedCluster,
    node: &PlannedClusterNode,
) -> Vec<(&'static str, String, u32)> {
    let Some(snapshots) = &cluster.etcd_snapshots else {
        return Vec::new();
    };
    let (Some(schedule), Some(timer)) = (&snapshots.schedule, &snapshots.systemd_timer) else {
        return Vec::new();
    };
    if !node.role.is_server() {
        return Vec::new();
    }
    let retention = snapshots.retention.unwrap_or(DEFAULT_RETENTION);
    vec![
        (SNAPSHOT_SCRIPT, script(&node.vm, retention), 0o755),
        (SNAPSHOT_SERVICE, service(retention), 0o644),
        (SNAPSHOT_TIMER, timer_unit(schedule, timer), 0o644),
    ]
}

/// The snapshot script of control plane `node`, keeping the newest `retention` snapshots.
pub fn script(node: &str, retention: u32) -> String {
    format!(
        "#!/bin/sh\n\
         # labform: an etcd snapshot of this control plane's member into {SNAPSHOT_DIRECTORY}, keeping the\n\
         # newest {retention}. Run by labform-etcd-snapshot.service on the lab's schedule.\n\
         set -eu\n\
         directory={SNAPSHOT_DIRECTORY}\n\
         keep={retention}\n\
         fail() {{ echo \"labform etcd snapshot: $*\" >&2; exit 1; }}\n\
         \n\
         # The etcdctl of the cluster's own etcd image, already on this node.\n\
         image=$(sed -n 's/^[[:space:]]*image:[[:space:]]*//p' {ETCD_MANIFEST} | head -n 1)\n\
         [ -n \"$image\" ] || fail \"{ETCD_MANIFEST} names no image: is this a control plane?\"\n\
         install -d -m 0700 \"$directory\"\n\
         name=labform-etcd-snapshot-{node}-$(date -u +%Y%m%dT%H%M%SZ)\n\
         ctr -n k8s.io run --rm --net-host \\\n\
         \x20 --mount type=bind,src=/etc/kubernetes/pki/etcd,dst=/etc/kubernetes/pki/etcd,options=rbind:ro \\\n\
         \x20 --mount \"type=bind,src=$directory,dst=$directory,options=rbind:rw\" \\\n\
         \x20 \"$image\" \"$name\" /usr/local/bin/etcdctl \\\n\
         \x20 --endpoints=https://127.0.0.1:2379 --cacert={ETCD_CA} \\\n\
         \x20 --cert={ETCD_CLIENT_CERTIFICATE} --key={ETCD_CLIENT_KEY} \\\n\
         \x20 snapshot save \"$directory/$name.db.part\"\n\
         mv \"$directory/$name.db.part\" \"$directory/$name.db\"\n\
         \n\
         # The newest $keep are kept (the names sort by time).\n\
         ls -1 \"$directory\"/labform-etcd-snapshot-*.db | sort | head -n \"-$keep\" | xargs -r rm -f --\n"
    )
}

/// The oneshot service that runs the script.
pub fn service(retention: u32) -> String {
    format!(
        "# labform: an etcd snapshot of this control plane, the newest {retention} kept in {SNAPSHOT_DIRECTORY}.\n\
         [Unit]\n\
         Description=labform: etcd snapshot of this control plane\n\
         After=containerd.service kubelet.service\n\
         ConditionPathExists={ETCD_MANIFEST}\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={SNAPSHOT_SCRIPT}\n"
    )
}

/// The timer on the lab's `schedule`, as the plan gives it for systemd.
pub fn timer_unit(schedule: &str, timer: &SystemdTimer) -> String {
    let when = match timer {
        SystemdTimer::Calendar(events) => events
            .iter()
            .map(|event| format!("OnCalendar={event}\n"))
            .collect::<String>(),
        SystemdTimer::EverySeconds(seconds) => {
            format!("OnBootSec={seconds}s\nOnUnitActiveSec={seconds}s\n")
        }
    };
    format!(
        "# labform: etcd snapshots on the lab's schedule `{schedule}` (cron, as K3s reads it).\n\
         [Unit]\n\
         Description=labform: etcd snapshots on the lab's schedule\n\
         \n\
         [Timer]\n\
         {when}\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
    )
}

/// The script (run as root) that puts the timer to work where its units changed or it is not
/// enabled and running; prints `changed` when it did something, nothing otherwise (a second
/// apply does nothing).
pub fn activate_command() -> String {
    format!(
        "changed=\n\
         for unit in {TIMER_UNIT} labform-etcd-snapshot.service; do\n\
         \x20 [ \"$(systemctl show -p NeedDaemonReload --value \"$unit\")\" = yes ] && changed=1\n\
         done\n\
         systemctl is-enabled --quiet {TIMER_UNIT} || changed=1\n\
         systemctl is-active --quiet {TIMER_UNIT} || changed=1\n\
         if [ -n \"$changed\" ]; then\n\
         \x20 systemctl daemon-reload\n\
         \x20 systemctl enable {TIMER_UNIT} > /dev/null 2>&1\n\
         \x20 systemctl restart {TIMER_UNIT}\n\
         \x20 echo changed\n\
         fi\n"
    )
}

/// What [`crate::node::reset_script`] adds: the timer stopped and its units removed (the
/// snapshots stay).
pub fn reset_lines() -> String {
    format!(
        "systemctl disable --now {TIMER_UNIT} > /dev/null 2>&1 || true\n\
         rm -f {SNAPSHOT_TIMER} {SNAPSHOT_SERVICE}\n\
         systemctl daemon-reload 2> /dev/null || true\n"
    )
}
