//! A request's parameters to and from their wire form (the `name=value` pairs of a query string,
//! form body or multipart form), driven by the endpoint's declaration. The HTTPS client encodes
//! any serializable request with [`encode`]; the simulator decodes the parameters it checked
//! into the same request type with [`decode`], so one type per request serves both.
//!
//! The declaration decides each value's wire form and checks it ([`Ty::check`]): a boolean as
//! `0`/`1`, an integer in decimal, an array as one pair per item. A name the endpoint does not
//! declare is refused, except on an endpoint that takes any VM config key ([`Extra::VmConfig`]),
//! where undeclared strings pass through ([`extra_params`] gives them back). A path parameter is
//! refused in the parameters: it goes in the path. [`comma_list`] (de)serializes a list Proxmox
//! takes as one comma-separated string (`roles`, `delete`, vzdump's `vmid`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ARRAY_SEPARATOR, Endpoint, Extra, Ty};

/// Parameters as sent on the wire, in order (a repeated name for each item of an array).
pub type Params = Vec<(String, String)>;

/// Why a request does not fit its endpoint's declaration.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The request did not serialize to named parameters.
    #[error("{endpoint}: the request is not a set of named parameters")]
    NotNamed {
        /// `METHOD /path`.
        endpoint: String,
    },
    /// A parameter the endpoint does not declare.
    #[error("{endpoint}: parameter '{name}' is not declared for this endpoint")]
    Undeclared {
        /// `METHOD /path`.
        endpoint: String,
        /// The parameter.
        name: String,
    },
    /// A path parameter among the parameters.
    #[error("{endpoint}: parameter '{name}' belongs in the path")]
    InPath {
        /// `METHOD /path`.
        endpoint: String,
        /// The parameter.
        name: String,
    },
    /// A value that is not of the declared type.
    #[error("{endpoint}: parameter '{name}': {problem}")]
    Type {
        /// `METHOD /path`.
        endpoint: String,
        /// The parameter.
        name: String,
        /// What is wrong, as Proxmox says it.
        problem: String,
    },
    /// A required parameter is missing.
    #[error("{endpoint}: parameter '{name}' is required")]
    Missing {
        /// `METHOD /path`.
        endpoint: String,
        /// The parameter.
        name: String,
    },
    /// The request could not be serialized, or the parameters do not make the request type.
    #[error("{endpoint}: the parameters do not fit the request")]
    Serde {
        /// `METHOD /path`.
        endpoint: String,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
}

/// The wire parameters of `request` (a struct, a map or a JSON object; `null` for none) for
/// `endpoint`, checked against its declaration, in the request's order.
pub fn encode(endpoint: &Endpoint, request: &impl Serialize) -> Result<Params, FormError> {
    let serde = |source| FormError::Serde {
        endpoint: endpoint.key(),
        source,
    };
    let fields = match serde_json::to_value(request).map_err(serde)? {
        Value::Null => serde_json::Map::new(),
        Value::Object(fields) => fields,
        _ => {
            return Err(FormError::NotNamed {
                endpoint: endpoint.key(),
            });
        }
    };
    let mut params = Params::new();
    for (name, value) in &fields {
        // `null` is a parameter left out (an optional field that is `None`).
        if value.is_null() {
            continue;
        }
        let type_error = |problem: String| FormError::Type {
            endpoint: endpoint.key(),
            name: name.clone(),
            problem,
        };
        if endpoint.path_parameters().any(|path| path == name) {
            return Err(FormError::InPath {
                endpoint: endpoint.key(),
                name: name.clone(),
            });
        }
        let declared = endpoint.param(name);
        let values = match (value, declared.map(|param| param.ty)) {
            (Value::Array(items), Some(Ty::Array)) => items
                .iter()
                .map(|item| scalar(item).ok_or_else(|| type_error(format!("got {item}"))))
                .collect::<Result<Vec<_>, _>>()?,
            (value, _) => vec![scalar(value).ok_or_else(|| type_error(format!("got {value}")))?],
        };
        match declared {
            Some(param) => {
                for value in &values {
                    param.ty.check(value).map_err(type_error)?;
                }
            }
            None if endpoint.extra == Extra::VmConfig && value.is_string() => {}
            None => {
                return Err(FormError::Undeclared {
                    endpoint: endpoint.key(),
                    name: name.clone(),
                });
            }
        }
        params.extend(values.into_iter().map(|value| (name.clone(), value)));
    }
    let path: Vec<&str> = endpoint.path_parameters().collect();
    if let Some(missing) = endpoint.params.iter().find(|param| {
        param.required
            && !path.contains(&param.name)
            && fields.get(param.name).is_none_or(Value::is_null)
    }) {
        return Err(FormError::Missing {
            endpoint: endpoint.key(),
            name: missing.name.to_owned(),
        });
    }
    Ok(params)
}

/// A JSON scalar's wire form (a boolean as `0`/`1`); `None` for arrays and objects.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Bool(flag) => Some(if *flag { "1" } else { "0" }.to_owned()),
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

/// The request of type `T` the checked `params` of `endpoint` make (an array parameter's items
/// apart by [`ARRAY_SEPARATOR`]): each declared parameter as its declared type, undeclared ones
/// left out (see [`extra_params`]).
pub fn decode<T: DeserializeOwned>(
    endpoint: &Endpoint,
    params: &BTreeMap<String, String>,
) -> Result<T, FormError> {
    let mut fields = serde_json::Map::new();
    for (name, text) in params {
        let Some(param) = endpoint.param(name) else {
            continue;
        };
        let type_error = |problem: String| FormError::Type {
            endpoint: endpoint.key(),
            name: name.clone(),
            problem,
        };
        let value = match param.ty {
            Ty::Bool => Value::Bool(match text.as_str() {
                "1" => true,
                "0" => false,
                _ => {
                    return Err(type_error(format!(
                        "type check ('boolean') failed - got '{text}'"
                    )));
                }
            }),
            Ty::Int(_) => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| type_error(format!("type check ('integer') failed - got '{text}'")))?,
            Ty::Number => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| {
                    type_error(format!("type check ('number') failed - got '{text}'"))
                })?,
            Ty::Array => Value::Array(
                text.split(ARRAY_SEPARATOR)
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            ),
            Ty::Str | Ty::Enum(_) | Ty::List(_) => Value::String(text.clone()),
        };
        fields.insert(name.clone(), value);
    }
    serde_json::from_value(Value::Object(fields)).map_err(|source| FormError::Serde {
        endpoint: endpoint.key(),
        source,
    })
}

/// The parameters `endpoint` does not declare: on an endpoint that takes any VM config key,
/// the VM config keys given.
pub fn extra_params(
    endpoint: &Endpoint,
    params: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(name, _)| endpoint.param(name).is_none())
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// A list Proxmox takes as one string, its items apart by commas (`roles=Admin,Auditor`), for
/// `#[serde(with = "comma_list")]`: written with commas, read split at commas, semicolons or
/// white space (as Proxmox's `-list` formats are).
pub mod comma_list {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    /// The items joined by commas.
    pub fn serialize<S: Serializer, T: Display>(
        items: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let joined: Vec<String> = items.iter().map(ToString::to_string).collect();
        serializer.serialize_str(&joined.join(","))
    }

    /// The items of a string as Proxmox splits a list ([`crate::endpoint::split_list`]).
    pub fn deserialize<'de, D: Deserializer<'de>, T: FromStr>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error>
    where
        T::Err: Display,
    {
        let text = String::deserialize(deserializer)?;
        crate::endpoint::split_list(&text)
            .into_iter()
            .map(|item| item.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

/// A list Proxmox takes as one string that may be left out, for
/// `#[serde(default, with = "optional_comma_list")]`: like [`comma_list`], but an empty string
/// is an empty list and an absent one `None` (Proxmox tells them apart: `statusfilter=` lists no
/// task at all).
pub mod optional_comma_list {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserializer, Serializer};

    /// The items joined by commas; `None` as nothing.
    pub fn serialize<S: Serializer, T: Display>(
        items: &Option<Vec<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match items {
            Some(items) => super::comma_list::serialize(items, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// The items of the string, if there is one.
    pub fn deserialize<'de, D: Deserializer<'de>, T: FromStr>(
        deserializer: D,
    ) -> Result<Option<Vec<T>>, D::Error>
    where
        T::Err: Display,
    {
        super::comma_list::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{access, agent, qemu};
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Acl {
        path: String,
        #[serde(with = "comma_list")]
        roles: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        delete: bool,
        #[serde(default)]
        propagate: Option<bool>,
    }

    #[test]
    fn a_request_goes_to_the_wire_and_back() {
        let acl = Acl {
            path: "/vms/100".into(),
            roles: vec!["PVEVMUser".into(), "PVEAuditor".into()],
            delete: true,
            propagate: Some(false),
        };
        let params = encode(&access::UPDATE_ACL, &acl).unwrap();
        assert_eq!(
            params,
            [
                ("delete", "1"),
                ("path", "/vms/100"),
                ("propagate", "0"),
                ("roles", "PVEVMUser,PVEAuditor"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
        let map: BTreeMap<String, String> = params.into_iter().collect();
        assert_eq!(decode::<Acl>(&access::UPDATE_ACL, &map).unwrap(), acl);
    }

    #[test]
    fn the_declaration_refuses_what_it_does_not_declare() {
        let undeclared = serde_json::json!({"path": "/", "roles": "Admin", "colour": "red"});
        assert!(matches!(
            encode(&access::UPDATE_ACL, &undeclared),
            Err(FormError::Undeclared { name, .. }) if name == "colour"
        ));
        let not_a_boolean = serde_json::json!({"path": "/", "roles": "Admin", "delete": "yes"});
        let error = encode(&access::UPDATE_ACL, &not_a_boolean).unwrap_err();
        assert_eq!(
            error.to_string(),
            "PUT /access/acl: parameter 'delete': type check ('boolean') failed - got 'yes'"
        );
        let missing = serde_json::json!({"path": "/"});
        assert!(matches!(
            encode(&access::UPDATE_ACL, &missing),
            Err(FormError::Missing { name, .. }) if name == "roles"
        ));
        let in_path = serde_json::json!({"vmid": 100, "newid": 101});
        assert!(matches!(
            encode(&qemu::CLONE, &in_path),
            Err(FormError::InPath { name, .. }) if name == "vmid"
        ));
        let left_out = serde_json::json!({"vmid": null, "newid": 101});
        assert!(encode(&qemu::CLONE, &left_out).is_ok());
        let null_required = serde_json::json!({"path": "/", "roles": null});
        assert!(matches!(
            encode(&access::UPDATE_ACL, &null_required),
            Err(FormError::Missing { name, .. }) if name == "roles"
        ));
        let low = serde_json::json!({"newid": 99});
        assert!(encode(&qemu::CLONE, &low).is_err());
    }

    #[test]
    fn arrays_repeat_and_vm_config_keys_pass() {
        let exec = serde_json::json!({"command": ["uname", "-a"]});
        assert_eq!(
            encode(&agent::EXEC, &exec).unwrap(),
            [("command", "uname"), ("command", "-a")]
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
        let map = BTreeMap::from([("command".to_owned(), format!("uname{ARRAY_SEPARATOR}-a"))]);
        let decoded: serde_json::Value = decode(&agent::EXEC, &map).unwrap();
        assert_eq!(decoded, exec);
        let create = serde_json::json!({"vmid": 100, "memory": "2048", "start": true});
        let params = encode(&qemu::CREATE_VM, &create).unwrap();
        let map: BTreeMap<String, String> = params.into_iter().collect();
        assert_eq!(
            extra_params(&qemu::CREATE_VM, &map),
            BTreeMap::from([("memory".to_owned(), "2048".to_owned())])
        );
        assert!(
            encode(
                &qemu::CREATE_VM,
                &serde_json::json!({"vmid": 100, "memory": 2048})
            )
            .is_err()
        );
    }
}
