//! References to secrets. A lab file never holds a secret's value, only where to find it.
//!
//! Deserialising refuses an inline string with a message that does not repeat the string, so a
//! password pasted by mistake never reaches an error message, a log or a plan.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

/// The marker that starts every error message about an inline secret. The diagnostic renderer
/// recognises it and leaves the offending source line out of its output.
pub const INLINE_SECRET_MARKER: &str = "secret values are never written inline";

/// Where the value of a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// The value of an environment variable when labform runs: `{env: PVE_TOKEN}`.
    Env(String),
    /// The content of a file (trailing newline removed), relative to the lab file: `{file: secrets/token}`.
    File(PathBuf),
    /// A key in a HashiCorp Vault KV store: `{vault: {path: kv/data/lab, field: token}}`.
    Vault(VaultRef),
    /// A key in labform's age-encrypted secret store: `{store: pve-token}`.
    Store(String),
}

/// A key in a Vault KV engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultRef {
    /// Path of the secret, e.g. `kv/data/homelab`.
    pub path: String,
    /// The field of the secret to read.
    pub field: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
            SecretRef::Vault(vault) => write!(f, "vault:{}#{}", vault.path, vault.field),
            SecretRef::Store(key) => write!(f, "store:{key}"),
        }
    }
}

/// The shape serde derives for the reference form; the custom `Deserialize` below adds the
/// inline-string refusal on top of it.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum SecretRefShape {
    Env(String),
    File(PathBuf),
    Vault(VaultRef),
    Store(String),
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a secret reference such as {env: NAME} or {file: PATH}")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
                Err(inline_error())
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<SecretRef, E> {
                Err(inline_error())
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<SecretRef, E> {
                Err(inline_error())
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<SecretRef, E> {
                Err(inline_error())
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<SecretRef, E> {
                Err(inline_error())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretRef, A::Error> {
                let shape =
                    SecretRefShape::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(match shape {
                    SecretRefShape::Env(name) => SecretRef::Env(name),
                    SecretRefShape::File(path) => SecretRef::File(path),
                    SecretRefShape::Vault(vault) => SecretRef::Vault(vault),
                    SecretRefShape::Store(key) => SecretRef::Store(key),
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

fn inline_error<E: serde::de::Error>() -> E {
    E::custom(format!(
        "{INLINE_SECRET_MARKER}; reference the secret instead: {{env: VARIABLE}}, {{file: PATH}}, \
         {{vault: {{path: P, field: F}}}} or {{store: KEY}}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let env: SecretRef = serde_saphyr::from_str("env: PVE_TOKEN").unwrap();
        assert_eq!(env, SecretRef::Env("PVE_TOKEN".into()));
        let vault: SecretRef =
            serde_saphyr::from_str("vault: {path: kv/lab, field: token}").unwrap();
        assert_eq!(vault.to_string(), "vault:kv/lab#token");
    }

    #[test]
    fn inline_values_are_refused_without_echo() {
        let error = serde_saphyr::from_str::<SecretRef>("hunter2-secret").unwrap_err();
        let text = error.without_snippet().to_string();
        assert!(text.contains(INLINE_SECRET_MARKER), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
