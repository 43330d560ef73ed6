//! Tenants on Proxmox: how they are named, and what must change so that they exist as planned.
//!
//! Each tenant gets one Proxmox user in the `pve` realm, `labform-<scope>-<tenant>@pve`, whose
//! comment starts with the marker `labform:<scope>`, and one API token of that user, `labform`,
//! with privilege separation. The user and the token are granted `PVEVMAdmin` on
//! `/pool/<tenant's pool>` only, so the token sees and operates the tenant's VMs and nothing
//! else. A tenant lives on the endpoints the plan says ([`PlannedTenant::endpoints`]).
//!
//! [`tenant_changes`] (pure, part of [`crate::reconcile::reconcile`]) compares the plan with the
//! users, tokens, ACL entries and pools discovery found, and with which token secrets labform's
//! secret store holds ([`TokenSecrets`], gathered by the caller: the store is not Proxmox). Proxmox
//! shows a token's secret once, at creation: when the token exists but the store has no secret
//! for it, the token is deleted and made anew. Users of the scope's tenants that left the lab lose
//! their ACL entries, tokens and user; users labform did not make (name and marker) are never
//! touched.

mod changes;

use labform_ids::EndpointName;
use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::plan::PlannedVm;

pub use changes::{tenant_changes, tenant_teardown};

/// The realm of tenant users: Proxmox's own user database.
pub const TENANT_REALM: &str = "pve";

/// The name of each tenant user's API token.
pub const TENANT_TOKEN_NAME: &str = "labform";

/// The role tenant users and tokens get on their pool.
pub const TENANT_ROLE: &str = "PVEVMAdmin";

/// The user name prefix (before the tenant's name) of scope `scope`'s tenant users.
pub fn tenant_user_prefix(scope: &str) -> String {
    format!("labform-{scope}-")
}

/// The Proxmox user of tenant `tenant` in lab scope `scope`: `labform-<scope>-<tenant>@pve`.
pub fn tenant_user(scope: &str, tenant: &str) -> String {
    format!("{}{tenant}@{TENANT_REALM}", tenant_user_prefix(scope))
}

/// The full API token id of tenant `tenant`: `labform-<scope>-<tenant>@pve!labform`.
pub fn tenant_token(scope: &str, tenant: &str) -> String {
    format!("{}!{TENANT_TOKEN_NAME}", tenant_user(scope, tenant))
}

/// The first word of the comment of every tenant user scope `scope` made.
pub fn tenant_marker(scope: &str) -> String {
    format!("labform:{scope}")
}

/// The tenant a Proxmox user belongs to, when it is one scope `scope` made: its name follows
/// [`tenant_user`] and its comment starts with [`tenant_marker`]. Users of other scopes (whose
/// names may share the prefix) and users made by people are never recognised.
pub fn tenant_of_user<'a>(scope: &str, userid: &'a str, comment: Option<&str>) -> Option<&'a str> {
    let marker = tenant_marker(scope);
    let marked = comment
        .and_then(|comment| comment.split_whitespace().next())
        .is_some_and(|first| first == marker);
    let tenant = userid
        .strip_prefix(&tenant_user_prefix(scope))?
        .strip_suffix(&format!("@{TENANT_REALM}"))?;
    (marked && !tenant.is_empty()).then_some(tenant)
}

/// Longest user id Proxmox accepts.
const MAXIMUM_USERID: usize = 64;

/// The endpoints tenant `pool`'s owner lives on: every endpoint that holds VMs in its pool, or
/// every endpoint of the plan (`endpoints`, in plan order) when it has no VM.
pub fn tenant_endpoints(
    pool: &str,
    vms: &[PlannedVm],
    endpoints: &[EndpointName],
) -> Vec<EndpointName> {
    let holding: BTreeSet<&str> = vms
        .iter()
        .filter(|vm| vm.pool.as_deref() == Some(pool))
        .map(|vm| vm.endpoint.as_str())
        .collect();
    if holding.is_empty() {
        endpoints.to_vec()
    } else {
        holding.into_iter().map(EndpointName::from).collect()
    }
}

/// Which tenants' API token secrets labform's secret store holds, per endpoint. The caller reads
/// the store before reconciling; the planner never does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSecrets {
    held: BTreeSet<(String, String)>,
}

impl TokenSecrets {
    /// No secret held.
    pub fn none() -> Self {
        Self::default()
    }

    /// Records that the store holds the token secret of `tenant` on `endpoint`.
    pub fn insert(&mut self, endpoint: &str, tenant: &str) {
        self.held.insert((endpoint.to_owned(), tenant.to_owned()));
    }

    /// Whether the store holds the token secret of `tenant` on `endpoint`.
    pub fn holds(&self, endpoint: &str, tenant: &str) -> bool {
        self.held
            .contains(&(endpoint.to_owned(), tenant.to_owned()))
    }
}

/// One change to an endpoint's pools, users, tokens or ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum TenantStep {
    /// `POST /pools`: a pool the plan's VMs or tenants need.
    CreatePool {
        /// The pool.
        pool: String,
    },
    /// `POST /access/users` of a tenant user with its marker comment.
    CreateUser {
        /// `labform-<scope>-<tenant>@pve`.
        userid: String,
        /// Starts with the scope's marker.
        comment: String,
    },
    /// `POST /access/users/{userid}/token/labform` with `privsep=1`; the secret goes to the store.
    CreateToken {
        /// The tenant.
        tenant: String,
        /// Its user.
        userid: String,
    },
    /// `DELETE /access/users/{userid}/token/{tokenid}`.
    DeleteToken {
        /// The tenant.
        tenant: String,
        /// Its user.
        userid: String,
        /// The token's name.
        tokenid: String,
        /// Why.
        reason: String,
    },
    /// `PUT /access/acl` adding (`grant`) or removing one entry.
    Acl {
        /// Add or remove.
        grant: bool,
        /// `/pool/<pool>`, or wherever a stale entry is.
        path: String,
        /// The role.
        role: String,
        /// `user@pve` or `user@pve!token`.
        subject: String,
        /// Whether the subject is a token.
        token: bool,
    },
    /// `DELETE /access/users/{userid}`, then the token secret leaves the store.
    DeleteUser {
        /// The tenant.
        tenant: String,
        /// Its user.
        userid: String,
    },
}

impl TenantStep {
    /// The action kind of the progress line and the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            TenantStep::CreatePool { .. } => "create-pool",
            TenantStep::CreateUser { .. } => "create-tenant-user",
            TenantStep::CreateToken { .. } => "create-tenant-token",
            TenantStep::DeleteToken { .. } => "delete-tenant-token",
            TenantStep::Acl { grant: true, .. } => "grant-tenant-acl",
            TenantStep::Acl { grant: false, .. } => "revoke-tenant-acl",
            TenantStep::DeleteUser { .. } => "delete-tenant-user",
        }
    }

    /// What the step acts on, for the progress line and the journal (never a secret).
    pub fn target(&self) -> String {
        match self {
            TenantStep::CreatePool { pool } => pool.clone(),
            TenantStep::CreateUser { userid, .. } | TenantStep::DeleteUser { userid, .. } => {
                userid.clone()
            }
            TenantStep::CreateToken { userid, .. } => format!("{userid}!{TENANT_TOKEN_NAME}"),
            TenantStep::DeleteToken {
                userid,
                tokenid,
                reason,
                ..
            } => format!("{userid}!{tokenid} ({reason})"),
            TenantStep::Acl {
                path,
                role,
                subject,
                ..
            } => format!("{path} {role} {subject}"),
        }
    }

    /// Whether it removes something.
    pub fn is_removal(&self) -> bool {
        matches!(
            self,
            TenantStep::DeleteToken { .. }
                | TenantStep::DeleteUser { .. }
                | TenantStep::Acl { grant: false, .. }
        )
    }
}

/// A change on one endpoint, in the order apply carries them out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantChange {
    /// The lab's endpoint.
    pub endpoint: EndpointName,
    /// Puts back what someone changed on Proxmox to a tenant labform made (a deleted user, token
    /// or ACL entry, an entry added by hand, privilege separation turned off); a tenant new to
    /// the lab, one that left, and a secret lost from the store are the lab's own changes.
    pub drift: bool,
    /// What changes.
    #[serde(flatten)]
    pub step: TenantStep,
}

/// Why a tenant cannot be brought to the plan on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum TenantConflictReason {
    /// A user with the tenant user's name exists, but labform did not make it.
    NotOurs,
    /// The tenant user's name is longer than Proxmox accepts.
    TooLong,
}

/// A tenant that cannot be brought to the plan on an endpoint: apply leaves it alone and fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantConflict {
    /// The lab's endpoint.
    pub endpoint: EndpointName,
    /// The tenant.
    pub tenant: String,
    /// Its user.
    pub userid: String,
    /// Why.
    #[serde(flatten)]
    pub reason: TenantConflictReason,
    /// The marker of the scope's users.
    pub marker: String,
}

impl fmt::Display for TenantConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            TenantConflictReason::NotOurs => write!(
                f,
                "Proxmox user `{}` (for tenant `{}`) exists but was not made by labform (its comment does not start with `{}`); labform will not take it over: delete or rename it, or rename the tenant",
                self.userid, self.tenant, self.marker
            ),
            TenantConflictReason::TooLong => write!(
                f,
                "the Proxmox user name `{}` for tenant `{}` is longer than Proxmox's 64 characters; use a shorter scope or tenant name",
                self.userid, self.tenant
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_recognition() {
        assert_eq!(tenant_user("lab", "alice"), "labform-lab-alice@pve");
        assert_eq!(
            tenant_token("lab", "alice"),
            "labform-lab-alice@pve!labform"
        );
        let comment = format!("{} tenant alice", tenant_marker("lab"));
        assert_eq!(
            tenant_of_user("lab", "labform-lab-alice@pve", Some(&comment)),
            Some("alice")
        );
        // No marker, another scope's marker, another realm: not ours.
        assert_eq!(tenant_of_user("lab", "labform-lab-alice@pve", None), None);
        assert_eq!(
            tenant_of_user("lab", "labform-lab-alice@pve", Some("made by hand")),
            None
        );
        assert_eq!(
            tenant_of_user(
                "lab",
                "labform-lab-x-alice@pve",
                Some("labform:lab-x tenant alice")
            ),
            None
        );
        assert_eq!(
            tenant_of_user("lab", "labform-lab-alice@pam", Some(&comment)),
            None
        );
    }
}
