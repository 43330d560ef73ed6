//! Keys and certificates shaped like Talos's own (`talosctl gen secrets`): self-signed CAs valid
//! for ten years with the key usages and subjects Talos gives them, Ed25519 for the OS CA and
//! the talosconfig client, ECDSA P-256 for the etcd, Kubernetes and aggregator CAs, RSA for the
//! service-account key. Private keys are PEM in the types Talos writes: `ED25519 PRIVATE KEY`
//! (PKCS#8), `EC PRIVATE KEY` (SEC1) and `RSA PRIVATE KEY` (PKCS#1).

use base64::Engine as _;
use labform_secrets::SecretString;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use zeroize::Zeroizing;

use crate::error::TalosError;

/// How long Talos's CAs are valid: 87,600 hours.
const CA_VALIDITY: time::Duration = time::Duration::hours(87_600);

/// How long the talosconfig client certificate is valid (as `talosctl gen config`'s).
const CLIENT_VALIDITY: time::Duration = time::Duration::hours(87_600);

/// Bits of the service-account RSA key.
const SERVICE_ACCOUNT_RSA_BITS: usize = 4096;

/// The fixed start of an Ed25519 PKCS#8 v1 private key (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A key with its PEM text (a secret).
pub struct PemKey {
    /// The key, for signing.
    pub pair: KeyPair,
    /// The private key as PEM, in Talos's type.
    pub pem: SecretString,
}

impl std::fmt::Debug for PemKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PemKey([redacted])")
    }
}

fn failed(what: &'static str) -> impl Fn(rcgen::Error) -> TalosError {
    move |error| TalosError::Generate {
        what,
        message: error.to_string(),
    }
}

/// PEM text of `der` with `label`.
pub fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// The label and DER bytes of the first PEM block of `text`.
pub fn pem_block(text: &str) -> Option<(String, Zeroizing<Vec<u8>>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker)?;
    let body: String = rest[body_start..body_end]
        .chars()
        .filter(|character| !character.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .ok()?;
    Some((label.to_owned(), Zeroizing::new(der)))
}

/// A new Ed25519 key, as PKCS#8 v1 under Talos's `ED25519 PRIVATE KEY` label.
pub fn ed25519_key(what: &'static str) -> Result<PemKey, TalosError> {
    let mut seed = Zeroizing::new([0_u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|error| TalosError::Generate {
        what,
        message: error.to_string(),
    })?;
    let mut der = Zeroizing::new(ED25519_PKCS8_PREFIX.to_vec());
    der.extend_from_slice(seed.as_ref());
    let pair = KeyPair::try_from(der.as_slice()).map_err(failed(what))?;
    Ok(PemKey {
        pair,
        pem: SecretString::from(pem("ED25519 PRIVATE KEY", &der)),
    })
}

/// A new ECDSA P-256 key, as SEC1 under `EC PRIVATE KEY`.
pub fn ecdsa_key(what: &'static str) -> Result<PemKey, TalosError> {
    let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(failed(what))?;
    let pkcs8 = Zeroizing::new(pair.serialize_der());
    let secret = p256::SecretKey::from_pkcs8_der(&pkcs8).map_err(|error| TalosError::Generate {
        what,
        message: error.to_string(),
    })?;
    let sec1 = secret.to_sec1_der().map_err(|error| TalosError::Generate {
        what,
        message: error.to_string(),
    })?;
    Ok(PemKey {
        pair,
        pem: SecretString::from(pem("EC PRIVATE KEY", &sec1)),
    })
}

/// A new RSA key for signing service-account tokens, as PKCS#1 under `RSA PRIVATE KEY`.
pub fn rsa_key(what: &'static str) -> Result<SecretString, TalosError> {
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, SERVICE_ACCOUNT_RSA_BITS).map_err(
        |error| TalosError::Generate {
            what,
            message: error.to_string(),
        },
    )?;
    let text = key
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .map_err(|error| TalosError::Generate {
            what,
            message: error.to_string(),
        })?;
    Ok(SecretString::from(text.to_string()))
}

/// The signing key of a PEM private key Talos's way: `ED25519 PRIVATE KEY` (PKCS#8),
/// `EC PRIVATE KEY` (SEC1, P-256) or `PRIVATE KEY` (PKCS#8).
pub fn key_pair_from_pem(text: &str, what: &'static str) -> Result<KeyPair, TalosError> {
    let damaged = |message: &str| TalosError::Generate {
        what,
        message: message.to_owned(),
    };
    let (label, der) = pem_block(text).ok_or_else(|| damaged("not a PEM private key"))?;
    match label.as_str() {
        "ED25519 PRIVATE KEY" | "PRIVATE KEY" => {
            KeyPair::try_from(der.as_slice()).map_err(failed(what))
        }
        "EC PRIVATE KEY" => {
            let secret = p256::SecretKey::from_sec1_der(&der)
                .map_err(|_| damaged("not a P-256 SEC1 key"))?;
            let pkcs8 = secret
                .to_pkcs8_der()
                .map_err(|_| damaged("cannot convert the key to PKCS#8"))?;
            KeyPair::try_from(pkcs8.as_bytes()).map_err(failed(what))
        }
        _ => Err(damaged("an unknown PEM type")),
    }
}

fn validity(params: &mut CertificateParams, duration: time::Duration) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + duration;
}

fn subject(organization: Option<&str>, common_name: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    if let Some(organization) = organization {
        name.push(DnType::OrganizationName, organization);
    }
    if let Some(common_name) = common_name {
        name.push(DnType::CommonName, common_name);
    }
    name
}

/// The parameters of a Talos CA with `organization` / `common_name` as its subject.
pub fn ca_params(
    organization: Option<&str>,
    common_name: Option<&str>,
) -> Result<CertificateParams, TalosError> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(failed("CA parameters"))?;
    params.distinguished_name = subject(organization, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut params, CA_VALIDITY);
    Ok(params)
}

/// A self-signed CA certificate (PEM) of `key`.
pub fn self_signed_ca(
    key: &KeyPair,
    organization: Option<&str>,
    common_name: Option<&str>,
    what: &'static str,
) -> Result<String, TalosError> {
    let params = ca_params(organization, common_name)?;
    Ok(params.self_signed(key).map_err(failed(what))?.pem())
}

/// A certificate signed by the CA `ca_certificate` / `ca_key` (PEM): a client certificate
/// with `organizations` (Talos reads roles from them) or a server certificate for
/// `addresses`.
pub fn signed_certificate(
    ca_certificate: &str,
    ca_key: &KeyPair,
    key: &KeyPair,
    organizations: &[&str],
    addresses: &[std::net::IpAddr],
    what: &'static str,
) -> Result<String, TalosError> {
    let issuer = Issuer::from_ca_cert_pem(ca_certificate, ca_key).map_err(failed(what))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed(what))?;
    let mut name = DistinguishedName::new();
    for organization in organizations {
        name.push(DnType::OrganizationName, *organization);
    }
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if addresses.is_empty() {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    } else {
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.subject_alt_names = addresses
            .iter()
            .map(|address| SanType::IpAddress(*address))
            .collect();
    }
    validity(&mut params, CLIENT_VALIDITY);
    Ok(params.signed_by(key, &issuer).map_err(failed(what))?.pem())
}
