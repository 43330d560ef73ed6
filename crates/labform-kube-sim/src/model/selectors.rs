//! Field and label selectors (`a=b`, `a==b`, `a!=b`) and the fields each
//! resource type can be selected by.

use super::*;

/// One requirement of a field or label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    key: String,
    value: String,
    equal: bool,
}

/// Parses `a=b,c!=d` (also `==`); other operators (`in`, existence) are not modelled.
pub(crate) fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let part = part.trim();
            let (key, value, equal) = if let Some((key, value)) = part.split_once("!=") {
                (key, value, false)
            } else if let Some((key, value)) = part.split_once("==") {
                (key, value, true)
            } else if let Some((key, value)) = part.split_once('=') {
                (key, value, true)
            } else {
                return Err(format!(
                    "the simulator models only =, == and != selectors, not `{part}`"
                ));
            };
            Ok(Requirement {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
                equal,
            })
        })
        .collect()
}

/// The field paths kube-apiserver accepts in field selectors, per resource.
fn selectable_field(resource: &ResourceType, key: &str) -> Option<&'static [&'static str]> {
    match key {
        "metadata.name" => Some(&["metadata", "name"]),
        "metadata.namespace" if resource.namespaced => Some(&["metadata", "namespace"]),
        "spec.nodeName" if resource.plural == "pods" => Some(&["spec", "nodeName"]),
        "status.phase" if resource.plural == "pods" => Some(&["status", "phase"]),
        "spec.unschedulable" if resource.plural == "nodes" => Some(&["spec", "unschedulable"]),
        _ => None,
    }
}

fn field_value(object: &Value, path: &[&str]) -> String {
    let mut current = object;
    for segment in path {
        current = &current[*segment];
    }
    match current {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Checks a field selector against the fields the resource supports; the error is
/// kube-apiserver's message.
pub(crate) fn check_field_selector(
    resource: &ResourceType,
    requirements: &[Requirement],
) -> Result<(), String> {
    for requirement in requirements {
        if selectable_field(resource, &requirement.key).is_none() {
            return Err(format!("field label not supported: {}", requirement.key));
        }
    }
    Ok(())
}

pub(super) fn matches_fields(
    resource: &ResourceType,
    object: &Value,
    requirements: &[Requirement],
) -> bool {
    requirements.iter().all(|requirement| {
        let path = selectable_field(resource, &requirement.key).unwrap_or(&[]);
        let value = if resource.plural == "nodes" && requirement.key == "spec.unschedulable" {
            object["spec"]["unschedulable"]
                .as_bool()
                .unwrap_or(false)
                .to_string()
        } else {
            field_value(object, path)
        };
        (value == requirement.value) == requirement.equal
    })
}

pub(super) fn matches_labels(object: &Value, requirements: &[Requirement]) -> bool {
    requirements.iter().all(|requirement| {
        let value = object["metadata"]["labels"][&requirement.key].as_str();
        match value {
            Some(value) => (value == requirement.value) == requirement.equal,
            None => !requirement.equal,
        }
    })
}
