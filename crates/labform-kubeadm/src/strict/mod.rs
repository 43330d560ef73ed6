//! Strict decoding of kubeadm configuration files against kubeadm's own types, for the
//! configuration API each Kubernetes version reads (`kubeadm.k8s.io/v1beta2` up to 1.21,
//! `v1beta3` from 1.22, `v1beta4` from 1.31) and the `KubeletConfiguration` kubeadm hands to
//! every kubelet. The types are kubeadm's Go types (`../shared/kubeadm/` for `v1beta3`,
//! `v1beta4` and the bootstrap token; kubernetes/kubernetes `cmd/kubeadm/app/apis/kubeadm/v1beta2`
//! at 1.20 for `v1beta2`), written again as serde types that refuse unknown fields, every
//! field optional as Go's decoder reads them, case-sensitive as Kubernetes' strict decoder is.
//!
//! Decoding goes the way kubeadm's does: each YAML document becomes JSON first, then the JSON
//! is read into the type its `apiVersion` and `kind` name, so a YAML number where kubeadm
//! reads a string is refused as kubeadm refuses it (kubeadm v1.20.2 answers `ReadString:
//! expects " or n, but found 4` for `kubeletExtraArgs: {v: 4}`).
//!
//! `labform render` and apply write these files ([`crate::config`]); the tests decode every one
//! of them, and kubeadm's own fully populated example of each version, with [`decode`].

pub mod kubelet;
mod shared;
mod v1beta2;
mod v1beta3;
mod v1beta4;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// One document of a kubeadm configuration file, decoded strictly.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Its `apiVersion`.
    pub api_version: String,
    /// Its `kind`.
    pub kind: String,
    /// The document as JSON (what the typed decoding read), for reading values back.
    pub value: Value,
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {index} ({api_version} {kind}): {detail}")]
pub struct StrictError {
    /// The document's position in the file, from 1.
    pub index: usize,
    /// Its `apiVersion`, or `(none)`.
    pub api_version: String,
    /// Its `kind`, or `(none)`.
    pub kind: String,
    /// What is wrong: an unknown field, a value of the wrong type, a kind labform does not
    /// write.
    pub detail: String,
}

/// The kinds labform writes into a node's `kubeadm.yaml`, by API version.
const KUBEADM_VERSIONS: [&str; 3] = [
    "kubeadm.k8s.io/v1beta2",
    "kubeadm.k8s.io/v1beta3",
    "kubeadm.k8s.io/v1beta4",
];

/// The `apiVersion` of `KubeletConfiguration`.
pub const KUBELET_API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";

/// Decodes every document of `text` strictly: each kubeadm `InitConfiguration`,
/// `ClusterConfiguration` and `JoinConfiguration` against the types of its `apiVersion`, and
/// `KubeletConfiguration` against the kubelet's. Empty documents (comments only) are skipped.
///
/// # Errors
///
/// [`StrictError`] for the first document that is not YAML, has a field its type lacks, a
/// value of another type, or a kind labform does not write (such as `KubeProxyConfiguration`,
/// whose types are not here).
pub fn decode(text: &str) -> Result<Vec<Decoded>, StrictError> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|error| StrictError {
        index: 0,
        api_version: "(none)".to_owned(),
        kind: "(none)".to_owned(),
        detail: format!("not YAML: {error}"),
    })?;
    let mut decoded = Vec::new();
    for (position, document) in documents.into_iter().enumerate() {
        if document.is_null() {
            continue;
        }
        let text_of = |field: &str| {
            document[field]
                .as_str()
                .map_or_else(|| "(none)".to_owned(), str::to_owned)
        };
        let (api_version, kind) = (text_of("apiVersion"), text_of("kind"));
        let refused = |detail: String| StrictError {
            index: position + 1,
            api_version: api_version.clone(),
            kind: kind.clone(),
            detail,
        };
        check(&api_version, &kind, &document).map_err(refused)?;
        decoded.push(Decoded {
            api_version,
            kind,
            value: document,
        });
    }
    Ok(decoded)
}

/// Reads `document` into `T`, saying what is wrong.
fn typed<T: DeserializeOwned>(document: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(document.clone())
        .map(drop)
        .map_err(|error| error.to_string())
}

fn check(api_version: &str, kind: &str, document: &Value) -> Result<(), String> {
    match (api_version, kind) {
        ("kubeadm.k8s.io/v1beta2", "InitConfiguration") => {
            typed::<v1beta2::InitConfiguration>(document)
        }
        ("kubeadm.k8s.io/v1beta2", "ClusterConfiguration") => {
            typed::<v1beta2::ClusterConfiguration>(document)
        }
        ("kubeadm.k8s.io/v1beta2", "JoinConfiguration") => {
            typed::<v1beta2::JoinConfiguration>(document)
        }
        ("kubeadm.k8s.io/v1beta3", "InitConfiguration") => {
            typed::<v1beta3::InitConfiguration>(document)
        }
        ("kubeadm.k8s.io/v1beta3", "ClusterConfiguration") => {
            typed::<v1beta3::ClusterConfiguration>(document)
        }
        ("kubeadm.k8s.io/v1beta3", "JoinConfiguration") => {
            typed::<v1beta3::JoinConfiguration>(document)
        }
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration") => {
            typed::<v1beta4::InitConfiguration>(document)
        }
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration") => {
            typed::<v1beta4::ClusterConfiguration>(document)
        }
        ("kubeadm.k8s.io/v1beta4", "JoinConfiguration") => {
            typed::<v1beta4::JoinConfiguration>(document)
        }
        (KUBELET_API_VERSION, "KubeletConfiguration") => kubelet::check(document),
        (version, kind) if KUBEADM_VERSIONS.contains(&version) => Err(format!(
            "{kind} is not a kind labform writes (InitConfiguration, ClusterConfiguration, JoinConfiguration)"
        )),
        (version, kind) => Err(format!(
            "{version} {kind} is not a kind labform writes, so its types are not here"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_wrong_types_are_refused_with_the_document() {
        let good = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\n\
            nodeRegistration:\n  name: w\n  kubeletExtraArgs:\n    node-ip: 10.0.0.2\n\
            discovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n";
        let decoded = decode(good).expect("decodes");
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded[0].kind, "JoinConfiguration");
        assert_eq!(decoded[0].value["nodeRegistration"]["name"], "w");

        let nested = good.replace("  name: w\n", "  name: w\n  nodeName: w\n");
        let error = decode(&nested).expect_err("unknown nested field");
        assert_eq!(error.index, 1);
        assert!(error.detail.contains("unknown field `nodeName`"), "{error}");
        // Case matters, as in Kubernetes' strict decoder.
        assert!(decode(&good.replace("discovery:", "Discovery:")).is_err());
        // A v1beta4 field is not a v1beta3 one.
        assert!(decode(&good.replace("discovery:", "timeouts: {}\ndiscovery:")).is_err());
        // The map of v1beta3 is a list of name and value in v1beta4.
        let v1beta4 = good.replace("v1beta3", "v1beta4");
        assert!(decode(&v1beta4).is_err());
        assert!(
            decode(&v1beta4.replace(
                "    node-ip: 10.0.0.2\n",
                "    - name: node-ip\n      value: 10.0.0.2\n"
            ))
            .is_ok()
        );
        // A number where kubeadm reads a string.
        let number = good.replace("node-ip: 10.0.0.2", "v: 4");
        let error = decode(&number).expect_err("a number");
        assert!(error.detail.contains("expected a string"), "{error}");
        let error = decode("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ResetConfiguration\n")
            .expect_err("not written");
        assert!(
            error
                .to_string()
                .contains("ResetConfiguration is not a kind labform writes")
        );
    }
}
