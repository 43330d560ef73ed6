//! Test support: the contract validator (checks requests and responses
//! against Proxmox's official API schema, the part of it in
//! `tests/pve-api/subset.json`) and helpers to run a simulator server.

#![allow(dead_code)]

pub mod https;
pub mod in_process;
pub mod session;

use labform_simulator::server::{Exchange, Observer};
use serde_json::Value;
use std::sync::{Arc, Mutex, OnceLock};

/// The part of Proxmox VE 9.1's API schema the simulator serves (`tests/pve-api/SOURCE.md`).
const SUBSET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pve-api/subset.json");

fn schema() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| {
        let text = std::fs::read_to_string(SUBSET)
            .unwrap_or_else(|e| panic!("the contract tests need {SUBSET}: {e}"));
        serde_json::from_str(&text).expect("subset.json is valid JSON")
    })
}

/// Looks up a property, falling back to indexed names (`net0` -> `net[n]`).
fn property<'a>(props: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(p) = props.get(name) {
        return Some(p);
    }
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() < name.len() {
        props.get(&format!("{stem}[n]"))
    } else {
        None
    }
}

fn is_int_text(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    !t.is_empty() && t.chars().all(|c| c.is_ascii_digit())
}

/// Checks a wire parameter (always a string) against its schema.
fn check_param(name: &str, value: &str, schema: &Value, errors: &mut Vec<String>) {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") if !is_int_text(value) => {
            errors.push(format!("param {name}: '{value}' is not an integer"))
        }
        Some("number") if value.parse::<f64>().is_err() => {
            errors.push(format!("param {name}: '{value}' is not a number"))
        }
        Some("boolean") if value != "0" && value != "1" => {
            errors.push(format!("param {name}: '{value}' is not 0/1"))
        }
        _ => {}
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.iter().any(|x| x.as_str() == Some(value))
    {
        errors.push(format!("param {name}: '{value}' not in enum {e:?}"));
    }
}

/// Checks a response value against a `returns` schema.
pub fn check_value(path: &str, v: &Value, schema: &Value, errors: &mut Vec<String>) {
    let ty = schema.get("type").and_then(Value::as_str);
    let optional = schema.get("optional").and_then(Value::as_i64) == Some(1);
    if v.is_null() && (optional || ty == Some("null")) {
        return;
    }
    match ty {
        Some("object") => {
            let Some(obj) = v.as_object() else {
                errors.push(format!("{path}: expected object, got {v}"));
                return;
            };
            let props = schema.get("properties").and_then(Value::as_object);
            if let Some(props) = props {
                for (k, ps) in props {
                    if k.ends_with("[n]") {
                        continue;
                    }
                    let opt = ps.get("optional").and_then(Value::as_i64) == Some(1);
                    match obj.get(k) {
                        Some(x) => check_value(&format!("{path}.{k}"), x, ps, errors),
                        None if !opt => {
                            errors.push(format!("{path}: missing required property '{k}'"))
                        }
                        None => {}
                    }
                }
                let closed = schema.get("additionalProperties").and_then(Value::as_i64) == Some(0);
                for (k, x) in obj {
                    match property(props, k) {
                        Some(ps) if props.get(k).is_none() => {
                            check_value(&format!("{path}.{k}"), x, ps, errors)
                        }
                        Some(_) => {}
                        None if closed => {
                            errors.push(format!("{path}: property '{k}' not in schema"))
                        }
                        None => {}
                    }
                }
            }
        }
        Some("array") => match v.as_array() {
            Some(items) => {
                if let Some(is) = schema.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        check_value(&format!("{path}[{i}]"), x, is, errors);
                    }
                }
            }
            None => errors.push(format!("{path}: expected array, got {v}")),
        },
        Some("string") => match v.as_str() {
            Some(s) => {
                if let Some(e) = schema.get("enum").and_then(Value::as_array)
                    && !e.iter().any(|x| x.as_str() == Some(s))
                {
                    errors.push(format!("{path}: '{s}' not in enum {e:?}"));
                }
            }
            None => errors.push(format!("{path}: expected string, got {v}")),
        },
        Some("integer") if !(v.is_i64() || v.is_u64()) => {
            errors.push(format!("{path}: expected integer, got {v}"))
        }
        Some("number")
            if !(v.is_number() || v.as_str().is_some_and(|s| s.parse::<f64>().is_ok())) =>
        {
            errors.push(format!("{path}: expected number, got {v}"))
        }
        Some("boolean") if !(v.is_boolean() || v.as_u64().is_some_and(|n| n <= 1)) => {
            errors.push(format!("{path}: expected boolean (0/1), got {v}"))
        }
        Some("null") if !v.is_null() => errors.push(format!("{path}: expected null, got {v}")),
        _ => {}
    }
}

/// The schema of `method template`.
pub fn endpoint_info(template: &str, method: &str) -> Option<&'static Value> {
    schema()["endpoints"]
        .get(template)
        .and_then(|e| e.get(method))
}

/// Validates one exchange; returns the violations.
pub fn validate(x: &Exchange) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(template) = &x.template else {
        // Unknown paths must be answered with Proxmox's 501.
        if x.status != 501 {
            errors.push(format!(
                "{} on an unknown path answered {}",
                x.method, x.status
            ));
        }
        return errors;
    };
    let Some(info) = endpoint_info(template, &x.method) else {
        errors.push(format!(
            "{} {template} is not in the API schema subset (add its path to tests/pve-api/extract.py and run it)",
            x.method
        ));
        return errors;
    };
    let ctx = format!("{} {template}", x.method);
    // Request: every parameter the client sent exists and type-checks.
    let params = &info["parameters"];
    let props = params
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let status_ok = x.status == 200;
    let mut param_errors = Vec::new();
    for (k, v) in &x.params {
        match property(&props, k) {
            Some(s) => check_param(k, v, s, &mut param_errors),
            None => {
                // The simulator must have rejected it.
                if status_ok {
                    errors.push(format!("{ctx}: unknown parameter '{k}' accepted"));
                }
            }
        }
    }
    // Invalid parameters are fine only if the simulator rejected them.
    if status_ok {
        errors.extend(
            param_errors
                .into_iter()
                .map(|e| format!("{ctx}: accepted invalid {e}")),
        );
    } else if !param_errors.is_empty() && x.status != 400 {
        errors.push(format!(
            "{ctx}: invalid parameters answered {} instead of 400: {param_errors:?}",
            x.status
        ));
    }
    if status_ok {
        for (k, s) in &props {
            let opt = s.get("optional").and_then(Value::as_i64) == Some(1);
            if !opt && !k.ends_with("[n]") && !x.params.contains_key(k) && k != "password" {
                errors.push(format!(
                    "{ctx}: required parameter '{k}' missing but accepted"
                ));
            }
        }
    }
    // Response envelope.
    match x.status {
        200 => {
            let Some(obj) = x.body.as_object() else {
                errors.push(format!("{ctx}: 200 without a JSON object body"));
                return errors;
            };
            let data = obj.get("data").unwrap_or(&Value::Null);
            let mut errs = Vec::new();
            check_value("data", data, &info["returns"], &mut errs);
            errors.extend(errs.into_iter().map(|e| format!("{ctx}: {e}")));
        }
        // Authentication failures before the handler have an empty body;
        // the login handler's own 401 has the normal error body.
        401 if x.body.is_null() => {}
        _ => {
            let ok = x.body.get("data").is_some_and(Value::is_null)
                && x.body
                    .get("message")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.ends_with('\n'))
                && x.body.get("errors").is_none_or(Value::is_object);
            if !ok {
                errors.push(format!("{ctx}: error body has the wrong shape: {}", x.body));
            }
        }
    }
    errors
}

/// Records every exchange.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Exchange>>>);

impl Recorder {
    /// An observer feeding this recorder.
    pub fn observer(&self) -> Observer {
        let inner = self.0.clone();
        Arc::new(move |x: &Exchange| inner.lock().unwrap().push(x.clone()))
    }

    /// All exchanges so far.
    pub fn all(&self) -> Vec<Exchange> {
        self.0.lock().unwrap().clone()
    }

    /// Asserts every exchange so far satisfies the schema.
    pub fn assert_contract(&self) {
        let all = self.all();
        assert!(!all.is_empty(), "no exchanges recorded");
        let violations: Vec<String> = all.iter().flat_map(validate).collect();
        assert!(
            violations.is_empty(),
            "contract violations:\n{}",
            violations.join("\n")
        );
    }
}
