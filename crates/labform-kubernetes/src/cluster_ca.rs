//! Each K3s cluster's server CA, made by labform, and K3s's secure join token that carries its
//! hash, so no node trusts the first server it reaches.
//!
//! K3s uses a CA it finds in `/var/lib/rancher/k3s/server/tls/` when it starts for the first
//! time instead of generating one (its "custom CA certificates": each CA it needs is made only
//! when its files are missing). labform generates the server CA once per cluster instance,
//! keeps certificate and key together in its secret store, and places both on the first server
//! before K3s starts.
//!
//! The joining nodes get the token in K3s's secure format, `K10<hash>::server:<secret>`. A
//! joining node fetches `/cacerts` (the server CA file) from the address it joins, and K3s
//! (`pkg/clientaccess/token.go`, `hashCA`) compares the hash: for a file holding one
//! certificate, the SHA-256 of the file's bytes as served, which are the bytes labform placed;
//! K3s refuses to join on a mismatch. The first server keeps the bare secret.

use labform_secrets::{
    ExposeSecret as _, InvalidSecretKey, SecretKey, SecretStore, SecretStoreError, SecretString,
};
use sha2::{Digest as _, Sha256};

/// Where K3s reads its server CA certificate.
pub const SERVER_CA_CERT_FILE: &str = "/var/lib/rancher/k3s/server/tls/server-ca.crt";

/// Where K3s reads its server CA key.
pub const SERVER_CA_KEY_FILE: &str = "/var/lib/rancher/k3s/server/tls/server-ca.key";

/// Why a cluster's CA could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ClusterCaError {
    /// The store key could not be built from the scope and cluster.
    #[error(transparent)]
    Key(#[from] InvalidSecretKey),
    /// The secret store failed.
    #[error(transparent)]
    Store(#[from] SecretStoreError),
    /// The certificate could not be generated.
    #[error("cannot generate the server CA of cluster {cluster}: {detail}")]
    Generate {
        /// The cluster instance.
        cluster: String,
        /// What failed.
        detail: String,
    },
    /// What the store holds is not a certificate and a key.
    #[error(
        "the stored server CA of cluster {cluster} is damaged: remove `{key}` from labform's secret store and reset the cluster"
    )]
    Damaged {
        /// The cluster instance.
        cluster: String,
        /// The store key.
        key: String,
    },
}

/// A cluster's server CA: the certificate (public) and its key (secret).
pub struct ClusterCa {
    /// The certificate, PEM, exactly as placed on the first server.
    pub certificate_pem: String,
    /// The private key, PEM.
    pub key_pem: SecretString,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClusterCa")
            .field("certificate_pem", &self.certificate_pem)
            .finish_non_exhaustive()
    }
}

impl ClusterCa {
    /// The CA hash K3s puts in a secure token: the SHA-256 of the certificate file, in hex.
    pub fn hash(&self) -> String {
        Sha256::digest(self.certificate_pem.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// The secret-store key of cluster instance `cluster`'s server CA in lab scope `scope`.
pub fn ca_store_key(scope: &str, cluster: &str) -> Result<SecretKey, InvalidSecretKey> {
    SecretKey::new(format!("k3s-ca/{scope}/{cluster}"))
}

/// The server CA of cluster instance `cluster`: read from `store`, or generated (ECDSA P-256,
/// self-signed, `CA:TRUE`) and stored on first use.
pub fn cluster_ca(
    store: &SecretStore,
    scope: &str,
    cluster: &str,
) -> Result<ClusterCa, ClusterCaError> {
    let key = ca_store_key(scope, cluster)?;
    if let Some(stored) = store.get(&key)? {
        return split(stored.expose_secret()).ok_or_else(|| ClusterCaError::Damaged {
            cluster: cluster.to_owned(),
            key: key.as_str().to_owned(),
        });
    }
    let generated = generate(cluster).map_err(|detail| ClusterCaError::Generate {
        cluster: cluster.to_owned(),
        detail,
    })?;
    let together = SecretString::from(format!(
        "{}{}",
        generated.certificate_pem,
        generated.key_pem.expose_secret()
    ));
    store.put(&key, &together)?;
    Ok(generated)
}

fn generate(cluster: &str) -> Result<ClusterCa, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let key_pair = KeyPair::generate().map_err(|error| error.to_string())?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|error| error.to_string())?;
    let mut name = DistinguishedName::new();
    name.push(
        DnType::CommonName,
        format!("k3s-server-ca@labform-{cluster}"),
    );
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let certificate = params
        .self_signed(&key_pair)
        .map_err(|error| error.to_string())?;
    Ok(ClusterCa {
        certificate_pem: certificate.pem(),
        key_pem: SecretString::from(key_pair.serialize_pem()),
    })
}

/// Splits the stored text (certificate PEM, then key PEM) at the key's first line.
fn split(stored: &str) -> Option<ClusterCa> {
    let at = stored.find("-----BEGIN PRIVATE KEY-----")?;
    let (certificate, key) = stored.split_at(at);
    if !certificate.starts_with("-----BEGIN CERTIFICATE-----") {
        return None;
    }
    Some(ClusterCa {
        certificate_pem: certificate.to_owned(),
        key_pem: SecretString::from(key.to_owned()),
    })
}

/// The join token in K3s's secure format for nodes joining a cluster whose server CA is `ca`:
/// `K10<CA hash>::server:<secret>`.
pub fn secure_token(ca: &ClusterCa, secret: &SecretString) -> SecretString {
    SecretString::from(format!(
        "K10{}::server:{}",
        ca.hash(),
        secret.expose_secret()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_the_token_carries_its_file_hash() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = SecretStore::open(directory.path()).expect("store");
        let ca = cluster_ca(&store, "lab", "home").expect("CA");
        assert!(
            ca.certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(ca.key_pem.expose_secret().contains("PRIVATE KEY"));
        let again = cluster_ca(&store, "lab", "home").expect("CA");
        assert_eq!(ca.certificate_pem, again.certificate_pem);
        assert_eq!(ca.key_pem.expose_secret(), again.key_pem.expose_secret());
        let other = cluster_ca(&store, "lab", "other").expect("CA");
        assert_ne!(ca.certificate_pem, other.certificate_pem);

        let expected: String = Sha256::digest(ca.certificate_pem.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let token = secure_token(&ca, &SecretString::from("0123abcd"));
        assert_eq!(
            token.expose_secret(),
            &format!("K10{expected}::server:0123abcd")
        );
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }
}
