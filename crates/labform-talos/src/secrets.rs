//! The secrets bundle of a Talos cluster, made by labform and kept in its age store.
//!
//! It holds what `talosctl gen secrets` makes, in the same YAML layout (`cluster`, `secrets`,
//! `trustdinfo`, `certs`; keys and certificates as base64 of their PEM text), so
//! `talosctl gen config --with-secrets` can read a copy of it: the cluster ID (32 random bytes,
//! URL-safe base64) and secret (32 random bytes, base64), the bootstrap and trustd tokens
//! (`[a-z0-9]{6}.[a-z0-9]{16}`), the secretbox encryption key (32 random bytes, base64), the
//! etcd, Kubernetes and aggregator CAs (ECDSA P-256; `O=etcd`, `O=kubernetes`,
//! `CN=front-proxy`), the service-account key (RSA) and the OS CA (Ed25519, `O=talos`).
//!
//! The bundle is made once per cluster instance, on first use, and stored under
//! `talos-secrets/SCOPE/CLUSTER`; every later run reads it back. Its fields are
//! [`SecretString`]s (zeroed when dropped, redacted by `Debug`) and nothing of it is ever
//! logged, journaled, planned or rendered for review.

use base64::Engine as _;
use labform_secrets::{ExposeSecret as _, InvalidSecretKey, SecretKey, SecretStore, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::TalosError;
use crate::pki;

/// The secret-store key of cluster instance `cluster`'s bundle in lab scope `scope`.
pub fn bundle_store_key(scope: &str, cluster: &str) -> Result<SecretKey, InvalidSecretKey> {
    SecretKey::new(format!("talos-secrets/{scope}/{cluster}"))
}

/// A certificate (public) and its key (secret), both PEM.
#[derive(Clone)]
pub struct CertificateAndKey {
    /// The certificate, PEM.
    pub certificate: String,
    /// The private key, PEM.
    pub key: SecretString,
}

/// A cluster's secrets bundle.
#[derive(Clone)]
pub struct SecretsBundle {
    /// `cluster.id`: 32 random bytes, URL-safe base64.
    pub cluster_id: SecretString,
    /// `cluster.secret`: 32 random bytes, base64.
    pub cluster_secret: SecretString,
    /// `secrets.bootstraptoken`: the Kubernetes bootstrap token (`cluster.token`).
    pub bootstrap_token: SecretString,
    /// `secrets.secretboxencryptionsecret`: 32 random bytes, base64.
    pub secretbox_encryption_secret: SecretString,
    /// `trustdinfo.token`: the token machines join trustd with (`machine.token`).
    pub trustd_token: SecretString,
    /// `certs.etcd`: ECDSA P-256, `O=etcd`.
    pub etcd_ca: CertificateAndKey,
    /// `certs.k8s`: ECDSA P-256, `O=kubernetes`.
    pub kubernetes_ca: CertificateAndKey,
    /// `certs.k8saggregator`: ECDSA P-256, `CN=front-proxy`.
    pub aggregator_ca: CertificateAndKey,
    /// `certs.k8sserviceaccount.key`: RSA, PKCS#1.
    pub service_account_key: SecretString,
    /// `certs.os`: Ed25519, `O=talos`.
    pub os_ca: CertificateAndKey,
}

impl std::fmt::Debug for SecretsBundle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretsBundle([redacted])")
    }
}

fn random_bytes(count: usize, what: &'static str) -> Result<Zeroizing<Vec<u8>>, TalosError> {
    let mut bytes = Zeroizing::new(vec![0_u8; count]);
    getrandom::fill(&mut bytes).map_err(|error| TalosError::Generate {
        what,
        message: error.to_string(),
    })?;
    Ok(bytes)
}

/// A token of the form `[a-z0-9]{6}.[a-z0-9]{16}`.
fn token(what: &'static str) -> Result<SecretString, TalosError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut text = Zeroizing::new(String::with_capacity(23));
    let mut index = 0;
    while text.len() < 23 {
        let bytes = random_bytes(64, what)?;
        for byte in bytes.iter() {
            // 252 = 7 × 36: reject the rest so every character is equally likely.
            if *byte >= 252 {
                continue;
            }
            if index == 6 {
                text.push('.');
                index += 1;
            }
            if text.len() == 23 {
                break;
            }
            text.push(char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]));
            index += 1;
        }
    }
    Ok(SecretString::from(text.as_str().to_owned()))
}

fn ecdsa_ca(
    organization: Option<&str>,
    common_name: Option<&str>,
    what: &'static str,
) -> Result<CertificateAndKey, TalosError> {
    let key = pki::ecdsa_key(what)?;
    let certificate = pki::self_signed_ca(&key.pair, organization, common_name, what)?;
    Ok(CertificateAndKey {
        certificate,
        key: key.pem,
    })
}

impl SecretsBundle {
    /// A new bundle, every value fresh from the operating system's random number generator.
    pub fn generate() -> Result<Self, TalosError> {
        let base64 = base64::engine::general_purpose::STANDARD;
        let url_safe = base64::engine::general_purpose::URL_SAFE;
        let os_key = pki::ed25519_key("OS CA key")?;
        let os_certificate = pki::self_signed_ca(&os_key.pair, Some("talos"), None, "OS CA")?;
        Ok(SecretsBundle {
            cluster_id: SecretString::from(url_safe.encode(random_bytes(32, "cluster ID")?)),
            cluster_secret: SecretString::from(base64.encode(random_bytes(32, "cluster secret")?)),
            bootstrap_token: token("bootstrap token")?,
            secretbox_encryption_secret: SecretString::from(
                base64.encode(random_bytes(32, "secretbox encryption key")?),
            ),
            trustd_token: token("trustd token")?,
            etcd_ca: ecdsa_ca(Some("etcd"), None, "etcd CA")?,
            kubernetes_ca: ecdsa_ca(Some("kubernetes"), None, "Kubernetes CA")?,
            aggregator_ca: ecdsa_ca(None, Some("front-proxy"), "aggregator CA")?,
            service_account_key: pki::rsa_key("service-account key")?,
            os_ca: CertificateAndKey {
                certificate: os_certificate,
                key: os_key.pem,
            },
        })
    }

    /// The bundle of cluster instance `cluster` in `scope`: read from `store`, or generated and
    /// stored on first use.
    pub fn load_or_generate(
        store: &SecretStore,
        scope: &str,
        cluster: &str,
    ) -> Result<Self, TalosError> {
        let key =
            bundle_store_key(scope, cluster).map_err(labform_secrets::SecretStoreError::from)?;
        if let Some(stored) = store.get(&key)? {
            return SecretsBundle::from_yaml(stored.expose_secret(), cluster);
        }
        let bundle = SecretsBundle::generate()?;
        store.put(&key, &bundle.to_yaml())?;
        Ok(bundle)
    }

    /// The bundle in `talosctl gen secrets`'s YAML layout.
    pub fn to_yaml(&self) -> SecretString {
        let base64 = base64::engine::general_purpose::STANDARD;
        let encode_certificate = |pair: &CertificateAndKey| StoredCertificate {
            crt: Some(base64.encode(pair.certificate.as_bytes())),
            key: base64.encode(pair.key.expose_secret().as_bytes()),
        };
        let stored = StoredBundle {
            cluster: StoredCluster {
                id: self.cluster_id.expose_secret().to_owned(),
                secret: self.cluster_secret.expose_secret().to_owned(),
            },
            secrets: StoredSecrets {
                bootstraptoken: self.bootstrap_token.expose_secret().to_owned(),
                secretboxencryptionsecret: self
                    .secretbox_encryption_secret
                    .expose_secret()
                    .to_owned(),
            },
            trustdinfo: StoredTrustd {
                token: self.trustd_token.expose_secret().to_owned(),
            },
            certs: StoredCertificates {
                etcd: encode_certificate(&self.etcd_ca),
                k8s: encode_certificate(&self.kubernetes_ca),
                k8saggregator: encode_certificate(&self.aggregator_ca),
                k8sserviceaccount: StoredCertificate {
                    crt: None,
                    key: base64.encode(self.service_account_key.expose_secret().as_bytes()),
                },
                os: encode_certificate(&self.os_ca),
            },
        };
        let text = serde_saphyr::to_string(&stored).expect("the bundle serialises");
        let secret = SecretString::from(text);
        drop(Zeroizing::new(stored));
        secret
    }

    /// Reads a bundle written by [`SecretsBundle::to_yaml`] (or `talosctl gen secrets`).
    pub fn from_yaml(text: &str, cluster: &str) -> Result<Self, TalosError> {
        let damaged = |reason: &str| TalosError::DamagedBundle {
            cluster: cluster.to_owned(),
            reason: reason.to_owned(),
        };
        let stored: StoredBundle =
            serde_saphyr::from_str(text).map_err(|_| damaged("it is not a secrets bundle"))?;
        let base64 = base64::engine::general_purpose::STANDARD;
        let decode = |value: &str, what: &str| -> Result<String, TalosError> {
            let bytes = Zeroizing::new(
                base64
                    .decode(value.as_bytes())
                    .map_err(|_| damaged(&format!("{what} is not base64")))?,
            );
            String::from_utf8(bytes.to_vec()).map_err(|_| damaged(&format!("{what} is not PEM")))
        };
        let pair =
            |stored: &StoredCertificate, what: &str| -> Result<CertificateAndKey, TalosError> {
                Ok(CertificateAndKey {
                    certificate: decode(
                        stored
                            .crt
                            .as_deref()
                            .ok_or_else(|| damaged(&format!("{what} has no certificate")))?,
                        what,
                    )?,
                    key: SecretString::from(decode(&stored.key, what)?),
                })
            };
        Ok(SecretsBundle {
            cluster_id: SecretString::from(stored.cluster.id.clone()),
            cluster_secret: SecretString::from(stored.cluster.secret.clone()),
            bootstrap_token: SecretString::from(stored.secrets.bootstraptoken.clone()),
            secretbox_encryption_secret: SecretString::from(
                stored.secrets.secretboxencryptionsecret.clone(),
            ),
            trustd_token: SecretString::from(stored.trustdinfo.token.clone()),
            etcd_ca: pair(&stored.certs.etcd, "certs.etcd")?,
            kubernetes_ca: pair(&stored.certs.k8s, "certs.k8s")?,
            aggregator_ca: pair(&stored.certs.k8saggregator, "certs.k8saggregator")?,
            service_account_key: SecretString::from(decode(
                &stored.certs.k8sserviceaccount.key,
                "certs.k8sserviceaccount",
            )?),
            os_ca: pair(&stored.certs.os, "certs.os")?,
        })
    }

    /// A new talosconfig client certificate and key for `roles` (Talos reads roles from the
    /// certificate's organisations; labform uses `os:admin`), signed by the OS CA. The key is
    /// Ed25519, like `talosctl`'s.
    pub fn client_certificate(&self, roles: &[&str]) -> Result<CertificateAndKey, TalosError> {
        let ca_key = pki::key_pair_from_pem(self.os_ca.key.expose_secret(), "OS CA key")?;
        let key = pki::ed25519_key("talosconfig client key")?;
        let certificate = pki::signed_certificate(
            &self.os_ca.certificate,
            &ca_key,
            &key.pair,
            roles,
            &[],
            "talosconfig client certificate",
        )?;
        Ok(CertificateAndKey {
            certificate,
            key: key.pem,
        })
    }
}

/// The role labform's talosconfig carries.
pub const ADMIN_ROLE: &str = "os:admin";

#[derive(Serialize, Deserialize)]
struct StoredBundle {
    cluster: StoredCluster,
    secrets: StoredSecrets,
    trustdinfo: StoredTrustd,
    certs: StoredCertificates,
}

impl zeroize::Zeroize for StoredBundle {
    fn zeroize(&mut self) {
        self.cluster.id.zeroize();
        self.cluster.secret.zeroize();
        self.secrets.bootstraptoken.zeroize();
        self.secrets.secretboxencryptionsecret.zeroize();
        self.trustdinfo.token.zeroize();
        for certificate in [
            &mut self.certs.etcd,
            &mut self.certs.k8s,
            &mut self.certs.k8saggregator,
            &mut self.certs.k8sserviceaccount,
            &mut self.certs.os,
        ] {
            certificate.key.zeroize();
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredCluster {
    id: String,
    secret: String,
}

#[derive(Serialize, Deserialize)]
struct StoredSecrets {
    bootstraptoken: String,
    secretboxencryptionsecret: String,
}

#[derive(Serialize, Deserialize)]
struct StoredTrustd {
    token: String,
}

#[derive(Serialize, Deserialize)]
struct StoredCertificates {
    etcd: StoredCertificate,
    k8s: StoredCertificate,
    k8saggregator: StoredCertificate,
    k8sserviceaccount: StoredCertificate,
    os: StoredCertificate,
}

#[derive(Serialize, Deserialize)]
struct StoredCertificate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crt: Option<String>,
    key: String,
}
