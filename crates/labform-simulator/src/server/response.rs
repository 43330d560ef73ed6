//! Responses as Proxmox's API daemon writes them: the `{"data": ...}`
//! envelope, error bodies with per-parameter errors, status and reason
//! phrase, and the headers it sends.

use super::*;

/// A message as a reason phrase: its first line, without control characters.
pub(super) fn reason_line(msg: &str) -> String {
    msg.lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// A response with Proxmox's headers.
pub(super) fn base_response(
    status: u16,
    reason: &str,
    body: Option<serde_json::Value>,
) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match &body {
        Some(b) => Response::new(Body::from(b.to_string())),
        None => Response::new(Body::empty()),
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("server", HeaderValue::from_static("pve-api-daemon/3.0"));
    h.insert("cache-control", HeaderValue::from_static("max-age=0"));
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    if body.is_some() {
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    }
    if let Ok(r) = hyper::ext::ReasonPhrase::try_from(reason_line(reason)) {
        resp.extensions_mut().insert(r);
    }
    resp
}

/// What a request is answered with.
pub(super) struct Outcome {
    /// HTTP status.
    pub(super) status: u16,
    /// Reason phrase (the first line of an error message).
    pub(super) reason: String,
    /// JSON body, if any.
    pub(super) body: Option<serde_json::Value>,
    /// Whether to answer only after Proxmox's delay for failed authentication.
    pub(super) delay: bool,
}

impl Outcome {
    pub(super) fn ok(data: serde_json::Value) -> Self {
        Self {
            status: 200,
            reason: "OK".into(),
            body: Some(serde_json::json!({ "data": data })),
            delay: false,
        }
    }
    pub(super) fn ok_total(data: serde_json::Value, total: u64) -> Self {
        Self {
            status: 200,
            reason: "OK".into(),
            body: Some(serde_json::json!({ "data": data, "total": total })),
            delay: false,
        }
    }
    pub(super) fn err(e: &ApiError) -> Self {
        let mut body = serde_json::Map::new();
        body.insert("data".into(), serde_json::Value::Null);
        body.insert("message".into(), format!("{}\n", e.message).into());
        if !e.errors.is_empty() {
            let errs: serde_json::Map<String, serde_json::Value> = e
                .errors
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v}\n").into()))
                .collect();
            body.insert("errors".into(), errs.into());
        }
        Self {
            status: e.status,
            reason: e.message.clone(),
            body: Some(body.into()),
            delay: false,
        }
    }
    pub(super) fn unauthorized(reason: &str) -> Self {
        Self {
            status: 401,
            reason: reason.into(),
            body: None,
            delay: true,
        }
    }
}

/// The answer to a failed call.
pub(super) fn api_err(e: Error) -> Outcome {
    match e {
        Error::Api { source, .. } => Outcome::err(&source),
        other => Outcome::err(&ApiError::new(500, other.to_string())),
    }
}

/// The answer to a call: its result as `data`, or its error.
pub(super) fn to_json<T: serde::Serialize>(r: Result<T, Error>) -> Outcome {
    match r {
        Ok(v) => Outcome::ok(serde_json::to_value(v).unwrap_or(serde_json::Value::Null)),
        Err(e) => api_err(e),
    }
}

/// Proxmox's 501 for a method and path it has no handler for.
pub(super) fn not_implemented(method: &Method, rel: &str) -> Outcome {
    Outcome::err(&ApiError::new(
        501,
        format!("Method '{method} {rel}' not implemented"),
    ))
}
