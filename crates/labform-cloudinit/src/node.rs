//! One VM's NoCloud files, from its plan alone: name, MAC, addresses, MTU, user, authorised
//! keys, time zone and packages are all planned values.

use labform_planner::Plan;
use labform_planner::plan::{CloudInitSummary, PlannedCommand, PlannedVm};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

use crate::error::CloudInitError;
use crate::host_key::{HostKeyPair, HostKeySource};
use crate::network::network_config;
use crate::user_data::{CloudConfig, SshKeys, User};

/// A cloud-init VM of a plan: what its files are rendered from.
#[derive(Debug, Clone)]
pub struct NodeContext<'a> {
    /// The VM.
    pub vm: &'a PlannedVm,
    /// What cloud-init does on it.
    pub cloud_init: &'a CloudInitSummary,
    /// The lab's scope (prefix of instance IDs and host-key store keys).
    pub scope: &'a str,
}

/// The context of `vm`, a VM of `plan`; only cloud-init VMs have one.
pub fn node_context<'a>(
    plan: &'a Plan,
    vm: &'a PlannedVm,
) -> Result<NodeContext<'a>, CloudInitError> {
    let cloud_init = vm
        .cloud_init
        .as_ref()
        .ok_or_else(|| CloudInitError::NotCloudInit {
            vm: vm.name.clone(),
            boot: vm.boot.clone(),
        })?;
    Ok(NodeContext {
        vm,
        cloud_init,
        scope: &plan.scope,
    })
}

/// The files of a VM for review: the public host key only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFiles {
    /// `user-data`.
    pub user_data: String,
    /// `meta-data`.
    pub meta_data: String,
    /// `network-config`.
    pub network_config: String,
    /// The VM's public host key (`ssh-ed25519 AAAA...`), which SSH connections are checked against.
    pub host_public_key: String,
}

/// The files of a VM's seed image: the user data carries the private host key (cloud-init), or
/// is the node's own configuration (Talos).
#[derive(Debug)]
pub struct SeedFiles {
    /// `user-data`, with the private host key, or a Talos machine configuration.
    pub user_data: SecretString,
    /// `meta-data`.
    pub meta_data: String,
    /// `network-config`.
    pub network_config: String,
    /// The VM's host key pair (cloud-init VMs; Talos nodes have no SSH).
    pub host_key: Option<HostKeyPair>,
}

/// Renders `context`'s files for review: everything the seed holds except the private host key.
pub fn render_for_review(
    context: &NodeContext<'_>,
    host_keys: &dyn HostKeySource,
) -> Result<ReviewFiles, CloudInitError> {
    let host_key = host_keys.host_key(&context.vm.name)?;
    let header = format!(
        "#cloud-config\n\
         # labform: cloud-init user data of VM {name} (VM ID {vm_id}).\n\
         # Rendered for review: the private SSH host key (ssh_keys.ed25519_private) is added only\n\
         # to the VM's seed image and never written here.\n",
        name = context.vm.name,
        vm_id = context.vm.vm_id,
    );
    let login_key = host_keys.login_key()?;
    let body = user_data_body(context, &host_key, &login_key, None)?;
    let network_config = network_config_text(context)?;
    Ok(ReviewFiles {
        meta_data: meta_data(context, &body, &network_config, &host_key),
        user_data: header + &body,
        network_config,
        host_public_key: host_key.public_openssh().to_owned(),
    })
}

/// Renders `context`'s files for its seed image, with the private host key in the user data.
pub fn render_for_seed(
    context: &NodeContext<'_>,
    host_keys: &dyn HostKeySource,
) -> Result<SeedFiles, CloudInitError> {
    use secrecy::ExposeSecret as _;
    let host_key = host_keys.host_key(&context.vm.name)?;
    let header = format!(
        "#cloud-config\n# labform: cloud-init user data of VM {name} (VM ID {vm_id}).\n",
        name = context.vm.name,
        vm_id = context.vm.vm_id,
    );
    let login_key = host_keys.login_key()?;
    let public_body = user_data_body(context, &host_key, &login_key, None)?;
    let network_config = network_config_text(context)?;
    let meta_data = meta_data(context, &public_body, &network_config, &host_key);
    let body = user_data_body(
        context,
        &host_key,
        &login_key,
        Some(host_key.private_openssh().expose_secret()),
    )?;
    Ok(SeedFiles {
        user_data: SecretString::from(header + &body),
        meta_data,
        network_config,
        host_key: Some(host_key),
    })
}

fn user_data_body(
    context: &NodeContext<'_>,
    host_key: &HostKeyPair,
    login_key: &HostKeyPair,
    private_key: Option<&str>,
) -> Result<String, CloudInitError> {
    let vm = context.vm;
    let login_line = format!(
        "{} {}",
        login_key.public_openssh(),
        crate::host_key::login_key_comment(context.scope)
    );
    let summary = context.cloud_init;
    let mut authorized: Vec<&str> = summary.authorized_keys.iter().map(String::as_str).collect();
    authorized.push(&login_line);
    let packages: Vec<serde_json::Value> = summary
        .packages
        .iter()
        .map(|package| serde_json::Value::from(package.as_str()))
        .collect();
    let mut runcmd = Vec::new();
    if summary
        .packages
        .iter()
        .any(|package| package == "qemu-guest-agent")
    {
        runcmd.push(serde_json::json!([
            "systemctl",
            "enable",
            "--now",
            "qemu-guest-agent"
        ]));
    }
    for command in &summary.commands {
        runcmd.push(match command {
            PlannedCommand::Shell(line) => serde_json::Value::from(line.as_str()),
            PlannedCommand::Program(arguments) => serde_json::json!(arguments),
        });
    }
    let write_files: Vec<serde_json::Value> = summary
        .files
        .iter()
        .map(|file| {
            let mut entry = serde_json::json!({
                "path": file.path,
                "content": file.content,
                "owner": file.owner,
                "permissions": file.mode,
            });
            // Files of other users are written once the users exist.
            if file.owner.split(':').next() != Some("root") {
                entry["defer"] = serde_json::Value::Bool(true);
            }
            entry
        })
        .collect();
    let document = CloudConfig {
        hostname: &summary.hostname,
        fqdn: summary.fqdn.as_deref(),
        prefer_fqdn_over_hostname: false,
        manage_etc_hosts: true,
        timezone: summary.timezone.as_deref(),
        users: vec![User {
            name: &summary.user,
            groups: vec!["sudo"],
            shell: "/bin/bash",
            sudo: "ALL=(ALL) NOPASSWD:ALL",
            lock_passwd: true,
            ssh_authorized_keys: authorized,
        }],
        disable_root: true,
        ssh_pwauth: false,
        ssh_deletekeys: true,
        ssh_keys: SshKeys {
            ed25519_private: private_key,
            ed25519_public: host_key.public_openssh(),
        },
        package_update: true,
        packages,
        write_files,
        runcmd,
        extra: Default::default(),
    };
    let mut document = document;
    crate::user_data::merge_fragment(&mut document, &summary.user_data);
    serde_saphyr::to_string_with_options(&document, yaml_options()).map_err(|error| {
        CloudInitError::Yaml {
            vm: vm.name.clone(),
            document: "user-data",
            // The serialiser's message never quotes values; with a private key present it is not
            // kept at all.
            message: if private_key.is_some() {
                "serialisation failed".to_owned()
            } else {
                error.to_string()
            },
        }
    })
}

/// The meta-data. Its `instance-id` ends in a hash of the seed's public content (the user data
/// without the private host key, the network-config, the host name and the public host key, which
/// stands for its private half), so any change to the seed makes cloud-init apply it again at the
/// next boot, and nothing secret can be guessed from it.
fn meta_data(
    context: &NodeContext<'_>,
    public_user_data: &str,
    network_config: &str,
    host_key: &HostKeyPair,
) -> String {
    let mut hasher = Sha256::new();
    for part in [
        context.scope,
        &context.vm.vm_id.to_string(),
        &context.vm.name,
        public_user_data,
        network_config,
        host_key.public_openssh(),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let hash: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        "instance-id: labform-{scope}-{vm_id}-{hash}\nlocal-hostname: {name}\n",
        scope = context.scope,
        vm_id = context.vm.vm_id,
        name = context.vm.name,
    )
}

fn network_config_text(context: &NodeContext<'_>) -> Result<String, CloudInitError> {
    serde_saphyr::to_string_with_options(&network_config(&context.vm.nic), yaml_options()).map_err(
        |error| CloudInitError::Yaml {
            vm: context.vm.name.clone(),
            document: "network-config",
            message: error.to_string(),
        },
    )
}

/// YAML output options: long single-line strings (SSH keys) stay on one line.
pub(crate) fn yaml_options() -> serde_saphyr::SerializerOptions {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    options
}

/// Where apply gets the seed files of each cloud-init VM it creates or updates.
pub trait SeedSource {
    /// The seed files of `vm`, with its private host key.
    fn seed_files(&self, vm: &PlannedVm) -> Result<SeedFiles, CloudInitError>;
}

/// Seed files rendered from a plan and a source of host keys (labform's secret store through
/// [`crate::StoredHostKeys`]).
pub struct PlanSeeds<'a> {
    plan: &'a Plan,
    host_keys: &'a dyn HostKeySource,
}

impl<'a> PlanSeeds<'a> {
    /// Seeds of `plan`'s VMs, with host keys from `host_keys`.
    pub fn new(plan: &'a Plan, host_keys: &'a dyn HostKeySource) -> Self {
        PlanSeeds { plan, host_keys }
    }
}

impl std::fmt::Debug for PlanSeeds<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PlanSeeds")
            .field("scope", &self.plan.scope)
            .finish_non_exhaustive()
    }
}

impl SeedSource for PlanSeeds<'_> {
    fn seed_files(&self, vm: &PlannedVm) -> Result<SeedFiles, CloudInitError> {
        let context = node_context(self.plan, vm)?;
        render_for_seed(&context, self.host_keys)
    }
}
