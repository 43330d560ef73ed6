//! Talos versions and the machine-configuration contract each one reads.
//!
//! The shape of a machine configuration changed twice in the releases labform knows: Talos 1.12
//! moved the network settings out of `machine.network` into documents of their own
//! (`HostnameConfig`, `LinkConfig`, `Layer2VIPConfig`, `ResolverConfig`), and Talos 1.14 moved
//! most of `machine` and `cluster` into documents as well (`KubeNodeConfig`,
//! `KubeNetworkConfig`, the CA documents, ...). [`Contract`] names the three shapes.

use std::fmt;

use crate::error::TalosError;

/// A Talos release, `vMAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TalosVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl TalosVersion {
    /// Parses `v1.13.9` (the `v` is optional).
    pub fn parse(text: &str) -> Result<Self, TalosError> {
        let invalid = || TalosError::InvalidVersion {
            version: text.to_owned(),
        };
        let core = text.strip_prefix('v').unwrap_or(text);
        let mut parts = core.split('.');
        let mut number = || -> Result<u32, TalosError> {
            parts
                .next()
                .filter(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|part| part.parse().ok())
                .ok_or_else(invalid)
        };
        let version = TalosVersion {
            major: number()?,
            minor: number()?,
            patch: number()?,
        };
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(version)
    }

    /// The machine-configuration contract of this release.
    pub fn contract(self) -> Contract {
        match (self.major, self.minor) {
            (1, minor) if minor >= 14 => Contract::Documents,
            (major, _) if major > 1 => Contract::Documents,
            (1, minor) if minor >= 12 => Contract::NetworkDocuments,
            _ => Contract::Legacy,
        }
    }
}

impl fmt::Display for TalosVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The shape of a machine configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// Up to Talos 1.11: one `v1alpha1` document, the network under `machine.network`.
    Legacy,
    /// Talos 1.12 and 1.13: the `v1alpha1` document and the network documents.
    NetworkDocuments,
    /// Talos 1.14 on: a small `v1alpha1` document and one document per concern.
    Documents,
}

impl Contract {
    /// The published JSON Schema this shape is checked against: Talos 1.13's for the first two
    /// (the oldest labform has), Talos 1.14's for the last.
    pub fn schema_release(self) -> &'static str {
        match self {
            Contract::Legacy | Contract::NetworkDocuments => "v1.13",
            Contract::Documents => "v1.14",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_contracts() {
        let version = TalosVersion::parse("v1.8.3").expect("valid");
        assert_eq!(version.to_string(), "v1.8.3");
        assert_eq!(version.contract(), Contract::Legacy);
        assert_eq!(
            TalosVersion::parse("v1.12.0").expect("valid").contract(),
            Contract::NetworkDocuments
        );
        assert_eq!(
            TalosVersion::parse("1.13.9").expect("valid").contract(),
            Contract::NetworkDocuments
        );
        assert_eq!(
            TalosVersion::parse("v1.14.0").expect("valid").contract(),
            Contract::Documents
        );
        for invalid in ["", "v1.8", "v1.8.3.1", "v1.x.3", "v1.8.3+k3s1"] {
            assert!(TalosVersion::parse(invalid).is_err(), "{invalid}");
        }
    }
}
