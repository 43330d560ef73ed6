//! One node's K3s files and service, converged over SSH: labform reads the SHA-256 of every
//! file it manages (one command), uploads only those that differ (as root, atomically, secrets
//! with mode 0600 and only through the SSH channel's data), reloads systemd when a unit changed,
//! and (re)starts the service when anything it reads changed. A second run over an unchanged
//! node uploads nothing and restarts nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use labform_secrets::{ExposeSecret as _, SecretString};
use labform_ssh::{Session, shell_quote};

use crate::artifacts::{K3sArtifacts, sha256_hex};
use crate::error::NodeError;
use crate::units::{BINARY_PATH, CONFIG_PATH, IMAGES_DIRECTORY, Service};

/// What a file holds.
#[derive(Clone)]
pub enum FileContents {
    /// Public bytes (the binary, the configuration, the unit).
    Public(Arc<Vec<u8>>),
    /// A secret (the join token, the datastore endpoint): never logged.
    Secret(SecretString),
}

impl FileContents {
    fn bytes(&self) -> &[u8] {
        match self {
            FileContents::Public(bytes) => bytes,
            FileContents::Secret(secret) => secret.expose_secret().as_bytes(),
        }
    }
}

/// A file labform keeps on a node.
#[derive(Clone)]
pub struct NodeFile {
    /// Absolute path.
    pub path: String,
    /// Contents.
    pub contents: FileContents,
    /// Permission bits.
    pub mode: u32,
    /// SHA-256 of the contents.
    pub sha256: String,
    /// Whether the service must restart when this file changes.
    pub restarts_service: bool,
    /// Whether the file is written only when the node does not have it (the cluster's CA,
    /// which K3s reads once, when it initialises the cluster).
    pub only_when_absent: bool,
}

impl std::fmt::Debug for NodeFile {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NodeFile")
            .field("path", &self.path)
            .field("bytes", &self.contents.bytes().len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish_non_exhaustive()
    }
}

impl NodeFile {
    fn new(path: impl Into<String>, contents: FileContents, mode: u32) -> Self {
        let sha256 = sha256_hex(contents.bytes());
        NodeFile {
            path: path.into(),
            contents,
            mode,
            sha256,
            restarts_service: true,
            only_when_absent: false,
        }
    }

    fn public(path: impl Into<String>, bytes: Vec<u8>, mode: u32) -> Self {
        Self::new(path, FileContents::Public(Arc::new(bytes)), mode)
    }
}

/// Everything labform puts on one K3s node.
#[derive(Debug, Clone)]
pub struct NodeInstall {
    /// The node (VM name).
    pub node: String,
    /// Server or agent.
    pub service: Service,
    /// The files, binary first.
    pub files: Vec<NodeFile>,
}

/// The secrets a node's files carry.
pub struct NodeSecrets<'a> {
    /// The cluster's join token: the bare secret on the first server, K3s's secure token
    /// (with the CA hash) on the nodes that join.
    pub token: &'a SecretString,
    /// The cluster's server CA (the first server only), placed before K3s first starts.
    pub server_ca: Option<&'a labform_kubernetes::ClusterCa>,
    /// The external datastore's endpoint (servers of clusters with one).
    pub datastore_endpoint: Option<&'a SecretString>,
}

impl NodeInstall {
    /// The files of `node` from its rendered `config.yaml`, the release and the secrets.
    pub fn new(
        node: &str,
        service: Service,
        config_yaml: &str,
        artifacts: &K3sArtifacts,
        secrets: &NodeSecrets<'_>,
    ) -> Self {
        let mut files = vec![NodeFile {
            path: BINARY_PATH.to_owned(),
            contents: FileContents::Public(Arc::clone(&artifacts.binary.contents)),
            mode: 0o755,
            sha256: artifacts.binary.sha256.clone(),
            restarts_service: true,
            only_when_absent: false,
        }];
        if let Some(images) = &artifacts.images {
            files.push(NodeFile {
                path: format!("{IMAGES_DIRECTORY}/{}", images.name),
                contents: FileContents::Public(Arc::clone(&images.contents)),
                mode: 0o644,
                sha256: images.sha256.clone(),
                // Imported at the next start; a running node already has its images.
                restarts_service: false,
                only_when_absent: false,
            });
        }
        files.push(NodeFile::public(
            CONFIG_PATH,
            config_yaml.as_bytes().to_vec(),
            0o600,
        ));
        files.push(NodeFile::new(
            labform_kubernetes::TOKEN_FILE,
            FileContents::Secret(labform_kubernetes::token_file_contents(secrets.token)),
            0o600,
        ));
        if let Some(ca) = secrets.server_ca {
            let mut certificate = NodeFile::public(
                labform_kubernetes::SERVER_CA_CERT_FILE,
                ca.certificate_pem.as_bytes().to_vec(),
                0o644,
            );
            let mut key = NodeFile::new(
                labform_kubernetes::SERVER_CA_KEY_FILE,
                FileContents::Secret(ca.key_pem.clone()),
                0o600,
            );
            for file in [&mut certificate, &mut key] {
                file.only_when_absent = true;
                file.restarts_service = false;
            }
            files.push(certificate);
            files.push(key);
        }
        if service == Service::Server
            && let Some(endpoint) = secrets.datastore_endpoint
        {
            files.push(NodeFile::new(
                labform_kubernetes::DATASTORE_DROP_IN,
                FileContents::Secret(labform_kubernetes::datastore_drop_in(endpoint)),
                0o600,
            ));
        }
        files.push(NodeFile::public(
            service.unit_path(),
            service.unit_file().into_bytes(),
            0o644,
        ));
        NodeInstall {
            node: node.to_owned(),
            service,
            files,
        }
    }

    /// The binary's SHA-256.
    pub fn binary_sha256(&self) -> &str {
        &self.files[0].sha256
    }
}

/// What a node has now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// SHA-256 of each managed file that exists, by path.
    pub digests: BTreeMap<String, String>,
    /// `systemctl is-active` of the node's unit.
    pub active: String,
    /// `systemctl is-enabled` of the node's unit.
    pub enabled: String,
}

impl NodeFacts {
    /// Whether the service runs (or is starting).
    pub fn running(&self) -> bool {
        self.active == "active" || self.active == "activating"
    }

    /// Whether K3s was ever installed here by labform (the binary and the unit are present).
    pub fn installed(&self, install: &NodeInstall) -> bool {
        self.digests.contains_key(BINARY_PATH)
            && self.digests.contains_key(&install.service.unit_path())
    }
}

/// Marker of the service line in the facts command's output.
const SERVICE_MARKER: &str = "labform-service";

/// The command that reports a node's facts about `install`'s files and unit.
pub fn facts_command(install: &NodeInstall) -> String {
    let paths: Vec<String> = install
        .files
        .iter()
        .map(|file| shell_quote(&file.path))
        .collect();
    let unit = install.service.unit();
    let script = format!(
        "for file in {paths}; do if [ -f \"$file\" ]; then sha256sum \"$file\"; fi; done; \
         echo \"{SERVICE_MARKER} $(systemctl is-active {unit} 2>/dev/null) $(systemctl is-enabled {unit} 2>/dev/null)\"",
        paths = paths.join(" "),
    );
    format!("sudo -n sh -c {}", shell_quote(&script))
}

/// Reads the facts command's output.
pub fn parse_facts(output: &str) -> NodeFacts {
    let mut facts = NodeFacts::default();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix(SERVICE_MARKER) {
            let mut words = rest.split_whitespace();
            facts.active = words.next().unwrap_or("unknown").to_owned();
            facts.enabled = words.next().unwrap_or("unknown").to_owned();
        } else if let Some((digest, path)) = line.split_once("  ") {
            facts.digests.insert(path.to_owned(), digest.to_owned());
        }
    }
    facts
}

/// What converging a node would change, from its facts: the files to write, whether the unit
/// changed, and whether the service must (re)start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeChanges {
    /// Paths to upload, in order.
    pub uploads: Vec<String>,
    /// Whether a unit file is among them.
    pub unit_changed: bool,
    /// Whether the unit must be enabled.
    pub enable: bool,
    /// What to do with the service.
    pub service: ServiceAction,
}

/// What to do with a node's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    /// Nothing: it runs with what it reads.
    Keep,
    /// Start it (it is stopped).
    Start,
    /// Restart it (something it reads changed).
    Restart,
}

impl NodeChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && !self.enable && self.service == ServiceAction::Keep
    }
}

/// Compares `install` with `facts`. Pure.
pub fn changes(install: &NodeInstall, facts: &NodeFacts) -> NodeChanges {
    let differing: Vec<&NodeFile> = install
        .files
        .iter()
        .filter(|file| match facts.digests.get(&file.path) {
            // The CA is K3s's once the cluster exists: never replaced.
            Some(_) if file.only_when_absent => false,
            found => found != Some(&file.sha256),
        })
        .collect();
    let unit_path = install.service.unit_path();
    let service = if !facts.running() {
        ServiceAction::Start
    } else if differing.iter().any(|file| file.restarts_service) {
        ServiceAction::Restart
    } else {
        ServiceAction::Keep
    };
    NodeChanges {
        uploads: differing.iter().map(|file| file.path.clone()).collect(),
        unit_changed: differing.iter().any(|file| file.path == unit_path),
        enable: facts.enabled != "enabled",
        service,
    }
}

/// Reads `install`'s facts from the node.
pub async fn read_facts(session: &Session, install: &NodeInstall) -> Result<NodeFacts, NodeError> {
    let output = session.exec_checked(&facts_command(install)).await?;
    Ok(parse_facts(&String::from_utf8_lossy(&output.stdout)))
}

/// Carries out `changes` on the node. A new binary must report `version` before the service
/// (re)starts. The service is started without waiting for it (K3s's readiness is checked
/// through the Kubernetes API afterwards).
pub async fn apply_changes(
    session: &Session,
    install: &NodeInstall,
    changes: &NodeChanges,
    version: &str,
) -> Result<(), NodeError> {
    for path in &changes.uploads {
        let file = install
            .files
            .iter()
            .find(|file| &file.path == path)
            .expect("changes name files of the install");
        session
            .upload_as_root(&file.path, file.contents.bytes(), file.mode)
            .await?;
    }
    if changes.uploads.iter().any(|path| path == BINARY_PATH) {
        let reported = installed_version(session).await?;
        if reported.as_deref() != Some(version) {
            return Err(NodeError::Unexpected {
                node: install.node.clone(),
                detail: format!(
                    "the K3s binary installed reports {} but the lab asks for {version}; the service was not (re)started\n  hint: give release files of {version} (--k3s-artifacts), or change the cluster's version",
                    reported.as_deref().unwrap_or("no version")
                ),
            });
        }
    }
    let unit = install.service.unit();
    let mut commands = Vec::new();
    if changes.unit_changed {
        commands.push("systemctl daemon-reload".to_owned());
    }
    if changes.enable {
        commands.push(format!("systemctl enable {unit}"));
    }
    match changes.service {
        ServiceAction::Keep => {}
        ServiceAction::Start => commands.push(format!("systemctl start --no-block {unit}")),
        ServiceAction::Restart => commands.push(format!("systemctl restart --no-block {unit}")),
    }
    if !commands.is_empty() {
        let script = format!("set -e; {}", commands.join("; "));
        session
            .exec_checked(&format!("sudo -n sh -c {}", shell_quote(&script)))
            .await?;
    }
    Ok(())
}

/// The last lines K3s logged on the node and the unit's state, for errors about a node that
/// does not become Ready. Best effort: an empty string when they cannot be read.
pub async fn service_diagnostics(session: &Session, service: Service) -> String {
    let unit = service.unit();
    let script = format!(
        "echo \"{unit}: $(systemctl is-active {unit} 2>/dev/null)\"; \
         journalctl -u {unit} -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300"
    );
    match session
        .exec_captured(&format!("sudo -n sh -c {}", shell_quote(&script)))
        .await
    {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(_) => String::new(),
    }
}

/// The K3s version the node's binary reports (`v1.31.4+k3s1`), if it runs.
pub async fn installed_version(session: &Session) -> Result<Option<String>, NodeError> {
    let output = session
        .exec_captured(&format!("{BINARY_PATH} --version 2>/dev/null | head -n 1"))
        .await?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.split_whitespace().nth(2).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::VerifiedFile;

    fn artifacts(binary: &[u8]) -> K3sArtifacts {
        K3sArtifacts {
            version: "v1.31.4+k3s1".to_owned(),
            binary: VerifiedFile {
                name: "k3s".to_owned(),
                contents: Arc::new(binary.to_vec()),
                sha256: sha256_hex(binary),
            },
            images: None,
        }
    }

    fn install(binary: &[u8], config: &str) -> NodeInstall {
        let token = SecretString::from("0123456789abcdef");
        NodeInstall::new(
            "home-server-0",
            Service::Server,
            config,
            &artifacts(binary),
            &NodeSecrets {
                token: &token,
                server_ca: None,
                datastore_endpoint: None,
            },
        )
    }

    fn facts_of(install: &NodeInstall, active: &str) -> NodeFacts {
        let mut output = String::new();
        for file in &install.files {
            output.push_str(&format!("{}  {}\n", file.sha256, file.path));
        }
        output.push_str(&format!("{SERVICE_MARKER} {active} enabled\n"));
        parse_facts(&output)
    }

    #[test]
    fn a_fresh_node_gets_every_file_and_a_start() {
        let wanted = install(b"binary", "node-name: a\n");
        let fresh = parse_facts("labform-service inactive \n");
        let changes = changes(&wanted, &fresh);
        assert_eq!(
            changes.uploads,
            [
                "/usr/local/bin/k3s",
                "/etc/rancher/k3s/config.yaml",
                "/etc/rancher/k3s/token",
                "/etc/systemd/system/k3s.service"
            ]
        );
        assert!(changes.unit_changed && changes.enable);
        assert_eq!(changes.service, ServiceAction::Start);
    }

    #[test]
    fn the_first_server_gets_labforms_ca_and_joining_nodes_its_hash_in_the_token() {
        use labform_kubernetes::{
            SERVER_CA_CERT_FILE, SERVER_CA_KEY_FILE, cluster_ca, secure_token,
        };
        use sha2::Digest as _;
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = labform_secrets::SecretStore::open(directory.path()).expect("store");
        let token = SecretString::from("0123456789abcdef");
        let ca = cluster_ca(&store, "lab", "home").expect("CA");
        let first = NodeInstall::new(
            "home-server-0",
            Service::Server,
            "cluster-init: true\n",
            &artifacts(b"binary"),
            &NodeSecrets {
                token: &token,
                server_ca: Some(&ca),
                datastore_endpoint: None,
            },
        );
        let joining_token = secure_token(&ca, &token);
        let agent = NodeInstall::new(
            "home-agent-0",
            Service::Agent,
            "server: https://10.0.0.10:6443\n",
            &artifacts(b"binary"),
            &NodeSecrets {
                token: &joining_token,
                server_ca: None,
                datastore_endpoint: None,
            },
        );
        let file = |install: &NodeInstall, path: &str| -> Vec<u8> {
            install
                .files
                .iter()
                .find(|file| file.path == path)
                .unwrap_or_else(|| panic!("{path} in {}", install.node))
                .contents
                .bytes()
                .to_vec()
        };
        // What K3s hashes: the CA file the first server serves at /cacerts, byte for byte.
        let served = file(&first, SERVER_CA_CERT_FILE);
        let hash: String = sha2::Sha256::digest(&served)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(
            String::from_utf8(file(&agent, labform_kubernetes::TOKEN_FILE)).expect("text"),
            format!("K10{hash}::server:0123456789abcdef\n")
        );
        assert_eq!(
            file(&first, labform_kubernetes::TOKEN_FILE),
            b"0123456789abcdef\n"
        );
        assert!(
            agent
                .files
                .iter()
                .all(|file| !file.path.contains("server-ca"))
        );
        // The CA goes only where K3s has none yet, and is never replaced.
        let fresh = changes(&first, &parse_facts("labform-service inactive \n"));
        assert!(fresh.uploads.iter().any(|path| path == SERVER_CA_KEY_FILE));
        let mut facts = facts_of(&first, "active");
        facts
            .digests
            .insert(SERVER_CA_CERT_FILE.to_owned(), "0".repeat(64));
        facts
            .digests
            .insert(SERVER_CA_KEY_FILE.to_owned(), "1".repeat(64));
        assert!(changes(&first, &facts).is_empty());
    }

    #[test]
    fn an_unchanged_running_node_is_left_alone() {
        let wanted = install(b"binary", "node-name: a\n");
        let facts = facts_of(&wanted, "active");
        assert!(changes(&wanted, &facts).is_empty());
    }

    #[test]
    fn a_changed_configuration_or_binary_restarts() {
        let running = install(b"binary", "node-name: a\n");
        let facts = facts_of(&running, "active");
        let new_config = changes(&install(b"binary", "node-name: b\n"), &facts);
        assert_eq!(new_config.uploads, ["/etc/rancher/k3s/config.yaml"]);
        assert_eq!(new_config.service, ServiceAction::Restart);
        assert!(!new_config.unit_changed && !new_config.enable);
        let upgrade = changes(&install(b"binary v2", "node-name: a\n"), &facts);
        assert_eq!(upgrade.uploads, ["/usr/local/bin/k3s"]);
        assert_eq!(upgrade.service, ServiceAction::Restart);
        // A stopped node is started even when its files are right.
        let stopped = changes(&running, &facts_of(&running, "failed"));
        assert!(stopped.uploads.is_empty());
        assert_eq!(stopped.service, ServiceAction::Start);
    }

    #[test]
    fn secrets_stay_out_of_commands_and_debug() {
        let wanted = install(b"binary", "node-name: a\n");
        let command = facts_command(&wanted);
        assert!(!command.contains("0123456789abcdef"));
        assert!(!format!("{wanted:?}").contains("0123456789abcdef"));
        insta::assert_snapshot!(command);
    }
}
