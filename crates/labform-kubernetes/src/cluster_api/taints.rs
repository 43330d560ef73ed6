//! A node's taints through the API (`spec.taints`), for the taints labform gave it: those a
//! node's configuration listed when it joined and those the lab lists now. Each taint is known
//! by its key and effect, as Kubernetes tells taints apart; the node's taints of the keys and
//! effects labform gives or gave become the lab's, and every other taint (the node
//! controller's `node.kubernetes.io/*`, kubeadm's control-plane taint, one set by hand) stays
//! as it is, in its place and with its `timeAdded`.
//!
//! The whole list is written with the `resourceVersion` read, so a taint another writer added
//! in between is never lost: the API refuses the write (409 Conflict) and the change is made
//! again from a fresh read.

use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{ClusterApi, ClusterApiError, request_error};

/// How many times a write refused for a stale read is made again.
const CONFLICT_ATTEMPTS: usize = 5;

/// A taint in the lab's syntax (`key=value:Effect` or `key:Effect`), read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTaint {
    /// The key.
    pub key: String,
    /// The value (absent or empty: none).
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl NodeTaint {
    /// Reads `key=value:Effect` or `key:Effect`.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] naming the text when it has no effect or an unknown one.
    pub fn parse(text: &str) -> Result<Self, ClusterApiError> {
        let refused = || {
            ClusterApiError::Request {
            action: format!("cannot read taint `{text}`"),
            detail: "a taint is `key=value:Effect` or `key:Effect` with the effect NoSchedule, PreferNoSchedule or NoExecute".to_owned(),
        }
        };
        let (key_value, effect) = text.rsplit_once(':').ok_or_else(refused)?;
        if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            return Err(refused());
        }
        let (key, value) = match key_value.split_once('=') {
            Some((key, value)) => (
                key,
                Some(value.to_owned()).filter(|value| !value.is_empty()),
            ),
            None => (key_value, None),
        };
        if key.is_empty() {
            return Err(refused());
        }
        Ok(NodeTaint {
            key: key.to_owned(),
            value,
            effect: effect.to_owned(),
        })
    }

    /// Whether `taint` is this one's key and effect (the same taint, perhaps another value).
    fn same_slot(&self, taint: &Taint) -> bool {
        taint.key == self.key && taint.effect == self.effect
    }

    /// Whether `taint` is exactly this one.
    fn same(&self, taint: &Taint) -> bool {
        self.same_slot(taint)
            && taint.value.as_deref().filter(|value| !value.is_empty()) == self.value.as_deref()
    }
}

/// The node's taints with labform's (`previous` and `wanted`'s keys and effects) made
/// `wanted`; `None` when they already are.
fn retainted(
    current: &[Taint],
    previous: &[NodeTaint],
    wanted: &[NodeTaint],
) -> Option<Vec<Taint>> {
    let owned = |taint: &Taint| {
        previous
            .iter()
            .chain(wanted)
            .any(|mine| mine.same_slot(taint))
    };
    let mut kept = Vec::new();
    let mut placed = vec![false; wanted.len()];
    for taint in current {
        if !owned(taint) {
            kept.push(taint.clone());
            continue;
        }
        if let Some(index) = wanted
            .iter()
            .enumerate()
            .position(|(index, mine)| !placed[index] && mine.same(taint))
        {
            placed[index] = true;
            kept.push(taint.clone());
        }
    }
    for (mine, placed) in wanted.iter().zip(&placed) {
        if !placed {
            kept.push(Taint {
                key: mine.key.clone(),
                value: mine.value.clone(),
                effect: mine.effect.clone(),
                time_added: None,
            });
        }
    }
    (kept != current).then_some(kept)
}

impl ClusterApi {
    /// Brings the taints labform gives `node` to `wanted` (the lab's syntax): the node's taints
    /// of the keys and effects in `previous` (what labform gave it before) or `wanted` are
    /// removed unless `wanted` lists them, `wanted`'s missing ones are added, and every other
    /// taint stays. Returns whether anything was written.
    ///
    /// # Errors
    ///
    /// [`ClusterApiError::Request`] when a taint cannot be read, the node cannot be read or
    /// written, or other writers changed it [`CONFLICT_ATTEMPTS`] times in a row.
    pub async fn set_node_taints(
        &self,
        node: &str,
        previous: &[String],
        wanted: &[String],
    ) -> Result<bool, ClusterApiError> {
        let parse = |texts: &[String]| -> Result<Vec<NodeTaint>, ClusterApiError> {
            texts.iter().map(|text| NodeTaint::parse(text)).collect()
        };
        let (previous, wanted) = (parse(previous)?, parse(wanted)?);
        let nodes: Api<Node> = Api::all(self.client.clone());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = nodes
                .get(node)
                .await
                .map_err(|error| request_error(&format!("cannot read node {node}"), &error))?;
            let taints = current
                .spec
                .as_ref()
                .and_then(|spec| spec.taints.clone())
                .unwrap_or_default();
            let Some(taints) = retainted(&taints, &previous, &wanted) else {
                return Ok(false);
            };
            let patch = json!({
                "metadata": {"resourceVersion": current.metadata.resource_version},
                "spec": {"taints": if taints.is_empty() { json!(null) } else { json!(taints) }},
            });
            match nodes
                .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(true),
                Err(kube::Error::Api(status))
                    if status.code == 409 && attempt < CONFLICT_ATTEMPTS =>
                {
                    tokio::time::sleep(self.retry_interval).await;
                }
                Err(error) => {
                    return Err(request_error(&format!("cannot taint node {node}"), &error));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.to_owned(),
            value: value.map(str::to_owned),
            effect: effect.to_owned(),
            time_added: None,
        }
    }

    fn parsed(texts: &[&str]) -> Vec<NodeTaint> {
        texts
            .iter()
            .map(|text| NodeTaint::parse(text).expect("a taint"))
            .collect()
    }

    #[test]
    fn taints_read_in_the_labs_syntax() {
        assert_eq!(
            NodeTaint::parse("dedicated=batch:NoSchedule").unwrap(),
            NodeTaint {
                key: "dedicated".to_owned(),
                value: Some("batch".to_owned()),
                effect: "NoSchedule".to_owned()
            }
        );
        assert_eq!(NodeTaint::parse("spot:NoExecute").unwrap().value, None);
        assert_eq!(NodeTaint::parse("spot=:NoExecute").unwrap().value, None);
        for text in ["spot", "spot:Never", ":NoSchedule", "a=b"] {
            assert!(NodeTaint::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn only_labforms_taints_change() {
        let others = taint("node.kubernetes.io/not-ready", None, "NoSchedule");
        let mut by_hand = taint("example.com/maintenance", Some("yes"), "NoExecute");
        by_hand.time_added = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-12-07T19:00:00Z".parse().expect("a time"),
        ));
        let current = vec![
            others.clone(),
            taint("dedicated", Some("batch"), "NoSchedule"),
            by_hand.clone(),
        ];
        // Changed value, one added.
        assert_eq!(
            retainted(
                &current,
                &parsed(&["dedicated=batch:NoSchedule"]),
                &parsed(&["dedicated=gpu:NoSchedule", "spot:NoExecute"])
            ),
            Some(vec![
                others.clone(),
                by_hand.clone(),
                taint("dedicated", Some("gpu"), "NoSchedule"),
                taint("spot", None, "NoExecute"),
            ])
        );
        // Removed: the others stay.
        assert_eq!(
            retainted(&current, &parsed(&["dedicated=batch:NoSchedule"]), &[]),
            Some(vec![others.clone(), by_hand.clone()])
        );
        // Already so: nothing to write, whatever the order.
        assert_eq!(
            retainted(&current, &[], &parsed(&["dedicated=batch:NoSchedule"])),
            None
        );
        // A taint labform never gave is not labform's to remove, even with a key like one of
        // its own but another effect.
        let other_effect = vec![taint("dedicated", Some("batch"), "NoExecute")];
        assert_eq!(
            retainted(&other_effect, &parsed(&["dedicated=batch:NoSchedule"]), &[]),
            None
        );
    }
}
