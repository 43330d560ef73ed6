//! Answers in kube-apiserver's shape: `Status` bodies for failures,
//! RFC 3339 timestamps, and JSON merge patch.

use super::*;

/// An HTTP answer: status code and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// HTTP status.
    pub code: u16,
    /// Body.
    pub body: Value,
}

impl Answer {
    pub(crate) fn ok(body: Value) -> Self {
        Self { code: 200, body }
    }
}

/// A `Status` failure body as kube-apiserver writes it (`k8s.io/apimachinery/pkg/api/errors`).
pub(crate) fn status_failure(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Answer {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    Answer { code, body }
}

/// `NewNotFound`: `pods "web" not found`.
pub(crate) fn not_found(resource: &ResourceType, name: &str) -> Answer {
    let mut details = json!({"name": name, "kind": resource.plural});
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    status_failure(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", resource.qualified()),
        Some(details),
    )
}

/// `NewBadRequest`.
pub(crate) fn bad_request(message: &str) -> Answer {
    status_failure(400, "BadRequest", message, None)
}

/// RFC 3339 UTC time with seconds, as Kubernetes writes `metav1.Time`.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |duration| duration.as_secs());
    jiff::Timestamp::from_second(i64::try_from(seconds).unwrap_or(0))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}
