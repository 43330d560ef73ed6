//! Access control: users, API tokens, ACL entries, pools and login tickets.

use super::*;

/// A user for `POST /access/users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateUser {
    /// `name@realm`.
    pub userid: String,
    /// Password (for the `pve` realm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<crate::Secret>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Options of a new API token.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreateToken {
    /// Privilege separation (Proxmox's default is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privsep: Option<bool>,
    /// Expiry, unix time, 0 for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<u64>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The answer of token creation. The secret is shown only once.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenCreated {
    /// `user@realm!id`.
    #[serde(rename = "full-tokenid")]
    pub full_tokenid: String,
    /// The secret.
    pub value: crate::Secret,
}

/// `PUT /access/acl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclUpdate {
    /// ACL path (`/`, `/vms/100`, `/storage/local`, `/pool/p`).
    pub path: String,
    /// Role ids.
    #[serde(with = "comma_list")]
    pub roles: Vec<String>,
    /// Users.
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Tokens.
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<String>,
    /// Propagate to sub-paths (Proxmox's default is on).
    #[serde(default = "propagate_by_default")]
    pub propagate: bool,
    /// Remove instead of add.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
}

/// Proxmox propagates an ACL entry unless told not to.
fn propagate_by_default() -> bool {
    true
}

/// One user of `GET /access/users?full=1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    /// `name@realm`.
    pub userid: String,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Enabled (Proxmox's default is on).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable: Option<bool>,
    /// The user's API tokens (only with `full=1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenEntry>,
}

/// One API token of a user (`GET /access/users?full=1` or `GET /access/users/{userid}/token`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The token's name (without `user@realm!`).
    pub tokenid: String,
    /// Privilege separation (Proxmox's default is on).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub privsep: Option<bool>,
    /// Expiry, unix time, 0 for none.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub expire: Option<u64>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl TokenEntry {
    /// Whether the token's rights are limited by its own ACLs (`privsep` defaults to on).
    pub fn privilege_separated(&self) -> bool {
        self.privsep.unwrap_or(true)
    }
}

/// One entry of `GET /access/acl`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclEntry {
    /// ACL path (`/`, `/vms/100`, `/pool/p`).
    pub path: String,
    /// `user`, `group` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user, group or token (`user@realm!id`).
    pub ugid: String,
    /// The role.
    pub roleid: String,
    /// Inherited by sub-paths (Proxmox's default is on).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub propagate: Option<bool>,
}

impl AclEntry {
    /// Whether sub-paths inherit the entry (`propagate` defaults to on).
    pub fn propagates(&self) -> bool {
        self.propagate.unwrap_or(true)
    }
}

/// One entry of `GET /pools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolInfo {
    /// Pool id.
    pub poolid: String,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Members (guests and storages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<PoolMember>>,
}

/// `GET /pools` and `GET /pools/{poolid}`: one pool (with its members), and only members of
/// one type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolQuery {
    /// The pool.
    pub poolid: Option<String>,
    /// `qemu`, `lxc` or `storage`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `PUT /pools` (and the older `PUT /pools/{poolid}`): a pool's comment, and guests and
/// storages added to it or (with `delete`) removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UpdatePool {
    /// The pool.
    pub poolid: String,
    /// New comment.
    pub comment: Option<String>,
    /// Guests to add or remove.
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<labform_ids::VmId>,
    /// Storages to add or remove.
    #[serde(default, with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<String>,
    /// Remove the members instead of adding them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
    /// Move guests out of the pool they are in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_move: bool,
}

/// A pool member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolMember {
    /// `qemu/100` or `storage/pve1/local`.
    pub id: String,
    /// Node.
    pub node: String,
    /// `qemu`, `lxc`, `storage`.
    #[serde(rename = "type")]
    pub kind: String,
    /// VMID of guests.
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub vmid: Option<u64>,
}

/// A login ticket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ticket {
    /// The user.
    pub username: String,
    /// `PVE:user@realm:HEXTIME::signature`.
    pub ticket: crate::Secret,
    /// The CSRF prevention token.
    #[serde(rename = "CSRFPreventionToken")]
    pub csrf_token: crate::Secret,
}

/// The answer of `GET /access/permissions`: for every ACL path the caller has privileges on
/// (and `/`), those privileges. Proxmox maps each privilege to its propagate flag; holding it
/// is what counts, so only the names are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Permissions(pub BTreeMap<String, BTreeSet<String>>);

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw: BTreeMap<String, BTreeMap<String, serde_json::Value>> =
            BTreeMap::deserialize(deserializer)?;
        Ok(Permissions(
            raw.into_iter()
                .map(|(path, privileges)| (path, privileges.into_keys().collect()))
                .collect(),
        ))
    }
}
