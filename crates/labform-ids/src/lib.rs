//! Identifier newtypes shared by every labform crate.
//!
//! A bare `u32` or `String` says nothing about what it identifies; these types do, so a node name
//! cannot be passed where a storage name is expected. They carry no behaviour beyond parsing,
//! validation of their lexical form and display.
//!
//! [`secret::SecretRef`] lives here too: a reference names where a secret is kept, never its
//! value, and every layer (the lab file, the plan, the node and cluster layers) passes it along
//! without depending on the lab file's crate. So does [`size::ByteSize`], the byte sizes people
//! write (`4GiB`), which the lab file and the add-ons' options share.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod cluster;
pub mod secret;
pub mod size;
pub use secret::SecretRef;

/// A Proxmox VE guest ID (`vmid`): an integer from 100 to 999,999,999 inclusive.
///
/// Proxmox reserves IDs below 100; `/cluster/nextid` never hands them out and the API rejects them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(try_from = "u32", into = "u32")]
pub struct VmId(u32);

impl VmId {
    /// The smallest guest ID Proxmox accepts.
    pub const MIN: u32 = 100;
    /// The largest guest ID Proxmox accepts.
    pub const MAX: u32 = 999_999_999;

    /// Makes a VM ID, refusing values Proxmox would refuse.
    pub fn new(value: u32) -> Result<Self, InvalidVmId> {
        if (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidVmId(value))
        }
    }

    /// The numeric value, as Proxmox writes it.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for VmId {
    type Error = InvalidVmId;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<VmId> for u32 {
    fn from(id: VmId) -> u32 {
        id.0
    }
}

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for VmId {
    type Err = InvalidVmId;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value: u32 = text.trim().parse().map_err(|_| InvalidVmId(0))?;
        Self::new(value)
    }
}

/// A value that is not a valid Proxmox guest ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a valid VM ID: Proxmox accepts 100 to 999999999")]
pub struct InvalidVmId(pub u32);

/// Declares a string newtype with `Display`, `AsRef<str>`, serde and JSON Schema support.
macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            schemars::JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name without checking it; validation of lab files happens in the model.
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self(name.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self(name)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name_type!(
    /// The name of a Proxmox VE node (a physical host in a Proxmox cluster), e.g. `pve1`.
    NodeName
);
name_type!(
    /// The ID of a Proxmox storage, e.g. `local-lvm`.
    StorageName
);
name_type!(
    /// The name of a Proxmox VE endpoint declared in a lab file (one Proxmox cluster's API).
    EndpointName
);
name_type!(
    /// The name of a Kubernetes cluster declared in a lab file.
    ClusterName
);
name_type!(
    /// The name of a Proxmox resource pool.
    PoolName
);

/// Whether `name` is a DNS label as RFC 1123 defines it: 1 to 63 characters of lowercase ASCII
/// letters, digits and `-`, not starting or ending with `-`.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Whether `name` has the shape of an official Talos system extension's name as Image Factory
/// lists it (`siderolabs/iscsi-tools`): an owner and a name, each of lowercase ASCII letters,
/// digits, `-`, `_` and `.`.
pub fn is_extension_name(name: &str) -> bool {
    name.split_once('/').is_some_and(|(owner, extension)| {
        [owner, extension].iter().all(|part| {
            !part.is_empty()
                && part.bytes().all(|byte| {
                    byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"-_.".contains(&byte)
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_names_are_owner_slash_name_in_lower_case() {
        for valid in [
            "siderolabs/qemu-guest-agent",
            "siderolabs/util-linux-tools",
            "a/b.c_d",
        ] {
            assert!(is_extension_name(valid), "{valid}");
        }
        for invalid in [
            "qemu-guest-agent",
            "siderolabs/",
            "/x",
            "Siderolabs/x",
            "a/b: c",
            "a/b/c",
        ] {
            assert!(!is_extension_name(invalid), "{invalid}");
        }
    }

    #[test]
    fn names_display_as_their_text_and_honour_width() {
        let node = NodeName::from("pve");
        assert_eq!(format!("[{node:<6}]"), "[pve   ]");
        assert_eq!(node, "pve");
        assert_eq!(serde_json::to_string(&node).unwrap(), "\"pve\"");
    }

    #[test]
    fn vm_id_bounds_follow_proxmox() {
        assert!(VmId::new(99).is_err());
        assert_eq!(VmId::new(100).unwrap().get(), 100);
        assert!(VmId::new(999_999_999).is_ok());
        assert!(VmId::new(1_000_000_000).is_err());
        assert_eq!("  4242 ".parse::<VmId>().unwrap().get(), 4242);
        assert!("abc".parse::<VmId>().is_err());
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("k3s-main-0"));
        assert!(!is_dns_label("K3s"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(!is_dns_label("a_b"));
    }
}
