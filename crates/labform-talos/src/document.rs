//! An ordered YAML tree for machine configurations, with secret leaves.
//!
//! Keys keep the order they are written in (the order `talosctl gen config` writes them), and a
//! secret value is a leaf of its own kind: [`Value::render_exposed`] writes it (the configuration
//! a node receives), [`Value::render_for_review`] writes a placeholder naming it instead (what
//! `labform render` and snapshots show). One tree serves both, so the reviewed file and the
//! node's differ only in those leaves.

use labform_secrets::{ExposeSecret as _, SecretString};
use serde::ser::{SerializeMap as _, SerializeSeq as _};

/// A node of the tree.
#[derive(Clone)]
pub enum Value {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// A string.
    String(String),
    /// A secret string, with what it is (for the placeholder).
    Secret(SecretString, &'static str),
    /// A sequence.
    List(Vec<Value>),
    /// A mapping, in order.
    Map(Vec<(String, Value)>),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(value) => write!(formatter, "{value}"),
            Value::Integer(value) => write!(formatter, "{value}"),
            Value::String(value) => write!(formatter, "{value:?}"),
            Value::Secret(_, what) => write!(formatter, "<{what}>"),
            Value::List(items) => formatter.debug_list().entries(items).finish(),
            Value::Map(entries) => formatter
                .debug_map()
                .entries(entries.iter().map(|(key, value)| (key, value)))
                .finish(),
        }
    }
}

/// A mapping from `(key, value)` pairs.
pub fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

/// A string.
pub fn string(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

/// A list of strings.
pub fn strings<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Value::List(items.into_iter().map(|item| string(item)).collect())
}

/// A secret.
pub fn secret(value: &SecretString, what: &'static str) -> Value {
    Value::Secret(value.clone(), what)
}

impl Value {
    /// Appends `key: value` to a mapping (nothing for other values).
    pub fn push(&mut self, key: &str, value: Value) {
        if let Value::Map(entries) = self {
            entries.push((key.to_owned(), value));
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// The value under `key` of a mapping, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// The YAML of this document with secrets written out: what a node receives.
    pub fn render_exposed(&self) -> String {
        yaml(&View {
            value: self,
            expose: true,
        })
    }

    /// The YAML of this document with each secret replaced by a placeholder naming it.
    pub fn render_for_review(&self) -> String {
        yaml(&View {
            value: self,
            expose: false,
        })
    }

    /// The document as JSON with secrets written out (for schema checks and comparisons).
    pub fn to_json(&self, expose: bool) -> serde_json::Value {
        serde_json::to_value(View {
            value: self,
            expose,
        })
        .expect("a document is JSON")
    }
}

/// The placeholder of a secret in reviewed files.
pub fn placeholder(what: &str) -> String {
    format!("(secret: {what}, kept in labform's store)")
}

struct View<'a> {
    value: &'a Value,
    expose: bool,
}

impl serde::Serialize for View<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Bool(value) => serializer.serialize_bool(*value),
            Value::Integer(value) => serializer.serialize_i64(*value),
            Value::String(value) => serializer.serialize_str(value),
            Value::Secret(value, what) => {
                if self.expose {
                    serializer.serialize_str(value.expose_secret())
                } else {
                    serializer.serialize_str(&placeholder(what))
                }
            }
            Value::List(items) => {
                let mut sequence = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    sequence.serialize_element(&View {
                        value: item,
                        expose: self.expose,
                    })?;
                }
                sequence.end()
            }
            Value::Map(entries) => {
                let mut mapping = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    mapping.serialize_entry(
                        key,
                        &View {
                            value,
                            expose: self.expose,
                        },
                    )?;
                }
                mapping.end()
            }
        }
    }
}

fn yaml(view: &View<'_>) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    serde_saphyr::to_string_with_options(view, options).expect("a document serialises")
}
