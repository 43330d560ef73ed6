//! The secrets bundle as the leaves of a configuration's tree: each value as Talos writes it
//! (base64 of the PEM text in `v1alpha1`, PEM in the 1.14 documents), or placeholders naming
//! them for review.

use base64::Engine as _;
use labform_secrets::{ExposeSecret as _, SecretString};

use super::SecretsSource;
use crate::document::{Value, secret, string};

/// The values of the bundle as tree leaves.
pub(super) struct Leaves {
    pub(super) cluster_id: Value,
    pub(super) cluster_secret: Value,
    pub(super) bootstrap_token: Value,
    pub(super) trustd_token: Value,
    pub(super) secretbox: Value,
    pub(super) os_certificate: Value,
    pub(super) os_key: Value,
    pub(super) kubernetes_certificate: Value,
    pub(super) kubernetes_key: Value,
    pub(super) aggregator_certificate: Value,
    pub(super) aggregator_key: Value,
    pub(super) etcd_certificate: Value,
    pub(super) etcd_key: Value,
    pub(super) service_account_key: Value,
    /// PEM (not base64) forms for the Talos 1.14 documents.
    pub(super) kubernetes_certificate_pem: Value,
    pub(super) kubernetes_key_pem: Value,
    pub(super) aggregator_certificate_pem: Value,
    pub(super) aggregator_key_pem: Value,
    pub(super) service_account_key_pem: Value,
}

fn encoded(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

fn encoded_secret(value: &SecretString, what: &'static str) -> Value {
    Value::Secret(SecretString::from(encoded(value.expose_secret())), what)
}

impl Leaves {
    pub(super) fn new(source: SecretsSource<'_>) -> Self {
        let Some(bundle) = (match source {
            SecretsSource::Bundle(bundle) => Some(bundle),
            SecretsSource::Placeholders => None,
        }) else {
            let empty = SecretString::from(String::new());
            let leaf = |what: &'static str| Value::Secret(empty.clone(), what);
            return Leaves {
                cluster_id: leaf("cluster ID"),
                cluster_secret: leaf("cluster secret"),
                bootstrap_token: leaf("bootstrap token"),
                trustd_token: leaf("trustd token"),
                secretbox: leaf("secretbox encryption key"),
                os_certificate: leaf("OS CA certificate"),
                os_key: leaf("OS CA key"),
                kubernetes_certificate: leaf("Kubernetes CA certificate"),
                kubernetes_key: leaf("Kubernetes CA key"),
                aggregator_certificate: leaf("aggregator CA certificate"),
                aggregator_key: leaf("aggregator CA key"),
                etcd_certificate: leaf("etcd CA certificate"),
                etcd_key: leaf("etcd CA key"),
                service_account_key: leaf("service-account key"),
                kubernetes_certificate_pem: leaf("Kubernetes CA certificate"),
                kubernetes_key_pem: leaf("Kubernetes CA key"),
                aggregator_certificate_pem: leaf("aggregator CA certificate"),
                aggregator_key_pem: leaf("aggregator CA key"),
                service_account_key_pem: leaf("service-account key"),
            };
        };
        Leaves {
            cluster_id: secret(&bundle.cluster_id, "cluster ID"),
            cluster_secret: secret(&bundle.cluster_secret, "cluster secret"),
            bootstrap_token: secret(&bundle.bootstrap_token, "bootstrap token"),
            trustd_token: secret(&bundle.trustd_token, "trustd token"),
            secretbox: secret(
                &bundle.secretbox_encryption_secret,
                "secretbox encryption key",
            ),
            os_certificate: string(encoded(&bundle.os_ca.certificate)),
            os_key: encoded_secret(&bundle.os_ca.key, "OS CA key"),
            kubernetes_certificate: string(encoded(&bundle.kubernetes_ca.certificate)),
            kubernetes_key: encoded_secret(&bundle.kubernetes_ca.key, "Kubernetes CA key"),
            aggregator_certificate: string(encoded(&bundle.aggregator_ca.certificate)),
            aggregator_key: encoded_secret(&bundle.aggregator_ca.key, "aggregator CA key"),
            etcd_certificate: string(encoded(&bundle.etcd_ca.certificate)),
            etcd_key: encoded_secret(&bundle.etcd_ca.key, "etcd CA key"),
            service_account_key: encoded_secret(&bundle.service_account_key, "service-account key"),
            kubernetes_certificate_pem: string(bundle.kubernetes_ca.certificate.clone()),
            kubernetes_key_pem: secret(&bundle.kubernetes_ca.key, "Kubernetes CA key"),
            aggregator_certificate_pem: string(bundle.aggregator_ca.certificate.clone()),
            aggregator_key_pem: secret(&bundle.aggregator_ca.key, "aggregator CA key"),
            service_account_key_pem: secret(&bundle.service_account_key, "service-account key"),
        }
    }
}
