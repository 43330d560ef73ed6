//! Secret keys: the names values are stored under, such as `k3s-token/home` or
//! `host-key/home-server-1`. A key becomes a path inside the store, so its shape is checked.

use std::fmt;

/// The name of a value in the store: one or more segments of ASCII letters, digits, `.`, `_` and
/// `-`, separated by `/`; no segment is `.` or `..` or starts with `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretKey(String);

/// A string that is not a valid [`SecretKey`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{key}` is not a valid secret key: use segments of letters, digits, `.`, `_` and `-` separated by `/`, none starting with `.`"
)]
pub struct InvalidSecretKey {
    /// The refused key (a key is a name, never a value).
    pub key: String,
}

/// Longest key accepted.
const MAXIMUM_LENGTH: usize = 200;

impl SecretKey {
    /// Checks and wraps `key`.
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidSecretKey> {
        let key = key.into();
        let valid = !key.is_empty()
            && key.len() <= MAXIMUM_LENGTH
            && key.split('/').all(|segment| {
                !segment.is_empty()
                    && !segment.starts_with('.')
                    && segment
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte))
            });
        if valid {
            Ok(SecretKey(key))
        } else {
            Err(InvalidSecretKey { key })
        }
    }

    /// The key as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::str::FromStr for SecretKey {
    type Err = InvalidSecretKey;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        SecretKey::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::SecretKey;

    #[test]
    fn accepts_names_with_segments() {
        for key in ["k3s-token/home", "host-key/home-server-1", "a", "A.b_c-9/x"] {
            assert_eq!(SecretKey::new(key).expect(key).as_str(), key);
        }
    }

    #[test]
    fn refuses_paths_that_leave_the_store() {
        for key in [
            "",
            "/abs",
            "trailing/",
            "a//b",
            "..",
            "a/../b",
            ".hidden",
            "a/.b",
            "space here",
            "back\\slash",
            "ü",
        ] {
            assert!(SecretKey::new(key).is_err(), "{key:?} must be refused");
        }
        assert!(SecretKey::new("x".repeat(201)).is_err());
    }
}
