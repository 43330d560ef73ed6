//! labform's secret store: values kept by key, each encrypted with age to an x25519 identity that
//! lives next to them in the user's data directory.
//!
//! The identity file is created on first use with mode 0600 (its directory 0700) and refused when
//! anyone but its owner may read it. Values are age files (`secrets/<key>.age`, mode 0600), written
//! atomically, so the store can be read with the `age` command-line tool and the identity file if
//! labform is gone. In memory, values are [`SecretString`]s: zeroed when dropped, redacted by
//! `Debug`. No error message and no `Debug` output of this crate contains a value.

mod key;
mod store;

pub use key::{InvalidSecretKey, SecretKey};
pub use secrecy::{ExposeSecret, SecretString};
pub use store::{SecretStore, SecretStoreError, generate_token};
