//! A kubeadm configuration that changed under a formed cluster: what the node's
//! `kubeadm.yaml` said when it was written and what the lab says now, field by field, with
//! what labform does about each field. kubeadm reads its configuration only in `kubeadm init`,
//! `join` and `upgrade`, so on a node already in the cluster a changed file alone changes
//! nothing: node labels are set (and dropped ones removed) through the API, the Kubernetes
//! version goes through the upgrade, the control plane's wait only matters to the next kubeadm
//! run, and everything else (networks, the API endpoint, certificate SANs, etcd, the image
//! repository, a node's address or taints) is refused before any node is touched, because
//! kubeadm cannot change it on a formed cluster.
//!
//! The secrets (bootstrap token, certificate key, the CA's hash) are never compared or shown:
//! labform keeps them in its store and renews the token itself.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::KubeadmError;

/// What labform does about a changed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeEffect {
    /// Set through the Kubernetes API (node labels).
    ThroughApi,
    /// Carried out by the upgrade (the Kubernetes version).
    Upgrade,
    /// Read only when kubeadm runs `init` or `join`: kept in the node's file for then.
    NextKubeadmRun,
    /// kubeadm cannot change it on a formed cluster.
    Refused,
}

impl ChangeEffect {
    /// How a progress line or an error says it.
    pub fn describe(self) -> &'static str {
        match self {
            ChangeEffect::ThroughApi => "set through the Kubernetes API",
            ChangeEffect::Upgrade => "carried out by the upgrade",
            ChangeEffect::NextKubeadmRun => "read by the next kubeadm init or join only",
            ChangeEffect::Refused => "kubeadm cannot change it on a formed cluster",
        }
    }
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// `Kind field.path`, such as `ClusterConfiguration networking.serviceSubnet`.
    pub field: String,
    /// The value in the node's file (`(unset)` when absent).
    pub before: String,
    /// The value the lab asks for (`(unset)` when absent).
    pub after: String,
    /// What labform does about it.
    pub effect: ChangeEffect,
}

impl std::fmt::Display for ConfigChange {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{}: {} -> {} ({})",
            self.field,
            self.before,
            self.after,
            self.effect.describe()
        )
    }
}

/// The node labels to set and the keys to remove, through the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelChange {
    /// `key=value` the node's file did not have (or had with another value).
    pub set: Vec<String>,
    /// Keys the node's file had that the lab no longer has.
    pub removed: Vec<String>,
}

impl LabelChange {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.removed.is_empty()
    }
}

/// The fields that differ between the configuration the node holds (`before`) and the one
/// labform renders now (`after`). Comments are ignored; secrets are left out.
///
/// # Errors
///
/// When either text is not YAML (the message names which, and quotes neither).
pub fn changes(before: &str, after: &str) -> Result<Vec<ConfigChange>, String> {
    // The parser's message is left out: it may quote the text, which holds the secrets.
    let before = flatten(before).ok_or("the node's file is not YAML")?;
    let after = flatten(after).ok_or("labform's file is not YAML")?;
    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
    fields.sort();
    fields.dedup();
    let unset = || "(unset)".to_owned();
    Ok(fields
        .into_iter()
        .filter(|field| before.get(*field) != after.get(*field))
        .map(|field| ConfigChange {
            field: field.clone(),
            before: before.get(field).cloned().unwrap_or_else(unset),
            after: after.get(field).cloned().unwrap_or_else(unset),
            effect: effect(field),
        })
        .collect())
}

/// The node labels (`nodeRegistration.kubeletExtraArgs`'s `node-labels`) that differ.
pub fn label_changes(changes: &[ConfigChange]) -> LabelChange {
    let mut label_change = LabelChange::default();
    for change in changes {
        if !change.field.ends_with(NODE_LABELS) {
            continue;
        }
        let labels = |text: &str| -> BTreeMap<String, String> {
            if text == "(unset)" {
                return BTreeMap::new();
            }
            text.split(',')
                .filter(|label| !label.is_empty())
                .map(|label| {
                    let (key, value) = label.split_once('=').unwrap_or((label, ""));
                    (key.to_owned(), value.to_owned())
                })
                .collect()
        };
        let (before, after) = (labels(&change.before), labels(&change.after));
        for (key, value) in &after {
            if before.get(key) != Some(value) {
                label_change.set.push(format!("{key}={value}"));
            }
        }
        for key in before.keys() {
            if !after.contains_key(key) {
                label_change.removed.push(key.clone());
            }
        }
    }
    label_change
}

/// The error that refuses the changes kubeadm cannot make, of every node (`by_node`: each
/// node's changes), or `None` when kubeadm can make them all.
pub fn refusal(cluster: &str, by_node: &[(String, Vec<ConfigChange>)]) -> Option<KubeadmError> {
    let refused: Vec<String> = by_node
        .iter()
        .flat_map(|(node, changes)| {
            changes
                .iter()
                .filter(|change| change.effect == ChangeEffect::Refused)
                .map(move |change| format!("{node}: {change}"))
        })
        .collect();
    (!refused.is_empty()).then(|| KubeadmError::Reconfiguration {
        cluster: cluster.to_owned(),
        changes: refused,
    })
}

/// The field of the kubelet's node labels, as [`changes`] names it.
const NODE_LABELS: &str = "nodeRegistration.kubeletExtraArgs.node-labels";

fn effect(field: &str) -> ChangeEffect {
    let path = field.split_once(' ').map_or(field, |(_, path)| path);
    if path == NODE_LABELS {
        ChangeEffect::ThroughApi
    } else if path == "kubernetesVersion" {
        ChangeEffect::Upgrade
    } else if path == "apiServer.timeoutForControlPlane" || path.starts_with("timeouts.") {
        ChangeEffect::NextKubeadmRun
    } else {
        ChangeEffect::Refused
    }
}

/// Whether `path` (within a document) holds a secret or what labform renews itself.
fn secret(path: &str) -> bool {
    path.starts_with("bootstrapTokens")
        || path == "certificateKey"
        || path == "controlPlane.certificateKey"
        || path == "discovery.bootstrapToken.token"
        || path.starts_with("discovery.bootstrapToken.caCertHashes")
        || path == "discovery.tlsBootstrapToken"
}

/// Every scalar of every document as `Kind path` to its text; `kubeletExtraArgs` and
/// `extraArgs` by argument name in both of their shapes (a map up to `v1beta3`, a list of
/// `{name, value}` from `v1beta4`).
fn flatten(text: &str) -> Option<BTreeMap<String, String>> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).ok()?;
    let mut fields = BTreeMap::new();
    for document in documents.iter().filter(|document| !document.is_null()) {
        let kind = document["kind"].as_str().unwrap_or("(no kind)").to_owned();
        let mut scalars = Vec::new();
        walk(document, String::new(), &mut scalars);
        for (path, value) in scalars {
            if path == "kind" || path == "apiVersion" || secret(&path) {
                continue;
            }
            fields.insert(format!("{kind} {path}"), value);
        }
    }
    Some(fields)
}

fn walk(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                walk(value, join(key), out);
            }
        }
        Value::Array(items) if path.ends_with("xtraArgs") => {
            for item in items {
                let name = item["name"].as_str().unwrap_or_default();
                walk(&item["value"], join(name), out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{index}]"), out);
            }
        }
        // The same socket, written as a path up to `v1beta2` and as a URL from `v1beta3`.
        Value::String(text) if path.ends_with("criSocket") => {
            let socket = text.strip_prefix("unix://").unwrap_or(text);
            out.push((path, socket.to_owned()));
        }
        Value::String(text) => out.push((path, text.clone())),
        Value::Null => {}
        other => out.push((path, other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# labform: kubeadm v1.20.2\n\
        apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n\
        bootstrapTokens:\n- token: abcdef.0123456789abcdef\n\
        certificateKey: 00aa\n\
        nodeRegistration:\n  name: cp\n  kubeletExtraArgs:\n    node-ip: 10.0.0.10\n    node-labels: a=1,b=2\n\
        ---\napiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n\
        kubernetesVersion: v1.20.2\nnetworking:\n  serviceSubnet: 10.96.0.0/12\n\
        apiServer:\n  certSANs: [10.0.0.5, cp]\n";

    #[test]
    fn nothing_differs_in_the_same_text_or_in_comments_and_secrets() {
        assert_eq!(changes(BEFORE, BEFORE).unwrap(), []);
        let after = BEFORE
            .replace("# labform: kubeadm v1.20.2", "# another comment")
            .replace("abcdef.0123456789abcdef", "zzzzzz.0123456789zzzzzz")
            .replace("00aa", "11bb");
        assert_eq!(changes(BEFORE, &after).unwrap(), []);
    }

    #[test]
    fn each_field_says_what_labform_does() {
        let after = BEFORE
            .replace("a=1,b=2", "a=1,b=3,c=4")
            .replace("v1.20.2\nnet", "v1.21.1\nnet")
            .replace("10.96.0.0/12", "10.112.0.0/12")
            .replace(
                "certSANs: [10.0.0.5, cp]",
                "certSANs: [10.0.0.5, cp]\n  timeoutForControlPlane: 10m0s",
            );
        let found = changes(BEFORE, &after).unwrap();
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "ClusterConfiguration apiServer.timeoutForControlPlane: (unset) -> 10m0s (read by the next kubeadm init or join only)",
                "ClusterConfiguration kubernetesVersion: v1.20.2 -> v1.21.1 (carried out by the upgrade)",
                "ClusterConfiguration networking.serviceSubnet: 10.96.0.0/12 -> 10.112.0.0/12 (kubeadm cannot change it on a formed cluster)",
                "InitConfiguration nodeRegistration.kubeletExtraArgs.node-labels: a=1,b=2 -> a=1,b=3,c=4 (set through the Kubernetes API)",
            ]
        );
        assert_eq!(
            label_changes(&found),
            LabelChange {
                set: vec!["b=3".to_owned(), "c=4".to_owned()],
                removed: vec![],
            }
        );
        let dropped = changes(BEFORE, &BEFORE.replace("    node-labels: a=1,b=2\n", "")).unwrap();
        assert_eq!(
            label_changes(&dropped),
            LabelChange {
                set: vec![],
                removed: vec!["a".to_owned(), "b".to_owned()],
            }
        );
    }

    #[test]
    fn arguments_compare_by_name_in_both_shapes() {
        let list = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n\
            nodeRegistration:\n  kubeletExtraArgs:\n  - name: node-ip\n    value: 10.0.0.11\n  - name: node-labels\n    value: a=1\n";
        let moved = list.replace("10.0.0.11", "10.0.0.12");
        let found = changes(list, &moved).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].field,
            "JoinConfiguration nodeRegistration.kubeletExtraArgs.node-ip"
        );
        assert_eq!(found[0].effect, ChangeEffect::Refused);
    }

    #[test]
    fn text_that_is_not_yaml_is_named() {
        assert_eq!(
            changes("token: abcdef.0123456789abcdef\na: [", BEFORE).unwrap_err(),
            "the node's file is not YAML"
        );
    }
}
