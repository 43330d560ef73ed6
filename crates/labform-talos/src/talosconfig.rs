//! The talosconfig: how `talosctl` (and labform) reach a cluster's Talos API. One context per
//! cluster instance with its control planes as endpoints, every node, the OS CA and a client
//! certificate with the role `os:admin` signed by it. labform makes the client certificate once
//! per cluster and keeps the talosconfig in its store (`talosconfig/SCOPE/CLUSTER`);
//! `labform talosconfig` merges it into the user's file, leaving every other context alone.

use base64::Engine as _;
use labform_secrets::{ExposeSecret as _, InvalidSecretKey, SecretKey, SecretStore, SecretString};
use serde_json::{Map, Value};

use crate::error::TalosError;
use crate::secrets::{ADMIN_ROLE, SecretsBundle};

/// The secret-store key of cluster instance `cluster`'s talosconfig in scope `scope`.
pub fn talosconfig_store_key(scope: &str, cluster: &str) -> Result<SecretKey, InvalidSecretKey> {
    SecretKey::new(format!("talosconfig/{scope}/{cluster}"))
}

/// One cluster's talosconfig context.
#[derive(Clone)]
pub struct Talosconfig {
    /// The context's name (the cluster instance).
    pub context: String,
    /// The control planes' addresses.
    pub endpoints: Vec<String>,
    /// Every node's address.
    pub nodes: Vec<String>,
    /// The OS CA certificate, PEM.
    pub ca: String,
    /// The client certificate, PEM.
    pub certificate: String,
    /// The client key, PEM.
    pub key: SecretString,
}

impl std::fmt::Debug for Talosconfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Talosconfig")
            .field("context", &self.context)
            .field("endpoints", &self.endpoints)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

fn encode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

fn decode(value: &Value, what: &str, context: &str) -> Result<String, TalosError> {
    let damaged = || TalosError::DamagedBundle {
        cluster: context.to_owned(),
        reason: format!("its talosconfig's {what} is damaged"),
    };
    let text = value.as_str().ok_or_else(damaged)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| damaged())?;
    String::from_utf8(bytes).map_err(|_| damaged())
}

impl Talosconfig {
    /// The talosconfig of cluster instance `cluster`: the stored one (with `endpoints` and
    /// `nodes` brought up to date), or a new one whose client certificate `bundle`'s OS CA
    /// signs, stored.
    pub fn load_or_create(
        store: &SecretStore,
        scope: &str,
        cluster: &str,
        bundle: &SecretsBundle,
        endpoints: Vec<String>,
        nodes: Vec<String>,
    ) -> Result<Self, TalosError> {
        let key = talosconfig_store_key(scope, cluster)
            .map_err(labform_secrets::SecretStoreError::from)?;
        if let Some(stored) = store.get(&key)? {
            let mut config = Talosconfig::from_yaml(stored.expose_secret(), cluster)?;
            if config.ca == bundle.os_ca.certificate {
                if config.endpoints != endpoints || config.nodes != nodes {
                    config.endpoints = endpoints;
                    config.nodes = nodes;
                    store.put(&key, &config.to_yaml())?;
                }
                return Ok(config);
            }
        }
        let client = bundle.client_certificate(&[ADMIN_ROLE])?;
        let config = Talosconfig {
            context: cluster.to_owned(),
            endpoints,
            nodes,
            ca: bundle.os_ca.certificate.clone(),
            certificate: client.certificate,
            key: client.key,
        };
        store.put(&key, &config.to_yaml())?;
        Ok(config)
    }

    fn context_value(&self) -> Value {
        let mut context = Map::new();
        context.insert("endpoints".to_owned(), Value::from(self.endpoints.clone()));
        context.insert("nodes".to_owned(), Value::from(self.nodes.clone()));
        context.insert("ca".to_owned(), Value::from(encode(&self.ca)));
        context.insert("crt".to_owned(), Value::from(encode(&self.certificate)));
        context.insert(
            "key".to_owned(),
            Value::from(encode(self.key.expose_secret())),
        );
        Value::Object(context)
    }

    /// The talosconfig file of this one context (`talosctl`'s format).
    pub fn to_yaml(&self) -> SecretString {
        merge_talosconfig(None, self).expect("a new talosconfig merges")
    }

    /// Reads the context `context` of a talosconfig file.
    pub fn from_yaml(text: &str, context: &str) -> Result<Self, TalosError> {
        let damaged = |reason: &str| TalosError::DamagedBundle {
            cluster: context.to_owned(),
            reason: reason.to_owned(),
        };
        let document: Value =
            serde_saphyr::from_str(text).map_err(|_| damaged("its talosconfig is not YAML"))?;
        let entry = &document["contexts"][context];
        if !entry.is_object() {
            return Err(damaged("its talosconfig has no context for it"));
        }
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Talosconfig {
            context: context.to_owned(),
            endpoints: strings(&entry["endpoints"]),
            nodes: strings(&entry["nodes"]),
            ca: decode(&entry["ca"], "CA", context)?,
            certificate: decode(&entry["crt"], "certificate", context)?,
            key: SecretString::from(decode(&entry["key"], "key", context)?),
        })
    }
}

/// `existing` (a talosconfig file, if there is one) with `config`'s context added or replaced;
/// every other context stays, and the current context becomes `config`'s only when there was
/// none.
pub fn merge_talosconfig(
    existing: Option<&str>,
    config: &Talosconfig,
) -> Result<SecretString, TalosError> {
    let mut document = match existing {
        Some(text) if !text.trim().is_empty() => serde_saphyr::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| TalosError::DamagedBundle {
                cluster: config.context.clone(),
                reason: "the talosconfig to merge into is not a talosconfig".to_owned(),
            })?,
        _ => Value::Object(Map::new()),
    };
    let object = document.as_object_mut().expect("an object");
    if object
        .get("context")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        object.insert("context".to_owned(), Value::from(config.context.clone()));
    }
    let contexts = object
        .entry("contexts")
        .or_insert_with(|| Value::Object(Map::new()));
    if !contexts.is_object() {
        *contexts = Value::Object(Map::new());
    }
    contexts
        .as_object_mut()
        .expect("an object")
        .insert(config.context.clone(), config.context_value());
    let text = serde_saphyr::to_string(&document).map_err(|_| TalosError::Yaml {
        node: config.context.clone(),
        document: "talosconfig",
    })?;
    Ok(SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(context: &str) -> Talosconfig {
        Talosconfig {
            context: context.to_owned(),
            endpoints: vec!["10.0.0.10".to_owned()],
            nodes: vec!["10.0.0.10".to_owned(), "10.0.0.11".to_owned()],
            ca: "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n".to_owned(),
            certificate: "-----BEGIN CERTIFICATE-----\nQ1JU\n-----END CERTIFICATE-----\n"
                .to_owned(),
            key: SecretString::from(
                "-----BEGIN ED25519 PRIVATE KEY-----\nS0VZ\n-----END ED25519 PRIVATE KEY-----\n",
            ),
        }
    }

    #[test]
    fn merging_keeps_other_contexts_and_the_current_one() {
        let existing = "context: mine\ncontexts:\n  mine:\n    endpoints: [192.0.2.1]\n    ca: eA==\n    crt: eA==\n    key: eA==\n";
        let merged = merge_talosconfig(Some(existing), &config("talos")).expect("merge");
        let document: Value = serde_saphyr::from_str(merged.expose_secret()).expect("YAML");
        assert_eq!(document["context"], "mine");
        assert_eq!(document["contexts"]["mine"]["endpoints"][0], "192.0.2.1");
        let read = Talosconfig::from_yaml(merged.expose_secret(), "talos").expect("read back");
        assert_eq!(read.nodes, config("talos").nodes);
        assert_eq!(read.ca, config("talos").ca);
        assert_eq!(
            read.key.expose_secret(),
            config("talos").key.expose_secret()
        );
        // Merging again replaces the context in place.
        let again =
            merge_talosconfig(Some(merged.expose_secret()), &config("talos")).expect("merge");
        assert_eq!(again.expose_secret(), merged.expose_secret());
        // A new file takes the context as current.
        let fresh = merge_talosconfig(None, &config("talos")).expect("merge");
        assert!(fresh.expose_secret().starts_with("context: talos\n"));
        assert!(merge_talosconfig(Some("- a list"), &config("talos")).is_err());
        assert!(!format!("{:?}", config("talos")).contains("S0VZ"));
    }
}
