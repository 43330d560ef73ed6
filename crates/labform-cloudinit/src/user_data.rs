//! The `#cloud-config` user data: host name, the login user with its authorised keys, no
//! passwords, labform's host key in place of generated ones, time zone and packages; then what
//! the lab adds: files, first-boot commands and a fragment merged in.

use serde::Serialize;

/// The user-data document; `ed25519_private` is only set for the seed image.
#[derive(Serialize)]
pub(crate) struct CloudConfig<'a> {
    pub hostname: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<&'a str>,
    pub prefer_fqdn_over_hostname: bool,
    pub manage_etc_hosts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<&'a str>,
    pub users: Vec<User<'a>>,
    pub disable_root: bool,
    pub ssh_pwauth: bool,
    pub ssh_deletekeys: bool,
    pub ssh_keys: SshKeys<'a>,
    pub package_update: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub write_files: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runcmd: Vec<serde_json::Value>,
    /// The other keys of the lab's user-data fragment.
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Adds the lab's fragment to `document`: its `packages`, `runcmd` and `write_files` extend
/// labform's lists, its other keys are added (validation refuses the keys labform sets).
pub(crate) fn merge_fragment(
    document: &mut CloudConfig<'_>,
    fragment: &std::collections::BTreeMap<String, serde_json::Value>,
) {
    for (key, value) in fragment {
        let items = value.as_array().cloned().unwrap_or_default();
        match key.as_str() {
            "packages" => document.packages.extend(items),
            "runcmd" => document.runcmd.extend(items),
            "write_files" => document.write_files.extend(items),
            _ => {
                document.extra.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The login user.
#[derive(Serialize)]
pub(crate) struct User<'a> {
    pub name: &'a str,
    pub groups: Vec<&'a str>,
    pub shell: &'a str,
    pub sudo: &'a str,
    pub lock_passwd: bool,
    pub ssh_authorized_keys: Vec<&'a str>,
}

/// The host key cloud-init installs instead of generating its own.
#[derive(Serialize)]
pub(crate) struct SshKeys<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ed25519_private: Option<&'a str>,
    pub ed25519_public: &'a str,
}
