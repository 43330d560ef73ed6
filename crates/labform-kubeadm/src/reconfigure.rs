//! A kubeadm configuration that changed under a formed cluster: what the node's
//! `kubeadm.yaml` said when it was written and what the lab says now, field by field, with
//! what labform does about each field. kubeadm reads its configuration only in `kubeadm init`,
//! `join` and `upgrade`, so on a node already in the cluster a changed file alone changes
//! nothing. Which part of the configuration a field is ([`ConfigurationPart`]) is decided
//! here; what a change of that part does is the plan's ([`KubeadmSettings`]): node labels and
//! the taints labform gave go through the API, the Kubernetes version through the upgrade, the
//! control plane's wait only matters to the next kubeadm run, and everything else (networks,
//! the API endpoint, certificate SANs, etcd, the image repository, a node's address, a control
//! plane's taints to or from kubeadm's default) is refused before any node is touched, because
//! kubeadm cannot change it on a formed cluster.
//!
//! The secrets (bootstrap token, certificate key, the CA's hash) are never compared or shown:
//! labform keeps them in its store and renews the token itself.

use std::collections::BTreeMap;

pub use labform_planner::plan::{ConfigurationPart, KubeadmSettings, ReconfigurationEffect};
use serde_json::Value;

use crate::error::KubeadmError;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// `Kind field.path`, such as `ClusterConfiguration networking.serviceSubnet`; a node's
    /// taints are one field, `Kind nodeRegistration.taints`.
    pub field: String,
    /// The value in the node's file (`(unset)` when absent).
    pub before: String,
    /// The value the lab asks for (`(unset)` when absent).
    pub after: String,
    /// Which part of the configuration the field is.
    pub part: ConfigurationPart,
    /// What labform does about it (the plan's rule for the part).
    pub effect: ReconfigurationEffect,
}

impl std::fmt::Display for ConfigChange {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match (self.part, self.effect) {
            (ConfigurationPart::ControlPlaneDefaultTaint, ReconfigurationEffect::Refused) => {
                "no taints on a control plane means kubeadm's own control-plane taint, which labform does not change on a formed cluster"
            }
            (_, effect) => effect.describe(),
        };
        write!(
            formatter,
            "{}: {} -> {} ({why})",
            self.field, self.before, self.after
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

/// The taints labform gave a node (`previous`, from the node's file) and those the lab gives
/// it now (`wanted`), in the lab's syntax (`key=value:Effect`, `key:Effect`): through the API,
/// the node's taints of those keys and effects become `wanted`; others' taints stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaintChange {
    /// The taints the node's file listed.
    pub previous: Vec<String>,
    /// The taints the lab lists now.
    pub wanted: Vec<String>,
}

/// The fields that differ between the configuration the node holds (`before`) and the one
/// labform renders now (`after`), each with what `settings` (the plan's) says a change of its
/// part does. Comments are ignored; secrets are left out.
///
/// # Errors
///
/// When either text is not YAML (the message names which, and quotes neither).
pub fn changes(
    before: &str,
    after: &str,
    settings: &KubeadmSettings,
) -> Result<Vec<ConfigChange>, String> {
    // The parser's message is left out: it may quote the text, which holds the secrets.
    let before = flatten(before).ok_or("the node's file is not YAML")?;
    let after = flatten(after).ok_or("labform's file is not YAML")?;
    let control_plane = before.control_plane || after.control_plane;
    let (before, after) = (before.fields, after.fields);
    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
    fields.sort();
    fields.dedup();
    let unset = || UNSET.to_owned();
    Ok(fields
        .into_iter()
        .filter(|field| before.get(*field) != after.get(*field))
        .map(|field| {
            let either_unset = !before.contains_key(field) || !after.contains_key(field);
            let part = part(field, control_plane && either_unset);
            ConfigChange {
                field: field.clone(),
                before: before.get(field).cloned().unwrap_or_else(unset),
                after: after.get(field).cloned().unwrap_or_else(unset),
                part,
                effect: settings.effect(part),
            }
        })
        .collect())
}

/// How an absent field is shown.
const UNSET: &str = "(unset)";

/// The taints that differ, when the change of them goes through the API.
pub fn taint_change(changes: &[ConfigChange]) -> Option<TaintChange> {
    let change = changes.iter().find(|change| {
        change.part == ConfigurationPart::NodeTaints
            && change.effect == ReconfigurationEffect::ThroughApi
    })?;
    let taints = |text: &str| -> Vec<String> {
        if text == UNSET {
            return Vec::new();
        }
        text.split(", ").map(str::to_owned).collect()
    };
    Some(TaintChange {
        previous: taints(&change.before),
        wanted: taints(&change.after),
    })
}

/// The node labels (`nodeRegistration.kubeletExtraArgs`'s `node-labels`) that differ.
pub fn label_changes(changes: &[ConfigChange]) -> LabelChange {
    let mut label_change = LabelChange::default();
    for change in changes {
        if change.part != ConfigurationPart::NodeLabels
            || change.effect != ReconfigurationEffect::ThroughApi
        {
            continue;
        }
        let labels = |text: &str| -> BTreeMap<String, String> {
            if text == UNSET {
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
                .filter(|change| change.effect == ReconfigurationEffect::Refused)
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

/// The field of a node's taints, as [`changes`] names it (one field for the list).
const TAINTS: &str = "nodeRegistration.taints";

/// Which part of the configuration `field` is; `control_plane_default` when the field is a
/// control plane's and absent on one side (for taints: kubeadm's own control-plane taint).
fn part(field: &str, control_plane_default: bool) -> ConfigurationPart {
    let path = field.split_once(' ').map_or(field, |(_, path)| path);
    if path == NODE_LABELS {
        ConfigurationPart::NodeLabels
    } else if path == TAINTS && control_plane_default {
        ConfigurationPart::ControlPlaneDefaultTaint
    } else if path == TAINTS {
        ConfigurationPart::NodeTaints
    } else if path == "kubernetesVersion" {
        ConfigurationPart::KubernetesVersion
    } else if path == "apiServer.timeoutForControlPlane" || path.starts_with("timeouts.") {
        ConfigurationPart::ControlPlaneWait
    } else {
        ConfigurationPart::ClusterShape
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

/// A configuration's fields, and whether it is a control plane's.
struct Flat {
    fields: BTreeMap<String, String>,
    control_plane: bool,
}

/// Every scalar of every document as `Kind path` to its text; `kubeletExtraArgs` and
/// `extraArgs` by argument name in both of their shapes (a map up to `v1beta3`, a list of
/// `{name, value}` from `v1beta4`); a node's taints as one field in the lab's syntax.
fn flatten(text: &str) -> Option<Flat> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).ok()?;
    let mut fields = BTreeMap::new();
    let mut control_plane = false;
    for document in documents.iter().filter(|document| !document.is_null()) {
        let kind = document["kind"].as_str().unwrap_or("(no kind)").to_owned();
        control_plane |= kind == "InitConfiguration"
            || kind == "JoinConfiguration" && document.get("controlPlane").is_some();
        let mut scalars = Vec::new();
        walk(document, String::new(), &mut scalars);
        for (path, value) in scalars {
            if path == "kind" || path == "apiVersion" || secret(&path) {
                continue;
            }
            fields.insert(format!("{kind} {path}"), value);
        }
    }
    Some(Flat {
        fields,
        control_plane,
    })
}

/// A taint of a configuration in the lab's syntax: `key=value:Effect` or `key:Effect`.
fn taint_text(taint: &Value) -> String {
    let key = taint["key"].as_str().unwrap_or_default();
    let effect = taint["effect"].as_str().unwrap_or_default();
    match taint["value"].as_str().filter(|value| !value.is_empty()) {
        Some(value) => format!("{key}={value}:{effect}"),
        None => format!("{key}:{effect}"),
    }
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
        Value::Array(items) if path == TAINTS => {
            if !items.is_empty() {
                let texts: Vec<String> = items.iter().map(taint_text).collect();
                out.push((path, texts.join(", ")));
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

    fn rules() -> KubeadmSettings {
        KubeadmSettings::planned()
    }

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
        assert_eq!(changes(BEFORE, BEFORE, &rules()).unwrap(), []);
        let after = BEFORE
            .replace("# labform: kubeadm v1.20.2", "# another comment")
            .replace("abcdef.0123456789abcdef", "zzzzzz.0123456789zzzzzz")
            .replace("00aa", "11bb");
        assert_eq!(changes(BEFORE, &after, &rules()).unwrap(), []);
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
        let found = changes(BEFORE, &after, &rules()).unwrap();
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
        let dropped = changes(
            BEFORE,
            &BEFORE.replace("    node-labels: a=1,b=2\n", ""),
            &rules(),
        )
        .unwrap();
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
        let found = changes(list, &moved, &rules()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].field,
            "JoinConfiguration nodeRegistration.kubeletExtraArgs.node-ip"
        );
        assert_eq!(found[0].effect, ReconfigurationEffect::Refused);
    }

    /// A node's taints are one field in the lab's syntax: a worker's go through the API, a
    /// control plane's too while it lists taints before and after; to or from none (kubeadm's
    /// own control-plane taint) they are refused.
    #[test]
    fn taints_are_one_field_and_a_control_planes_default_is_kubeadms() {
        let worker = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\n\
            nodeRegistration:\n  name: w\n  taints:\n  - key: dedicated\n    value: batch\n    effect: NoSchedule\n";
        let changed =
            worker.replace("value: batch", "value: gpu") + "  - key: spot\n    effect: NoExecute\n";
        let found = changes(worker, &changed, &rules()).unwrap();
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "JoinConfiguration nodeRegistration.taints: dedicated=batch:NoSchedule -> dedicated=gpu:NoSchedule, spot:NoExecute (set through the Kubernetes API)"
            ]
        );
        assert_eq!(
            taint_change(&found),
            Some(TaintChange {
                previous: vec!["dedicated=batch:NoSchedule".to_owned()],
                wanted: vec![
                    "dedicated=gpu:NoSchedule".to_owned(),
                    "spot:NoExecute".to_owned()
                ],
            })
        );
        let untainted = changes(worker, "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\nnodeRegistration:\n  name: w\n", &rules()).unwrap();
        assert_eq!(untainted[0].part, ConfigurationPart::NodeTaints);
        assert_eq!(
            taint_change(&untainted).map(|change| change.wanted),
            Some(vec![])
        );

        let control_plane = worker.replace("  name: w\n", "  name: cp\n")
            + "controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: 10.0.0.11\n";
        let retainted = changes(
            &control_plane,
            &control_plane.replace("batch", "gpu"),
            &rules(),
        )
        .unwrap();
        assert_eq!(retainted[0].effect, ReconfigurationEffect::ThroughApi);
        let bare = control_plane.replace(
            "  taints:\n  - key: dedicated\n    value: batch\n    effect: NoSchedule\n",
            "",
        );
        for (before, after) in [(&control_plane, &bare), (&bare, &control_plane)] {
            let found = changes(before, after, &rules()).unwrap();
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].part, ConfigurationPart::ControlPlaneDefaultTaint);
            assert_eq!(found[0].effect, ReconfigurationEffect::Refused);
            assert_eq!(taint_change(&found), None);
        }
    }

    /// What a change does is the plan's: with another rule for a part, the same change does
    /// what that rule says (here node labels refused instead of set through the API).
    #[test]
    fn the_effect_is_the_plans_rule() {
        let mut strict = rules();
        for rule in &mut strict.reconfiguration {
            if rule.part == ConfigurationPart::NodeLabels {
                rule.effect = ReconfigurationEffect::Refused;
            }
        }
        let after = BEFORE.replace("a=1,b=2", "a=1");
        let found = changes(BEFORE, &after, &strict).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].part, ConfigurationPart::NodeLabels);
        assert_eq!(found[0].effect, ReconfigurationEffect::Refused);
        assert!(label_changes(&found).is_empty());
        assert!(refusal("k8s", &[("cp".to_owned(), found)]).is_some());
        let planned = changes(BEFORE, &after, &rules()).unwrap();
        assert_eq!(planned[0].effect, ReconfigurationEffect::ThroughApi);
        assert_eq!(label_changes(&planned).removed, ["b"]);
    }

    #[test]
    fn text_that_is_not_yaml_is_named() {
        assert_eq!(
            changes("token: abcdef.0123456789abcdef\na: [", BEFORE, &rules()).unwrap_err(),
            "the node's file is not YAML"
        );
    }
}
