//! The simulator's route table agrees with Proxmox's API schema: every
//! served endpoint exists there, every accepted parameter has the schema's
//! name, type and required flag, and every schema parameter of a served
//! endpoint is accepted.

mod common;

use labform_simulator::routes::{Extra, ROUTES, Ty};
use serde_json::Value;

#[test]
fn route_table_matches_the_official_schema() {
    let mut problems = Vec::new();
    for route in ROUTES {
        let Some(info) = common::endpoint_info(route.template, route.method) else {
            problems.push(format!(
                "{} {} is not in the schema subset (add its path to tests/pve-api/extract.py and run it)",
                route.method, route.template
            ));
            continue;
        };
        let props = info["parameters"]["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let ctx = format!("{} {}", route.method, route.template);
        for p in route.params {
            let Some(s) = props.get(p.name) else {
                problems.push(format!(
                    "{ctx}: parameter '{}' is not in the schema",
                    p.name
                ));
                continue;
            };
            let ty = s.get("type").and_then(Value::as_str).unwrap_or("");
            let ok = match p.ty {
                Ty::Int(_) => ty == "integer",
                Ty::Bool => ty == "boolean",
                Ty::Str => ty == "string",
                Ty::Number => ty == "number",
                Ty::Array => ty == "array",
                Ty::Enum(vals) => {
                    let e: Vec<&str> = s
                        .get("enum")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    ty == "string" && e == vals
                }
            };
            if !ok {
                problems.push(format!(
                    "{ctx}: parameter '{}' has type {:?}, schema says {s}",
                    p.name, p.ty
                ));
            }
            let optional = s.get("optional").and_then(Value::as_i64) == Some(1);
            if optional == p.required {
                problems.push(format!(
                    "{ctx}: parameter '{}' required={} disagrees with the schema",
                    p.name, p.required
                ));
            }
        }
        for (k, s) in &props {
            let served = route.params.iter().any(|p| p.name == k)
                || (route.extra == Extra::VmConfig && {
                    let stem = k.trim_end_matches("[n]");
                    let wire = if k.ends_with("[n]") {
                        format!("{stem}0")
                    } else {
                        k.clone()
                    };
                    labform_simulator::sim::is_config_key(&wire)
                });
            if !served {
                problems.push(format!(
                    "{ctx}: schema parameter '{k}' ({}) is not accepted",
                    s["type"]
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
