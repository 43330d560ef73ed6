//! Which kubeadm configuration API a Kubernetes version reads, and which upgrades kubeadm
//! allows: `kubeadm.k8s.io/v1beta2` up to 1.21, `v1beta3` from 1.22, `v1beta4` from 1.31; one
//! minor version at a time.

use crate::error::KubeadmError;

/// A kubeadm configuration API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigApi {
    /// `kubeadm.k8s.io/v1beta2` (kubeadm 1.15 to 1.21 read it; 1.20 and 1.21 read only it).
    V1beta2,
    /// `kubeadm.k8s.io/v1beta3` (1.22 to 1.30).
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4` (1.31 and later).
    V1beta4,
}

impl ConfigApi {
    /// The `apiVersion` of its documents.
    pub fn api_version(self) -> &'static str {
        match self {
            ConfigApi::V1beta2 => "kubeadm.k8s.io/v1beta2",
            ConfigApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            ConfigApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

/// A Kubernetes release version (`v1.29.6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubernetesVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl KubernetesVersion {
    /// Reads `v1.29.6` (the `v` is required, as kubeadm's `kubernetesVersion` writes it).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix('v')?;
        let mut parts = rest.split('.');
        let mut number = || -> Option<u32> {
            let part = parts.next()?;
            if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let version = KubernetesVersion {
            major: number()?,
            minor: number()?,
            patch: number()?,
        };
        parts.next().is_none().then_some(version)
    }

    /// The configuration API this version's kubeadm reads.
    pub fn config_api(self) -> ConfigApi {
        match self.minor {
            ..=21 => ConfigApi::V1beta2,
            22..=30 => ConfigApi::V1beta3,
            _ => ConfigApi::V1beta4,
        }
    }

    /// `v1.29` (pkgs.k8s.io's repositories are per minor version).
    pub fn minor_text(self) -> String {
        format!("v{}.{}", self.major, self.minor)
    }
}

impl std::fmt::Display for KubernetesVersion {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The planned `version` of cluster `cluster`, read; kubeadm clusters start at v1.20.
pub fn planned_version(cluster: &str, version: &str) -> Result<KubernetesVersion, KubeadmError> {
    let refused = |detail: &str| KubeadmError::Version {
        cluster: cluster.to_owned(),
        version: version.to_owned(),
        detail: detail.to_owned(),
    };
    let parsed = KubernetesVersion::parse(version)
        .ok_or_else(|| refused("not a Kubernetes release version like v1.29.6"))?;
    if parsed.major != 1 || parsed.minor < 20 {
        return Err(refused(
            "labform writes kubeadm configurations for Kubernetes v1.20 and later",
        ));
    }
    Ok(parsed)
}

/// Checks that a cluster running `from` may be upgraded to `to`: the same minor (a patch
/// release, either way but never down a minor) or the next one. kubeadm refuses to skip a minor
/// version, and so does labform, before touching a node.
pub fn check_upgrade(
    cluster: &str,
    from: KubernetesVersion,
    to: KubernetesVersion,
) -> Result<(), KubeadmError> {
    if to.major == from.major && (to.minor == from.minor || to.minor == from.minor + 1) {
        return Ok(());
    }
    if to.major == from.major && to.minor < from.minor {
        return Err(KubeadmError::Unsupported {
            cluster: cluster.to_owned(),
            detail: format!(
                "the cluster runs {from} and the lab asks for {to}: kubeadm does not downgrade a cluster\n  hint: set the version back to {from} (or later), or reset the cluster and apply it anew"
            ),
        });
    }
    Err(KubeadmError::UpgradeJump {
        cluster: cluster.to_owned(),
        from: from.to_string(),
        to: to.to_string(),
        next: format!("v{}.{}.x", from.major, from.minor + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> KubernetesVersion {
        KubernetesVersion::parse(text).expect("a version")
    }

    #[test]
    fn config_api_by_minor_version() {
        assert_eq!(version("v1.20.2").config_api(), ConfigApi::V1beta2);
        assert_eq!(version("v1.21.14").config_api(), ConfigApi::V1beta2);
        assert_eq!(version("v1.22.0").config_api(), ConfigApi::V1beta3);
        assert_eq!(version("v1.29.6").config_api(), ConfigApi::V1beta3);
        assert_eq!(version("v1.30.9").config_api(), ConfigApi::V1beta3);
        assert_eq!(version("v1.31.0").config_api(), ConfigApi::V1beta4);
        assert_eq!(version("v1.33.1").config_api(), ConfigApi::V1beta4);
    }

    #[test]
    fn versions_that_are_not_releases_are_refused() {
        for text in [
            "1.29.6",
            "v1.29",
            "v1.29.6.1",
            "v1.29.x",
            "v1..6",
            "v1.29.6+k3s1",
        ] {
            assert_eq!(KubernetesVersion::parse(text), None, "{text}");
        }
        assert!(planned_version("k8s", "v1.19.16").is_err());
        assert!(planned_version("k8s", "v1.20.2").is_ok());
    }

    #[test]
    fn upgrades_go_one_minor_at_a_time() {
        assert!(check_upgrade("k8s", version("v1.29.6"), version("v1.29.9")).is_ok());
        assert!(check_upgrade("k8s", version("v1.29.6"), version("v1.30.2")).is_ok());
        let jump = check_upgrade("k8s", version("v1.29.6"), version("v1.31.0"))
            .expect_err("two minors")
            .to_string();
        assert_eq!(
            jump,
            "cluster k8s: cannot upgrade from v1.29.6 to v1.31.0: kubeadm upgrades one minor version at a time\n  hint: set the cluster's version to v1.30.x first, apply, then go on to v1.31.0"
        );
        assert!(check_upgrade("k8s", version("v1.30.2"), version("v1.29.6")).is_err());
    }
}
