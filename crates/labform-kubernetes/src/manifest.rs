//! Manifest files: numbered YAML files of one or more documents, in apply order.

use serde_json::Value;

use crate::error::RenderError;

/// One file of a cluster's manifests.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestFile {
    /// Name without the order prefix (`metallb`, `metallb-address-pools`).
    pub name: String,
    /// Comment lines written at the top (without `#`).
    pub comments: Vec<String>,
    /// The Kubernetes objects.
    pub documents: Vec<Value>,
}

impl ManifestFile {
    /// The file's YAML text: comments, then the documents separated by `---`.
    pub fn to_yaml(&self, cluster: &str) -> Result<String, RenderError> {
        let mut text = String::new();
        for comment in &self.comments {
            text.push_str("# ");
            text.push_str(comment);
            text.push('\n');
        }
        text.push_str(&documents_to_yaml(&self.documents).map_err(|message| {
            RenderError::Yaml {
                cluster: cluster.to_owned(),
                document: self.name.clone(),
                message,
            }
        })?);
        Ok(text)
    }
}

/// YAML output options: long single-line strings stay on one line.
pub(crate) fn yaml_options() -> serde_saphyr::SerializerOptions {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    options
}

/// A value as YAML text.
pub(crate) fn to_yaml(value: &Value) -> Result<String, String> {
    serde_saphyr::to_string_with_options(value, yaml_options()).map_err(|error| error.to_string())
}

/// Documents as one multi-document YAML text (`---` before each).
pub fn documents_to_yaml(documents: &[Value]) -> Result<String, String> {
    let mut text = String::new();
    for document in documents {
        text.push_str("---\n");
        text.push_str(&to_yaml(document)?);
    }
    Ok(text)
}
