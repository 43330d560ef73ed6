//! The secrets of a kubeadm cluster, made by labform and kept in its secret store: the cluster
//! CA (certificate and key), the bootstrap token nodes join with, and the certificate key that
//! encrypts the control-plane certificates kubeadm shares between control planes. Because labform
//! makes the CA, the discovery hash (`sha256:` of the CA's SubjectPublicKeyInfo) is known before
//! any node exists, so joins verify the control plane with `caCertHashes` and nothing is trusted
//! on first use.

use labform_secrets::{
    ExposeSecret as _, SecretKey, SecretStore, SecretStoreError, SecretString, generate_token,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData as _,
};
use sha2::{Digest as _, Sha256};

use crate::error::KubeadmError;

/// The store keys of one cluster's secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeys {
    /// The CA certificate (PEM; public, kept beside its key).
    pub ca_certificate: String,
    /// The CA key (PEM).
    pub ca_key: String,
    /// The bootstrap token (`abcdef.0123456789abcdef`).
    pub bootstrap_token: String,
    /// The certificate key (64 hexadecimal characters).
    pub certificate_key: String,
}

/// Where the secrets of cluster instance `cluster` in scope `scope` are kept.
pub fn secret_keys(scope: &str, cluster: &str) -> SecretKeys {
    let prefix = format!("kubeadm/{scope}/{cluster}");
    SecretKeys {
        ca_certificate: format!("{prefix}/ca.crt"),
        ca_key: format!("{prefix}/ca.key"),
        bootstrap_token: format!("{prefix}/bootstrap-token"),
        certificate_key: format!("{prefix}/certificate-key"),
    }
}

/// A cluster's secrets as the node configurations need them.
pub struct ClusterSecrets {
    /// The CA certificate, PEM.
    pub ca_certificate: String,
    /// The CA key, PEM.
    pub ca_key: SecretString,
    /// The bootstrap token.
    pub bootstrap_token: SecretString,
    /// The certificate key.
    pub certificate_key: SecretString,
    /// `sha256:` and the hexadecimal SHA-256 of the CA's SubjectPublicKeyInfo.
    pub discovery_hash: String,
}

impl std::fmt::Debug for ClusterSecrets {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClusterSecrets")
            .field("discovery_hash", &self.discovery_hash)
            .finish_non_exhaustive()
    }
}

/// A bootstrap token from 11 random bytes: 6 and 16 lowercase hexadecimal characters, the shape
/// kubeadm requires (`[a-z0-9]{6}\.[a-z0-9]{16}`).
fn new_bootstrap_token() -> Result<SecretString, SecretStoreError> {
    let identifier = generate_token(3)?;
    let secret = generate_token(8)?;
    Ok(SecretString::from(format!(
        "{}.{}",
        identifier.expose_secret(),
        secret.expose_secret()
    )))
}

/// Makes a cluster CA: an ECDSA P-256 key and a self-signed CA certificate with the common name
/// `kubernetes`, as kubeadm's own CA is named. Returns (certificate PEM, key PEM).
pub fn make_ca(cluster: &str) -> Result<(String, SecretString), KubeadmError> {
    let failed = |error: rcgen::Error| KubeadmError::Certificate {
        cluster: cluster.to_owned(),
        detail: error.to_string(),
    };
    let key = KeyPair::generate().map_err(failed)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kubernetes");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::CrlSign,
    ];
    let certificate = params.self_signed(&key).map_err(failed)?;
    Ok((certificate.pem(), SecretString::from(key.serialize_pem())))
}

/// The discovery hash of the CA whose key is `key_pem`: `sha256:` and the hexadecimal SHA-256 of
/// its SubjectPublicKeyInfo, as `kubeadm join --discovery-token-ca-cert-hash` takes it.
pub fn discovery_hash(cluster: &str, key_pem: &SecretString) -> Result<String, KubeadmError> {
    let key = KeyPair::from_pem(key_pem.expose_secret()).map_err(|error| KubeadmError::Store {
        cluster: cluster.to_owned(),
        detail: format!("the cluster CA key is not a key labform can read ({error})"),
    })?;
    let digest = Sha256::digest(key.subject_public_key_info());
    let mut text = String::from("sha256:");
    for byte in digest {
        text.push_str(&format!("{byte:02x}"));
    }
    Ok(text)
}

/// The secrets of cluster instance `cluster` in scope `scope`: read from `store`, or made and
/// stored on first use, so every later run and every node uses the same ones.
pub fn cluster_secrets(
    store: &SecretStore,
    scope: &str,
    cluster: &str,
) -> Result<ClusterSecrets, KubeadmError> {
    let keys = secret_keys(scope, cluster);
    let store_failed = |error: String| KubeadmError::Store {
        cluster: cluster.to_owned(),
        detail: error,
    };
    let key = |text: &str| {
        SecretKey::new(text.to_owned()).map_err(|error| store_failed(error.to_string()))
    };
    let certificate_key = key(&keys.ca_certificate)?;
    let private_key = key(&keys.ca_key)?;
    let stored_certificate = store
        .get(&certificate_key)
        .map_err(|error| store_failed(error.to_string()))?;
    let stored_key = store
        .get(&private_key)
        .map_err(|error| store_failed(error.to_string()))?;
    let (ca_certificate, ca_key) = match (stored_certificate, stored_key) {
        (Some(certificate), Some(private)) => (certificate.expose_secret().to_owned(), private),
        (None, None) => {
            let (certificate, private) = make_ca(cluster)?;
            store
                .put(&private_key, &private)
                .map_err(|error| store_failed(error.to_string()))?;
            store
                .put(&certificate_key, &SecretString::from(certificate.clone()))
                .map_err(|error| store_failed(error.to_string()))?;
            (certificate, private)
        }
        _ => {
            return Err(store_failed(format!(
                "it holds only one of {} and {}; labform will not make a second CA for a cluster that may run on the first\n  hint: restore the missing entry, or `labform reset` the cluster and remove both",
                keys.ca_certificate, keys.ca_key
            )));
        }
    };
    let bootstrap_token = store
        .get_or_create(&key(&keys.bootstrap_token)?, new_bootstrap_token)
        .map_err(|error| store_failed(error.to_string()))?;
    let join_key = store
        .get_or_create(&key(&keys.certificate_key)?, || generate_token(32))
        .map_err(|error| store_failed(error.to_string()))?;
    let discovery_hash = discovery_hash(cluster, &ca_key)?;
    Ok(ClusterSecrets {
        ca_certificate,
        ca_key,
        bootstrap_token,
        certificate_key: join_key,
        discovery_hash,
    })
}
