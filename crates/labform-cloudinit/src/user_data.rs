//! The `#cloud-config` user data: host name, the login user with its authorised keys, no
//! passwords, labform's host key in place of generated ones, time zone and packages.

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
    pub packages: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runcmd: Vec<Vec<&'a str>>,
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
