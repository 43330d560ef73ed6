//! Users, API tokens, roles and ACLs, evaluated the way pve-access-control
//! does: the most specific ACL path wins, `propagate` controls inheritance,
//! privilege-separated tokens get the intersection of user and token rights,
//! and `root@pam` bypasses everything (its privsep tokens do not).

use labform_proxmox::Secret;
use std::collections::{BTreeMap, BTreeSet};

/// Every privilege the simulator checks (and the ones built-in roles carry).
pub const ALL_PRIVS: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];

/// The built-in roles (a subset of Proxmox's, with their real privileges
/// restricted to [`ALL_PRIVS`]).
pub fn builtin_roles() -> BTreeMap<String, BTreeSet<String>> {
    let mut r = BTreeMap::new();
    let set = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    r.insert("Administrator".into(), set(ALL_PRIVS));
    r.insert("NoAccess".into(), BTreeSet::new());
    let vm_user = [
        "VM.Audit",
        "VM.Console",
        "VM.PowerMgmt",
        "VM.Config.CDROM",
        "VM.Config.Cloudinit",
        "VM.Backup",
        "VM.GuestAgent.Audit",
    ];
    r.insert("PVEVMUser".into(), set(&vm_user));
    let vm_admin: Vec<&str> = ALL_PRIVS
        .iter()
        .copied()
        .filter(|p| p.starts_with("VM."))
        .collect();
    r.insert("PVEVMAdmin".into(), set(&vm_admin));
    r.insert(
        "PVEAuditor".into(),
        set(&[
            "Datastore.Audit",
            "Pool.Audit",
            "SDN.Audit",
            "Sys.Audit",
            "VM.Audit",
        ]),
    );
    r.insert(
        "PVEDatastoreAdmin".into(),
        set(&[
            "Datastore.Allocate",
            "Datastore.AllocateSpace",
            "Datastore.AllocateTemplate",
            "Datastore.Audit",
        ]),
    );
    r.insert(
        "PVEDatastoreUser".into(),
        set(&["Datastore.AllocateSpace", "Datastore.Audit"]),
    );
    r.insert("PVEPoolAdmin".into(), set(&["Pool.Allocate", "Pool.Audit"]));
    r.insert("PVESDNUser".into(), set(&["SDN.Audit", "SDN.Use"]));
    let pve_admin: Vec<&str> = ALL_PRIVS
        .iter()
        .copied()
        .filter(|p| !matches!(*p, "Permissions.Modify" | "Sys.Modify" | "Sys.PowerMgmt"))
        .collect();
    r.insert("PVEAdmin".into(), set(&pve_admin));
    r
}

/// A user.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// Password (pve realm, or root@pam's).
    pub password: Option<Secret>,
    /// Enabled.
    pub enable: bool,
    /// Comment.
    pub comment: Option<String>,
}

/// An API token.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Token {
    /// The secret.
    pub secret: Secret,
    /// Privilege separation.
    pub privsep: bool,
    /// Expiry (unix time, 0 = never).
    pub expire: u64,
    /// Comment.
    pub comment: Option<String>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `user@realm`.
    pub user: String,
    /// Token name, for token calls.
    pub token: Option<String>,
}

impl Identity {
    /// `root@pam` with a ticket.
    pub fn root() -> Self {
        Self {
            user: "root@pam".into(),
            token: None,
        }
    }
    /// The id as it appears in UPIDs and ACLs: `user@realm[!token]`.
    pub fn full(&self) -> String {
        match &self.token {
            Some(t) => format!("{}!{t}", self.user),
            None => self.user.clone(),
        }
    }
}

/// One ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AclEntry {
    /// Path.
    pub path: String,
    /// `user@realm` or `user@realm!token`.
    pub subject: String,
    /// Role.
    pub role: String,
    /// Inherited by sub-paths.
    pub propagate: bool,
}

/// The access-control state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Access {
    /// Users.
    pub users: BTreeMap<String, User>,
    /// Tokens by full id.
    pub tokens: BTreeMap<String, Token>,
    /// Roles.
    pub roles: BTreeMap<String, BTreeSet<String>>,
    /// ACL entries.
    pub acl: BTreeSet<AclEntry>,
}

impl Access {
    /// Only `root@pam` with `password`.
    pub fn new(root_password: Secret) -> Self {
        let mut users = BTreeMap::new();
        users.insert(
            "root@pam".into(),
            User {
                password: Some(root_password),
                enable: true,
                comment: None,
            },
        );
        Self {
            users,
            tokens: BTreeMap::new(),
            roles: builtin_roles(),
            acl: BTreeSet::new(),
        }
    }

    /// Roles of one ACL subject on `path`, as pve-access-control's `roles()`: walk from `/` to
    /// the path; the deepest level with entries for the subject decides, and `NoAccess` there
    /// is all that is left.
    fn subject_roles(&self, subject: &str, path: &str) -> BTreeSet<String> {
        let mut levels = vec!["/".to_owned()];
        let mut current = String::new();
        for part in path.split('/').filter(|part| !part.is_empty()) {
            current.push('/');
            current.push_str(part);
            levels.push(current.clone());
        }
        let mut roles = BTreeSet::new();
        for (index, level) in levels.iter().enumerate() {
            let exact = index == levels.len() - 1;
            let found: BTreeSet<String> = self
                .acl
                .iter()
                .filter(|entry| {
                    &entry.path == level && entry.subject == subject && (exact || entry.propagate)
                })
                .map(|entry| entry.role.clone())
                .collect();
            if !found.is_empty() {
                roles = if found.contains("NoAccess") {
                    ["NoAccess".to_owned()].into()
                } else {
                    found
                };
            }
        }
        roles
    }

    /// Privileges of one ACL subject on `path`, where `pool` is the pool the object at `path`
    /// belongs to (a VM's `/vms/<id>`): as `compile_acl_path` in pve-access-control, the roles on
    /// `/pool/<pool>` apply to its members unless the member's own path says `NoAccess`, and a
    /// `NoAccess` on the pool wins over the member's other roles.
    fn subject_privs(&self, subject: &str, path: &str, pool: Option<&str>) -> BTreeSet<String> {
        let mut roles = self.subject_roles(subject, path);
        if let Some(pool) = pool {
            let pool_roles = self.subject_roles(subject, &format!("/pool/{pool}"));
            if !pool_roles.is_empty() && !roles.contains("NoAccess") {
                if pool_roles.contains("NoAccess") {
                    roles = ["NoAccess".to_owned()].into();
                } else {
                    roles.extend(pool_roles);
                }
            }
        }
        roles
            .iter()
            .flat_map(|role| self.roles.get(role).cloned().unwrap_or_default())
            .collect()
    }

    /// Effective privileges of `who` on `path` for an object outside any pool.
    pub fn privs(&self, who: &Identity, path: &str) -> BTreeSet<String> {
        self.privs_in_pool(who, path, None)
    }

    /// Effective privileges of `who` on `path`, an object in `pool` (if any): privilege-separated
    /// tokens get the intersection of their own and their user's privileges.
    pub fn privs_in_pool(
        &self,
        who: &Identity,
        path: &str,
        pool: Option<&str>,
    ) -> BTreeSet<String> {
        let user_privs = if who.user == "root@pam" {
            ALL_PRIVS.iter().map(|s| s.to_string()).collect()
        } else {
            self.subject_privs(&who.user, path, pool)
        };
        match &who.token {
            None => user_privs,
            Some(_) => {
                let full = who.full();
                match self.tokens.get(&full) {
                    Some(token) if token.privsep => {
                        let token_privs = self.subject_privs(&full, path, pool);
                        user_privs.intersection(&token_privs).cloned().collect()
                    }
                    Some(_) => user_privs,
                    None => BTreeSet::new(),
                }
            }
        }
    }

    /// Whether `who` has `privilege` on `path` (an object outside any pool).
    pub fn has(&self, who: &Identity, path: &str, privilege: &str) -> bool {
        self.privs(who, path).contains(privilege)
    }

    /// Whether `who` has `privilege` on `path`, an object in `pool` (if any).
    pub fn has_in_pool(
        &self,
        who: &Identity,
        path: &str,
        pool: Option<&str>,
        privilege: &str,
    ) -> bool {
        self.privs_in_pool(who, path, pool).contains(privilege)
    }

    /// Removes user `userid`, its tokens, and every ACL entry of either (as `DELETE
    /// /access/users/{userid}` does); whether it existed.
    pub fn remove_user(&mut self, userid: &str) -> bool {
        let existed = self.users.remove(userid).is_some();
        let prefix = format!("{userid}!");
        self.tokens.retain(|full, _| !full.starts_with(&prefix));
        self.acl
            .retain(|entry| entry.subject != userid && !entry.subject.starts_with(&prefix));
        existed
    }

    /// Removes token `full` (`user@realm!id`) and its ACL entries; whether it existed.
    pub fn remove_token(&mut self, full: &str) -> bool {
        let existed = self.tokens.remove(full).is_some();
        self.acl.retain(|entry| entry.subject != full);
        existed
    }

    /// Whether `who` is the unrestricted `root@pam` (ticket, or a token
    /// without privilege separation).
    pub fn is_root(&self, who: &Identity) -> bool {
        who.user == "root@pam"
            && match &who.token {
                None => true,
                Some(_) => self.tokens.get(&who.full()).is_some_and(|t| !t.privsep),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        let mut a = Access::new(Secret::new("x"));
        a.users.insert(
            "alice@pve".into(),
            User {
                password: None,
                enable: true,
                comment: None,
            },
        );
        a.tokens.insert(
            "alice@pve!ci".into(),
            Token {
                secret: Secret::new("s"),
                privsep: true,
                expire: 0,
                comment: None,
            },
        );
        a.tokens.insert(
            "alice@pve!full".into(),
            Token {
                secret: Secret::new("s"),
                privsep: false,
                expire: 0,
                comment: None,
            },
        );
        a
    }

    fn acl(a: &mut Access, path: &str, subject: &str, role: &str, propagate: bool) {
        a.acl.insert(AclEntry {
            path: path.into(),
            subject: subject.into(),
            role: role.into(),
            propagate,
        });
    }

    #[test]
    fn deepest_path_wins_and_propagate_matters() {
        let mut a = access();
        let alice = Identity {
            user: "alice@pve".into(),
            token: None,
        };
        acl(&mut a, "/vms", "alice@pve", "PVEVMAdmin", true);
        assert!(a.has(&alice, "/vms/100", "VM.Clone"));
        acl(&mut a, "/vms/100", "alice@pve", "NoAccess", true);
        assert!(!a.has(&alice, "/vms/100", "VM.Audit"));
        assert!(a.has(&alice, "/vms/101", "VM.Audit"));
        acl(&mut a, "/storage", "alice@pve", "PVEDatastoreUser", false);
        assert!(a.has(&alice, "/storage", "Datastore.Audit"));
        assert!(!a.has(&alice, "/storage/local", "Datastore.Audit"));
    }

    #[test]
    fn pool_roles_reach_members_and_no_access_wins() {
        let mut a = access();
        let alice = Identity {
            user: "alice@pve".into(),
            token: None,
        };
        let token = Identity {
            user: "alice@pve".into(),
            token: Some("ci".into()),
        };
        acl(&mut a, "/pool/a", "alice@pve", "PVEVMAdmin", true);
        acl(&mut a, "/pool/a", "alice@pve!ci", "PVEVMUser", true);
        assert!(a.has_in_pool(&alice, "/vms/100", Some("a"), "VM.Allocate"));
        assert!(!a.has_in_pool(&alice, "/vms/100", Some("b"), "VM.Audit"));
        assert!(!a.has(&alice, "/vms/100", "VM.Audit"));
        // The token gets the intersection: its own PVEVMUser within the user's PVEVMAdmin.
        assert!(a.has_in_pool(&token, "/vms/100", Some("a"), "VM.PowerMgmt"));
        assert!(!a.has_in_pool(&token, "/vms/100", Some("a"), "VM.Allocate"));
        assert!(!a.has_in_pool(&token, "/vms/101", Some("b"), "VM.Audit"));
        // NoAccess on the member wins over the pool; NoAccess on the pool wins over the member.
        acl(&mut a, "/vms/100", "alice@pve", "NoAccess", true);
        assert!(!a.has_in_pool(&alice, "/vms/100", Some("a"), "VM.Audit"));
        acl(&mut a, "/vms/101", "alice@pve", "PVEVMUser", true);
        acl(&mut a, "/pool/c", "alice@pve", "NoAccess", true);
        assert!(!a.has_in_pool(&alice, "/vms/101", Some("c"), "VM.Audit"));
        assert!(a.has_in_pool(&alice, "/vms/101", Some("a"), "VM.Allocate"));
    }

    #[test]
    fn removing_a_user_removes_its_tokens_and_acl_entries() {
        let mut a = access();
        acl(&mut a, "/pool/a", "alice@pve", "PVEVMAdmin", true);
        acl(&mut a, "/pool/a", "alice@pve!ci", "PVEVMAdmin", true);
        acl(&mut a, "/pool/a", "bob@pve", "PVEVMAdmin", true);
        assert!(a.remove_token("alice@pve!full"));
        assert!(a.tokens.contains_key("alice@pve!ci"));
        assert!(a.remove_user("alice@pve"));
        assert!(a.tokens.is_empty());
        assert_eq!(a.acl.len(), 1);
        assert!(!a.remove_user("alice@pve"));
    }

    #[test]
    fn privsep_tokens_intersect() {
        let mut a = access();
        acl(&mut a, "/", "alice@pve", "PVEVMUser", true);
        let sep = Identity {
            user: "alice@pve".into(),
            token: Some("ci".into()),
        };
        let full = Identity {
            user: "alice@pve".into(),
            token: Some("full".into()),
        };
        assert!(!a.has(&sep, "/vms/100", "VM.Audit"));
        assert!(a.has(&full, "/vms/100", "VM.Audit"));
        acl(&mut a, "/", "alice@pve!ci", "Administrator", true);
        assert!(a.has(&sep, "/vms/100", "VM.Audit"));
        assert!(!a.has(&sep, "/vms/100", "VM.Allocate"));
        assert!(a.is_root(&Identity::root()));
        assert!(!a.is_root(&sep));
    }
}
