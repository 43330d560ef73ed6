//! The secrets bundle: the formats and algorithms `talosctl gen secrets` uses (read back with
//! `x509-parser`), made once per cluster and kept encrypted in labform's store, and the
//! talosconfig client certificate (`O=os:admin`, signed by the OS CA).

mod common;

use common::bundle;
use labform_secrets::{ExposeSecret as _, SecretStore};
use labform_talos::pki::pem_block;
use labform_talos::{ADMIN_ROLE, SecretsBundle, bundle_store_key};
use x509_parser::prelude::{FromDer as _, X509Certificate};

fn certificate(pem: &str) -> Vec<u8> {
    let (label, der) = pem_block(pem).expect("PEM");
    assert_eq!(label, "CERTIFICATE");
    der.to_vec()
}

fn key_label(pem: &str) -> String {
    pem_block(pem).expect("PEM").0
}

fn is_token(text: &str) -> bool {
    let (first, second) = text.split_once('.').expect("a dot");
    let allowed = |part: &str| {
        part.bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
    };
    first.len() == 6 && second.len() == 16 && allowed(first) && allowed(second)
}

#[test]
fn the_bundle_has_taloss_formats_and_algorithms() {
    use base64::Engine as _;
    let bundle = bundle();
    assert!(is_token(bundle.bootstrap_token.expose_secret()));
    assert!(is_token(bundle.trustd_token.expose_secret()));
    let url_safe = base64::engine::general_purpose::URL_SAFE;
    let standard = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        url_safe
            .decode(bundle.cluster_id.expose_secret())
            .expect("URL-safe base64")
            .len(),
        32
    );
    for value in [&bundle.cluster_secret, &bundle.secretbox_encryption_secret] {
        assert_eq!(
            standard
                .decode(value.expose_secret())
                .expect("base64")
                .len(),
            32
        );
    }
    // (CA, key PEM type, public key algorithm OID, subject)
    let ed25519 = "1.3.101.112";
    let ec = "1.2.840.10045.2.1";
    for (pair, key_type, algorithm, subject) in [
        (&bundle.os_ca, "ED25519 PRIVATE KEY", ed25519, "O=talos"),
        (&bundle.etcd_ca, "EC PRIVATE KEY", ec, "O=etcd"),
        (&bundle.kubernetes_ca, "EC PRIVATE KEY", ec, "O=kubernetes"),
        (
            &bundle.aggregator_ca,
            "EC PRIVATE KEY",
            ec,
            "CN=front-proxy",
        ),
    ] {
        assert_eq!(key_label(pair.key.expose_secret()), key_type);
        let der = certificate(&pair.certificate);
        let (_, parsed) = X509Certificate::from_der(&der).expect("X.509");
        assert_eq!(parsed.subject().to_string(), subject);
        assert_eq!(parsed.issuer().to_string(), subject, "self-signed");
        assert_eq!(
            parsed.public_key().algorithm.algorithm.to_id_string(),
            algorithm
        );
        assert!(parsed.is_ca(), "{subject}");
        let validity = parsed.validity();
        let years =
            (validity.not_after.timestamp() - validity.not_before.timestamp()) / (365 * 24 * 3600);
        assert_eq!(years, 10, "{subject}: valid for 87,600 hours");
    }
    assert_eq!(
        key_label(bundle.service_account_key.expose_secret()),
        "RSA PRIVATE KEY"
    );
    assert!(!format!("{bundle:?}").contains(bundle.trustd_token.expose_secret()));
}

#[test]
fn the_talosconfig_certificate_is_an_admin_signed_by_the_os_ca() {
    let bundle = bundle();
    let client = bundle.client_certificate(&[ADMIN_ROLE]).expect("client");
    assert_eq!(key_label(client.key.expose_secret()), "ED25519 PRIVATE KEY");
    let der = certificate(&client.certificate);
    let (_, parsed) = X509Certificate::from_der(&der).expect("X.509");
    assert_eq!(parsed.subject().to_string(), "O=os:admin");
    assert_eq!(parsed.issuer().to_string(), "O=talos");
    assert!(!parsed.is_ca());
    let ca_der = certificate(&bundle.os_ca.certificate);
    let (_, ca) = X509Certificate::from_der(&ca_der).expect("CA");
    parsed
        .verify_signature(Some(ca.public_key()))
        .expect("signed by the OS CA");
}

#[test]
fn the_bundle_is_made_once_and_kept_encrypted() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let store = SecretStore::open(directory.path()).expect("store");
    let first = SecretsBundle::load_or_generate(&store, "lab", "talos").expect("bundle");
    let again = SecretsBundle::load_or_generate(&store, "lab", "talos").expect("bundle");
    assert_eq!(
        first.to_yaml().expose_secret(),
        again.to_yaml().expose_secret()
    );
    assert_eq!(
        first.os_ca.key.expose_secret(),
        again.os_ca.key.expose_secret()
    );
    let key = bundle_store_key("lab", "talos").expect("key");
    assert_eq!(key.as_str(), "talos-secrets/lab/talos");
    let on_disk = std::fs::read(directory.path().join("secrets/talos-secrets/lab/talos.age"))
        .expect("stored");
    let token = first.trustd_token.expose_secret().as_bytes();
    assert!(!on_disk.windows(token.len()).any(|window| window == token));
    // The layout of `talosctl gen secrets`.
    let yaml = first.to_yaml();
    for key in [
        "cluster:",
        "secrets:",
        "bootstraptoken:",
        "secretboxencryptionsecret:",
        "trustdinfo:",
        "certs:",
        "k8saggregator:",
        "k8sserviceaccount:",
        "os:",
    ] {
        assert!(yaml.expose_secret().contains(key), "{key}");
    }
}
