//! The endpoint declarations (`labform_proxmox::endpoint`, from which the
//! client, the simulator's routing and the call counting derive) agree with
//! Proxmox's API schema: every declared endpoint exists there with its
//! method, every declared parameter has the schema's name, type (an integer's
//! minimum, a list's item format) and required flag, every schema parameter of a declared endpoint is accepted, token
//! access is the schema's `allowtoken`, and the declared privileges are the
//! schema's `permissions.check`; and the schema subset holds the declared
//! paths only (`tests/pve-api/extract.py` reads them from the declarations).

mod common;

use labform_proxmox::endpoint::{ALL, Extra, Privileges, Ty};
use serde_json::Value;

#[test]
fn declared_endpoints_match_the_official_schema() {
    let mut problems = Vec::new();
    for route in ALL {
        let Some(info) = common::endpoint_info(route.path, route.method.as_str()) else {
            problems.push(format!(
                "{} {} is not in the schema subset (run tests/pve-api/extract.py)",
                route.method, route.path
            ));
            continue;
        };
        let props = info["parameters"]["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let ctx = format!("{} {}", route.method, route.path);
        let allow_token = info.get("allowtoken").and_then(Value::as_i64) == Some(1);
        if allow_token != route.allow_token {
            problems.push(format!(
                "{ctx}: allow_token={} disagrees with the schema's allowtoken",
                route.allow_token
            ));
        }
        let check = &info["permissions"]["check"];
        let declared_right = match route.privileges {
            Privileges::Perm { path, any_of } => {
                let privileges: Vec<&str> = check[2]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let any = check.get(3).and_then(Value::as_str) == Some("any");
                check[0] == "perm"
                    && check[1] == path
                    && privileges == any_of
                    && (any || any_of.len() == 1)
            }
            Privileges::Handler => check.is_array() && check[0] != "perm",
            Privileges::Unchecked => check.is_null(),
        };
        if !declared_right {
            problems.push(format!(
                "{ctx}: privileges {:?} disagree with the schema's check {check}",
                route.privileges
            ));
        }
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
                Ty::Int(minimum) => {
                    // Proxmox's schema writes some minimums as strings ("0").
                    let schema_minimum = s.get("minimum").and_then(|m| {
                        m.as_i64()
                            .or_else(|| m.as_str().and_then(|text| text.parse().ok()))
                    });
                    ty == "integer" && minimum == schema_minimum
                }
                Ty::Bool => ty == "boolean",
                Ty::Str => ty == "string",
                Ty::Number => ty == "number",
                Ty::Array => ty == "array",
                Ty::List(format) => {
                    ty == "string"
                        && s.get("format").and_then(Value::as_str)
                            == Some(format!("{}-list", format.name()).as_str())
                }
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

#[test]
fn the_schema_subset_holds_the_declared_paths_only() {
    let subset: Value = serde_json::from_str(include_str!("pve-api/subset.json")).expect("JSON");
    let stale: Vec<&String> = subset["endpoints"]
        .as_object()
        .expect("endpoints")
        .keys()
        .filter(|path| !ALL.iter().any(|route| route.path == path.as_str()))
        .collect();
    assert!(
        stale.is_empty(),
        "paths in tests/pve-api/subset.json no endpoint declares (run tests/pve-api/extract.py): {stale:?}"
    );
}
