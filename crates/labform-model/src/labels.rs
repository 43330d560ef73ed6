//! Kubernetes node labels: their syntax (apimachinery's qualified names and label values) and the
//! kubelet's rule for the labels a node may give itself when it registers.
//!
//! The kubelet refuses to start when `--node-labels` (K3s's `node-label`) holds a key under
//! `kubernetes.io` or `k8s.io` (or a subdomain of either) that is not one it may set on its own
//! Node (`ValidateKubeletFlags` with `IsKubeletLabel`, `k8s.io/kubelet/pkg/apis`): the listed
//! well-known keys, and any key under `kubelet.kubernetes.io` or `node.kubernetes.io` (or their
//! subdomains). So `node-role.kubernetes.io/worker=true` keeps a node from ever registering; such
//! labels can only be set through the API once the node has joined.

/// Label keys the kubelet may set on its own Node although they are under `kubernetes.io`.
const KUBELET_LABELS: [&str; 11] = [
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];

/// Label namespaces (and their subdomains) the kubelet may set labels in.
const KUBELET_LABEL_NAMESPACES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];

/// A label written `key=value`, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label<'a> {
    /// The key, `prefix/name` or `name`.
    pub key: &'a str,
    /// The value (may be empty).
    pub value: &'a str,
}

/// Splits `text` at its first `=`; `None` when it has none.
pub fn split_label(text: &str) -> Option<Label<'_>> {
    text.split_once('=')
        .map(|(key, value)| Label { key, value })
}

/// Why a label key is not valid syntax, or `None` when it is.
pub fn key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split('/').collect::<Vec<_>>()[..] {
        [name] => (None, name),
        [prefix, name] => (Some(prefix), name),
        _ => return Some("a key has at most one `/`".to_owned()),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Some("the prefix before `/` is empty".to_owned());
        }
        if prefix.len() > 253 || !is_dns_subdomain(prefix) {
            return Some(format!(
                "the prefix `{prefix}` is not a DNS subdomain (lowercase letters, digits, `-` and `.`, at most 253 characters)"
            ));
        }
    }
    if name.is_empty() {
        return Some("the name is empty".to_owned());
    }
    name_problem(name).map(|problem| format!("the name {problem}"))
}

/// Why a label value is not valid syntax, or `None` when it is.
pub fn value_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    name_problem(value).map(|problem| format!("the value {problem}"))
}

/// A label name or value: at most 63 characters, alphanumerics at both ends, `-`, `_` and `.`
/// between.
fn name_problem(text: &str) -> Option<String> {
    if text.len() > 63 {
        return Some(format!("is {} characters long (at most 63)", text.len()));
    }
    let bytes = text.as_bytes();
    let ends = [bytes[0], bytes[bytes.len() - 1]];
    if !ends.iter().all(u8::is_ascii_alphanumeric) {
        return Some(format!(
            "`{text}` must start and end with a letter or digit"
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!(
            "`{text}` holds `{bad}` (only letters, digits, `-`, `_` and `.` are allowed)"
        ));
    }
    None
}

fn is_dns_subdomain(text: &str) -> bool {
    text.split('.').all(|part| {
        !part.is_empty()
            && part.len() <= 63
            && part
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    })
}

/// Whether the kubelet refuses `key` in `--node-labels`: a key under `kubernetes.io` or `k8s.io`
/// that it may not set on its own Node.
pub fn kubelet_refuses(key: &str) -> bool {
    let Some((namespace, _)) = key.split_once('/') else {
        return false;
    };
    let kubernetes = ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|domain| namespace == *domain || namespace.ends_with(&format!(".{domain}")));
    if !kubernetes || KUBELET_LABELS.contains(&key) {
        return false;
    }
    !KUBELET_LABEL_NAMESPACES
        .iter()
        .any(|allowed| namespace == *allowed || namespace.ends_with(&format!(".{allowed}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelet_refuses_kubernetes_namespaces_outside_its_own() {
        for refused in [
            "node-role.kubernetes.io/worker",
            "kubernetes.io/role",
            "example.k8s.io/thing",
            "k8s.io/x",
            "node-restriction.kubernetes.io/pool",
        ] {
            assert!(kubelet_refuses(refused), "{refused}");
        }
        for allowed in [
            "node.kubernetes.io/instance-type",
            "node.kubernetes.io/pool",
            "sub.node.kubernetes.io/x",
            "kubelet.kubernetes.io/x",
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
            "example.com/role",
            "role",
            "notkubernetes.io/x",
        ] {
            assert!(!kubelet_refuses(allowed), "{allowed}");
        }
    }

    #[test]
    fn label_syntax_follows_apimachinery() {
        assert_eq!(key_problem("example.com/role"), None);
        assert_eq!(key_problem("role_1.x"), None);
        assert!(key_problem("Example.com/role").is_some());
        assert!(key_problem("a/b/c").is_some());
        assert!(key_problem("/role").is_some());
        assert!(key_problem("example.com/").is_some());
        assert!(key_problem("-role").is_some());
        assert!(key_problem(&"x".repeat(64)).is_some());
        assert_eq!(value_problem(""), None);
        assert_eq!(value_problem("true"), None);
        assert!(value_problem("has space").is_some());
        assert!(value_problem("end-").is_some());
    }
}
