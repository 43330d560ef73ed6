//! The cluster's certificates, made with rcgen (ECDSA P-256), in the layout kubeadm uses: one
//! CA that signs the API server's serving certificate, every client certificate (the admin in
//! `system:masters`, the controller-manager, the scheduler, the kubelet as
//! `system:node:NAME` in `system:nodes`, and the API server's own client for kubelets), and
//! the kubelet's serving certificate; plus the service-account signing key pair. Kubeconfigs
//! carry their certificates inline, as K3s writes them.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::StartError;

/// A certificate and its key, as PEM.
pub(crate) struct Pair {
    /// The certificate.
    pub(crate) certificate: String,
    /// The key (PKCS#8).
    pub(crate) key: String,
}

/// Every certificate and key of the cluster, written under one directory.
pub(crate) struct Pki {
    /// The directory with the PEM files.
    pub(crate) directory: PathBuf,
    /// The CA certificate.
    pub(crate) ca_certificate: String,
    /// The admin's client certificate (`kubernetes-admin`, `system:masters`).
    pub(crate) admin: Pair,
    /// The controller-manager's client certificate.
    pub(crate) controller_manager: Pair,
    /// The scheduler's client certificate.
    pub(crate) scheduler: Pair,
    /// The kubelet's client certificate.
    pub(crate) kubelet: Pair,
}

fn failed(error: impl std::fmt::Display) -> StartError {
    StartError::Pki {
        detail: error.to_string(),
    }
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        name.push(DnType::OrganizationName, organization);
    }
    name
}

/// A leaf certificate signed by `issuer`.
fn leaf(
    issuer: &CertifiedIssuer<'_, KeyPair>,
    common_name: &str,
    organization: Option<&str>,
    alternative_names: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<Pair, StartError> {
    let mut params = CertificateParams::new(alternative_names).map_err(failed)?;
    params.distinguished_name = name(common_name, organization);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().map_err(failed)?;
    let certificate = params.signed_by(&key, issuer).map_err(failed)?;
    Ok(Pair {
        certificate: certificate.pem(),
        key: key.serialize_pem(),
    })
}

fn write(directory: &Path, file: &str, text: &str) -> Result<(), StartError> {
    let path = directory.join(file);
    fs::write(&path, text)
        .map_err(|error| failed(format!("cannot write {}: {error}", path.display())))
}

impl Pki {
    /// Makes the certificates for node `node_name` at `node_address` and writes them into
    /// `directory`: `ca.crt`, `ca.key`, `apiserver.{crt,key}`, `apiserver-kubelet-client.{crt,key}`,
    /// `kubelet-serving.{crt,key}`, `service-account.{key,pub}`.
    pub(crate) fn generate(
        directory: &Path,
        node_name: &str,
        node_address: Ipv4Addr,
    ) -> Result<Self, StartError> {
        fs::create_dir_all(directory)
            .map_err(|error| failed(format!("cannot create {}: {error}", directory.display())))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca_params.distinguished_name = name("labform-real-kubernetes-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(failed)?;
        let ca_key_pem = ca_key.serialize_pem();
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(failed)?;
        write(directory, "ca.crt", &ca.pem())?;
        write(directory, "ca.key", &ca_key_pem)?;

        let serving = leaf(
            &ca,
            "kube-apiserver",
            None,
            vec![
                "kubernetes".to_owned(),
                "kubernetes.default".to_owned(),
                "kubernetes.default.svc".to_owned(),
                "kubernetes.default.svc.cluster.local".to_owned(),
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "10.96.0.1".to_owned(),
                node_address.to_string(),
            ],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        write(directory, "apiserver.crt", &serving.certificate)?;
        write(directory, "apiserver.key", &serving.key)?;
        let kubelet_client = leaf(
            &ca,
            "kube-apiserver-kubelet-client",
            Some("system:masters"),
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        write(
            directory,
            "apiserver-kubelet-client.crt",
            &kubelet_client.certificate,
        )?;
        write(
            directory,
            "apiserver-kubelet-client.key",
            &kubelet_client.key,
        )?;
        let kubelet_serving = leaf(
            &ca,
            node_name,
            None,
            vec![node_name.to_owned(), node_address.to_string()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        write(
            directory,
            "kubelet-serving.crt",
            &kubelet_serving.certificate,
        )?;
        write(directory, "kubelet-serving.key", &kubelet_serving.key)?;

        let service_account = KeyPair::generate().map_err(failed)?;
        write(
            directory,
            "service-account.key",
            &service_account.serialize_pem(),
        )?;
        write(
            directory,
            "service-account.pub",
            &service_account.public_key_pem(),
        )?;

        Ok(Self {
            directory: directory.to_path_buf(),
            ca_certificate: ca.pem(),
            admin: leaf(
                &ca,
                "kubernetes-admin",
                Some("system:masters"),
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
            )?,
            controller_manager: leaf(
                &ca,
                "system:kube-controller-manager",
                None,
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
            )?,
            scheduler: leaf(
                &ca,
                "system:kube-scheduler",
                None,
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
            )?,
            kubelet: leaf(
                &ca,
                &format!("system:node:{node_name}"),
                Some("system:nodes"),
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
            )?,
        })
    }

    /// A path in the PKI directory.
    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.directory.join(file)
    }

    /// A kubeconfig for `server` whose user is `pair`, everything inline (K3s's shape).
    pub(crate) fn kubeconfig(&self, server: &str, pair: &Pair) -> String {
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: real\n  cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n\
             users:\n\
             - name: real\n  user:\n    client-certificate-data: {certificate}\n    client-key-data: {key}\n\
             contexts:\n\
             - name: real\n  context:\n    cluster: real\n    user: real\n\
             current-context: real\n",
            ca = encode(&self.ca_certificate),
            certificate = encode(&pair.certificate),
            key = encode(&pair.key),
        )
    }
}
