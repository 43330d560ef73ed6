//! A Talos cluster's etcd snapshots on the lab's schedule. Talos has no scheduler, shell or
//! SSH, so a Kubernetes CronJob per control plane takes them (ARCHITECTURE.md, "etcd snapshots
//! on the lab's schedule"): its pod runs `talosctl etcd snapshot` against its own node through
//! Kubernetes Talos API access. The control planes' machine configurations turn the access on
//! for the role [`API_ACCESS_ROLE`] from the namespace [`API_ACCESS_NAMESPACE`]
//! (`machine.features.kubernetesTalosAPIAccess` up to Talos 1.13, the
//! `KubeTalosAPIAccessConfig` document from 1.14, see [`crate::machine_config`]); a Talos
//! `ServiceAccount` (`talos.dev/v1alpha1`) of that role has Talos make a Secret of the same name
//! holding a talosconfig (key `config`, endpoint the `talos.default` Service), which the pod
//! mounts at `/var/run/secrets/talos.dev`, where talosctl looks for it.
//!
//! The snapshot lands in the node's [`SNAPSHOT_DIRECTORY`] (a hostPath, which Talos's Pod
//! Security admission allows in `kube-system`, the namespace it exempts), written by talosctl
//! (it renames the file into place once the whole snapshot has arrived); a second container
//! ([`KEEP_SCRIPT`]) names it after the time and keeps the newest of them, the lab's retention.
//!
//! The manifest ([`manifest`]) is applied and recorded with the add-ons ([`crate::addons`]), so
//! a schedule the lab drops has its CronJobs deleted and `drift` sees them changed or missing.

use labform_kubernetes::{ManifestFile, RenderError};
use labform_planner::plan::{CronJobSchedule, PlannedCluster};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The Talos API role the snapshot pods have (it allows `EtcdSnapshot` and nothing else).
pub const API_ACCESS_ROLE: &str = "os:etcd:backup";

/// The namespace the snapshot pods run in, the only one Talos API access is allowed from.
pub const API_ACCESS_NAMESPACE: &str = "kube-system";

/// The Talos `ServiceAccount` (and the Secret Talos makes for it).
pub const SERVICE_ACCOUNT: &str = "labform-etcd-snapshots";

/// Where each control plane keeps its snapshots.
pub const SNAPSHOT_DIRECTORY: &str = "/var/lib/etcd-snapshots";

/// The name of the manifest in labform's record of a cluster's manifests.
pub const MANIFEST_NAME: &str = "etcd-snapshots";

/// The image of the container that names the snapshot and keeps the newest (a shell and
/// coreutils; the talosctl image has only talosctl).
pub const KEEP_IMAGE: &str = "docker.io/library/busybox:1.37.0";

/// The file talosctl writes the new snapshot to, in the snapshot directory.
const NEW_SNAPSHOT: &str = "new.snapshot";

/// Names the snapshot talosctl took after the time (UTC) and keeps the newest `$RETENTION` of
/// `$SNAPSHOTS`; names sort by time, so the newest come first in reverse order.
pub const KEEP_SCRIPT: &str = r#"set -eu
cd "$SNAPSHOTS"
if [ -f new.snapshot ]; then
  mv new.snapshot "etcd-$(date -u +%Y%m%dT%H%M%SZ).snapshot"
fi
ls -1 | grep -E '^etcd-[0-9]{8}T[0-9]{6}Z\.snapshot$' | sort -r | tail -n +"$((RETENTION + 1))" | while read -r old; do
  rm -f -- "$old"
done
"#;

/// The talosctl image of Talos `version` (Sidero Labs publishes one with every release).
pub fn talosctl_image(version: &str) -> String {
    format!("ghcr.io/siderolabs/talosctl:{version}")
}

/// The CronJob's schedule, when the plan has labform take etcd snapshots of `cluster`.
pub fn schedule(cluster: &PlannedCluster) -> Option<&CronJobSchedule> {
    cluster
        .etcd_snapshots
        .as_ref()
        .and_then(|snapshots| snapshots.cron_job.as_ref())
}

/// Whether the control planes of `cluster` allow Kubernetes Talos API access (for the
/// snapshot pods).
pub fn talos_api_access(cluster: &PlannedCluster) -> bool {
    schedule(cluster).is_some()
}

/// The CronJob of control plane `node`: a name of at most 52 characters, as Kubernetes wants of
/// a CronJob (its Jobs add 11), with a hash of the node's name when it would be longer.
fn cron_job_name(node: &str) -> String {
    let name = format!("etcd-snapshot-{node}");
    if name.len() <= 52 {
        return name;
    }
    let hash: String = Sha256::digest(node.as_bytes())
        .iter()
        .take(3)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{}-{hash}", name[..45].trim_end_matches('-'))
}

/// The manifest of `cluster`'s etcd snapshots: the Talos `ServiceAccount` and one CronJob per
/// control plane, or none when the plan has no schedule for it.
pub fn manifest(cluster: &PlannedCluster) -> Result<Option<String>, RenderError> {
    let Some(schedule) = schedule(cluster) else {
        return Ok(None);
    };
    let retention = cluster
        .etcd_snapshots
        .as_ref()
        .and_then(|snapshots| snapshots.retention)
        .unwrap_or(5);
    let labels = json!({
        "app.kubernetes.io/name": MANIFEST_NAME,
        "app.kubernetes.io/managed-by": "labform",
    });
    let mut documents = vec![json!({
        "apiVersion": "talos.dev/v1alpha1",
        "kind": "ServiceAccount",
        "metadata": {"name": SERVICE_ACCOUNT, "namespace": API_ACCESS_NAMESPACE, "labels": labels},
        "spec": {"roles": [API_ACCESS_ROLE]},
    })];
    for node in cluster.nodes.iter().filter(|node| node.role.is_server()) {
        let mut spec = json!({
            "schedule": schedule.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 3,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "nodeSelector": {"kubernetes.io/hostname": node.vm},
                            "tolerations": [{
                                "key": "node-role.kubernetes.io/control-plane",
                                "operator": "Exists",
                                "effect": "NoSchedule",
                            }],
                            "initContainers": [{
                                "name": "snapshot",
                                "image": talosctl_image(&cluster.version),
                                "args": [
                                    "--nodes", node.address.to_string(),
                                    "etcd", "snapshot", format!("/snapshots/{NEW_SNAPSHOT}"),
                                ],
                                "volumeMounts": [
                                    {"name": "talos-secrets", "mountPath": "/var/run/secrets/talos.dev", "readOnly": true},
                                    {"name": "snapshots", "mountPath": "/snapshots"},
                                ],
                            }],
                            "containers": [{
                                "name": "keep",
                                "image": KEEP_IMAGE,
                                "command": ["sh", "-c", KEEP_SCRIPT],
                                "env": [
                                    {"name": "SNAPSHOTS", "value": "/snapshots"},
                                    {"name": "RETENTION", "value": retention.to_string()},
                                ],
                                "volumeMounts": [{"name": "snapshots", "mountPath": "/snapshots"}],
                            }],
                            "volumes": [
                                {"name": "talos-secrets", "secret": {"secretName": SERVICE_ACCOUNT}},
                                {"name": "snapshots", "hostPath": {"path": SNAPSHOT_DIRECTORY, "type": "DirectoryOrCreate"}},
                            ],
                        },
                    },
                },
            },
        });
        if let (Some(zone), Value::Object(fields)) = (&schedule.time_zone, &mut spec) {
            fields.insert("timeZone".to_owned(), json!(zone));
        }
        documents.push(json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {
                "name": cron_job_name(&node.vm),
                "namespace": API_ACCESS_NAMESPACE,
                "labels": labels,
            },
            "spec": spec,
        }));
    }
    let file = ManifestFile {
        name: MANIFEST_NAME.to_owned(),
        comments: vec![
            format!(
                "etcd snapshots of cluster {} on `{}`{}, the newest {retention} kept in each control plane's {SNAPSHOT_DIRECTORY}.",
                cluster.name,
                schedule.schedule,
                schedule
                    .time_zone
                    .as_deref()
                    .map(|zone| format!(" ({zone})"))
                    .unwrap_or_default()
            ),
            format!(
                "talosctl reaches its node's Talos API through Kubernetes Talos API access (role {API_ACCESS_ROLE}, allowed from {API_ACCESS_NAMESPACE} by the control planes' machine configurations)."
            ),
        ],
        documents,
    };
    file.to_yaml(&cluster.name).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_job_names_fit_kubernetes_limit() {
        assert_eq!(
            cron_job_name("talos-server-0"),
            "etcd-snapshot-talos-server-0"
        );
        let long = "a-very-long-control-plane-name-of-a-lab-with-a-long-scope";
        let name = cron_job_name(long);
        assert!(name.len() <= 52, "{name}");
        assert_ne!(
            name,
            cron_job_name("a-very-long-control-plane-name-of-a-lab-with-a-long-scope-2")
        );
    }
}
