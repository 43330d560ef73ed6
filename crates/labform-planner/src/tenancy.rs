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

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::inventory::{Inventory, ObservedAccess, ObservedAclEntry};
use crate::plan::{Plan, PlannedTenant, PlannedVm};

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
pub fn tenant_endpoints(pool: &str, vms: &[PlannedVm], endpoints: &[String]) -> Vec<String> {
    let holding: BTreeSet<&str> = vms
        .iter()
        .filter(|vm| vm.pool.as_deref() == Some(pool))
        .map(|vm| vm.endpoint.as_str())
        .collect();
    if holding.is_empty() {
        endpoints.to_vec()
    } else {
        holding.into_iter().map(str::to_owned).collect()
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
    pub endpoint: String,
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
    pub endpoint: String,
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

/// What must change on every endpoint of `plan` so that its pools and tenants exist as planned,
/// given what `inventory` found and which token secrets the store holds (`secrets`): pools
/// first, then per endpoint (in plan order) its tenants' users, tokens and ACL entries, then the
/// removal of tenants that left.
pub fn tenant_changes(
    plan: &Plan,
    inventory: &Inventory,
    secrets: &TokenSecrets,
) -> (Vec<TenantChange>, Vec<TenantConflict>) {
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    let empty = ObservedAccess::default();
    let access_of = |endpoint: &str| {
        inventory
            .access
            .iter()
            .find(|access| access.endpoint == endpoint)
            .unwrap_or(&empty)
    };
    // Pools: the VMs' and the tenants', on their endpoints.
    let mut pools: Vec<(&str, &str)> = plan
        .vms
        .iter()
        .filter_map(|vm| Some((vm.endpoint.as_str(), vm.pool.as_deref()?)))
        .chain(plan.tenants.iter().flat_map(|tenant| {
            tenant
                .endpoints
                .iter()
                .map(|endpoint| (endpoint.as_str(), tenant.pool.as_str()))
        }))
        .collect();
    pools.sort();
    pools.dedup();
    for (endpoint, pool) in pools {
        if !access_of(endpoint).pools.iter().any(|found| found == pool) {
            let established = plan.tenants.iter().any(|tenant| {
                tenant.pool == pool
                    && established(
                        &plan.scope,
                        &tenant.name,
                        endpoint,
                        access_of(endpoint),
                        secrets,
                    )
            });
            changes.push(TenantChange {
                endpoint: endpoint.to_owned(),
                drift: established,
                step: TenantStep::CreatePool {
                    pool: pool.to_owned(),
                },
            });
        }
    }
    let mut endpoints: Vec<&str> = plan
        .endpoints
        .iter()
        .map(|endpoint| endpoint.name.as_str())
        .collect();
    for access in &inventory.access {
        if !endpoints.contains(&access.endpoint.as_str()) {
            endpoints.push(&access.endpoint);
        }
    }
    for endpoint in endpoints {
        let wanted: Vec<&PlannedTenant> = plan
            .tenants
            .iter()
            .filter(|tenant| tenant.endpoints.iter().any(|here| here == endpoint))
            .collect();
        let (steps, found) =
            endpoint_steps(&plan.scope, endpoint, &wanted, access_of(endpoint), secrets);
        changes.extend(steps);
        conflicts.extend(found);
    }
    (changes, conflicts)
}

/// Removing every tenant user of `scope` in `inventory`, with its tokens and ACL entries (destroy).
pub fn tenant_teardown(inventory: &Inventory, scope: &str) -> Vec<TenantChange> {
    let mut changes = Vec::new();
    for access in &inventory.access {
        let (steps, _) =
            endpoint_steps(scope, &access.endpoint, &[], access, &TokenSecrets::none());
        changes.extend(steps);
    }
    changes
}

/// Whether labform made tenant `tenant` on `endpoint` before: its user is there with the scope's
/// marker, or the store holds its token's secret.
fn established(
    scope: &str,
    tenant: &str,
    endpoint: &str,
    access: &ObservedAccess,
    secrets: &TokenSecrets,
) -> bool {
    let userid = tenant_user(scope, tenant);
    secrets.holds(endpoint, tenant)
        || access.users.iter().any(|user| {
            user.userid == userid
                && tenant_of_user(scope, &user.userid, user.comment.as_deref()).is_some()
        })
}

/// The changes that bring one endpoint's users, tokens and ACL to `wanted` (that endpoint's
/// tenants). Users of the scope's tenants that are not wanted lose their ACL entries, tokens and
/// user, in that order; nobody else's users, tokens or ACL entries are touched.
fn endpoint_steps(
    scope: &str,
    endpoint: &str,
    wanted: &[&PlannedTenant],
    access: &ObservedAccess,
    secrets: &TokenSecrets,
) -> (Vec<TenantChange>, Vec<TenantConflict>) {
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    let entries_of = |subject: &str| -> Vec<&ObservedAclEntry> {
        access
            .acl
            .iter()
            .filter(|entry| entry.subject == subject)
            .collect()
    };
    for want in wanted {
        let mut push = |drift: bool, step: TenantStep| {
            changes.push(TenantChange {
                endpoint: endpoint.to_owned(),
                drift,
                step,
            })
        };
        let userid = tenant_user(scope, &want.name);
        let token = tenant_token(scope, &want.name);
        if userid.len() > MAXIMUM_USERID {
            conflicts.push(TenantConflict {
                endpoint: endpoint.to_owned(),
                tenant: want.name.clone(),
                userid,
                reason: TenantConflictReason::TooLong,
                marker: tenant_marker(scope),
            });
            continue;
        }
        let drift = established(scope, &want.name, endpoint, access, secrets);
        let existing = access.users.iter().find(|user| user.userid == userid);
        match existing {
            None => push(
                drift,
                TenantStep::CreateUser {
                    userid: userid.clone(),
                    comment: format!(
                        "{} tenant {} (made by labform)",
                        tenant_marker(scope),
                        want.name
                    ),
                },
            ),
            Some(user)
                if tenant_of_user(scope, &user.userid, user.comment.as_deref()).is_none() =>
            {
                conflicts.push(TenantConflict {
                    endpoint: endpoint.to_owned(),
                    tenant: want.name.clone(),
                    userid,
                    reason: TenantConflictReason::NotOurs,
                    marker: tenant_marker(scope),
                });
                continue;
            }
            Some(_) => {}
        }
        let current_token = existing.and_then(|user| {
            user.tokens
                .iter()
                .find(|token| token.name == TENANT_TOKEN_NAME)
        });
        let replace = |reason: &str, drift: bool, push: &mut dyn FnMut(bool, TenantStep)| {
            // Its entries go first, so a token made anew never inherits them.
            for entry in entries_of(&token) {
                push(
                    drift,
                    TenantStep::Acl {
                        grant: false,
                        path: entry.path.clone(),
                        role: entry.role.clone(),
                        subject: token.clone(),
                        token: true,
                    },
                );
            }
            push(
                drift,
                TenantStep::DeleteToken {
                    tenant: want.name.clone(),
                    userid: userid.clone(),
                    tokenid: TENANT_TOKEN_NAME.to_owned(),
                    reason: reason.to_owned(),
                },
            );
        };
        let (replaced, token_drift) = match current_token {
            None => (false, drift),
            Some(current) if !current.privilege_separated => {
                replace(
                    "privilege separation is off; made anew with it on",
                    true,
                    &mut push,
                );
                (true, true)
            }
            Some(_) if !secrets.holds(endpoint, &want.name) => {
                replace(
                    "its secret is not in labform's secret store, and Proxmox shows a secret only once: made anew",
                    false,
                    &mut push,
                );
                (true, false)
            }
            Some(_) => (false, false),
        };
        if current_token.is_none() || replaced {
            push(
                token_drift,
                TenantStep::CreateToken {
                    tenant: want.name.clone(),
                    userid: userid.clone(),
                },
            );
        }
        // ACL entries: exactly the role on the pool, propagating, for the user and the token.
        let path = format!("/pool/{}", want.pool);
        for (subject, is_token) in [(&userid, false), (&token, true)] {
            let current: Vec<&ObservedAclEntry> = if is_token && replaced {
                Vec::new()
            } else {
                entries_of(subject)
            };
            let is_wanted = |entry: &ObservedAclEntry| {
                entry.path == path && entry.role == TENANT_ROLE && entry.propagate
            };
            for entry in current.iter().filter(|entry| !is_wanted(entry)) {
                push(
                    true,
                    TenantStep::Acl {
                        grant: false,
                        path: entry.path.clone(),
                        role: entry.role.clone(),
                        subject: subject.clone(),
                        token: is_token,
                    },
                );
            }
            if !current.iter().any(|entry| is_wanted(entry)) {
                push(
                    if is_token && replaced {
                        token_drift
                    } else {
                        drift
                    },
                    TenantStep::Acl {
                        grant: true,
                        path: path.clone(),
                        role: TENANT_ROLE.to_owned(),
                        subject: subject.clone(),
                        token: is_token,
                    },
                );
            }
        }
    }
    // Tenants that left the lab.
    let kept: BTreeSet<&str> = wanted.iter().map(|want| want.name.as_str()).collect();
    for user in &access.users {
        let Some(tenant) = tenant_of_user(scope, &user.userid, user.comment.as_deref()) else {
            continue;
        };
        if kept.contains(tenant) {
            continue;
        }
        let mut push = |step: TenantStep| {
            changes.push(TenantChange {
                endpoint: endpoint.to_owned(),
                drift: false,
                step,
            })
        };
        let token_ids: Vec<String> = user
            .tokens
            .iter()
            .map(|token| format!("{}!{}", user.userid, token.name))
            .collect();
        for subject in std::iter::once(&user.userid).chain(&token_ids) {
            for entry in entries_of(subject) {
                push(TenantStep::Acl {
                    grant: false,
                    path: entry.path.clone(),
                    role: entry.role.clone(),
                    subject: subject.clone(),
                    token: subject.contains('!'),
                });
            }
        }
        for token in &user.tokens {
            push(TenantStep::DeleteToken {
                tenant: tenant.to_owned(),
                userid: user.userid.clone(),
                tokenid: token.name.clone(),
                reason: "the tenant left the lab".to_owned(),
            });
        }
        push(TenantStep::DeleteUser {
            tenant: tenant.to_owned(),
            userid: user.userid.clone(),
        });
    }
    (changes, conflicts)
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

    use crate::inventory::{ObservedToken, ObservedUser};

    fn want(tenant: &str) -> PlannedTenant {
        PlannedTenant {
            name: tenant.into(),
            endpoints: vec!["pve".into()],
            pool: format!("lab-{tenant}"),
            api_token: tenant_token("lab", tenant),
            clusters: Vec::new(),
            services: Vec::new(),
        }
    }

    fn user(userid: &str, comment: &str, tokens: &[(&str, bool)]) -> ObservedUser {
        ObservedUser {
            userid: userid.into(),
            comment: Some(comment.into()),
            tokens: tokens
                .iter()
                .map(|(name, privilege_separated)| ObservedToken {
                    name: (*name).into(),
                    privilege_separated: *privilege_separated,
                })
                .collect(),
        }
    }

    fn entry(path: &str, subject: &str, role: &str) -> ObservedAclEntry {
        ObservedAclEntry {
            path: path.into(),
            subject: subject.into(),
            role: role.into(),
            propagate: true,
        }
    }

    fn access(users: Vec<ObservedUser>, acl: Vec<ObservedAclEntry>) -> ObservedAccess {
        ObservedAccess {
            endpoint: "pve".into(),
            pools: Vec::new(),
            users,
            acl,
        }
    }

    fn held(tenants: &[&str]) -> TokenSecrets {
        let mut secrets = TokenSecrets::none();
        for tenant in tenants {
            secrets.insert("pve", tenant);
        }
        secrets
    }

    fn steps(
        wanted: &[PlannedTenant],
        access: &ObservedAccess,
        secrets: &TokenSecrets,
    ) -> (Vec<String>, Vec<TenantConflict>) {
        let wanted: Vec<&PlannedTenant> = wanted.iter().collect();
        let (changes, conflicts) = endpoint_steps("lab", "pve", &wanted, access, secrets);
        let described = changes
            .iter()
            .map(|change| {
                format!(
                    "{} {}{}",
                    change.step.kind(),
                    change.step.target(),
                    if change.drift { " [drift]" } else { "" }
                )
            })
            .collect();
        (described, conflicts)
    }

    #[test]
    fn a_new_tenant_gets_user_token_and_two_pool_entries() {
        let (steps, conflicts) = steps(&[want("alice")], &access(vec![], vec![]), &held(&[]));
        assert!(conflicts.is_empty());
        assert_eq!(
            steps,
            [
                "create-tenant-user labform-lab-alice@pve",
                "create-tenant-token labform-lab-alice@pve!labform",
                "grant-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve",
                "grant-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve!labform",
            ]
        );
    }

    #[test]
    fn a_user_deleted_by_hand_is_made_again_as_drift() {
        // The store still holds the token's secret: labform made this tenant before.
        let (steps, _) = steps(&[want("alice")], &access(vec![], vec![]), &held(&["alice"]));
        assert_eq!(
            steps,
            [
                "create-tenant-user labform-lab-alice@pve [drift]",
                "create-tenant-token labform-lab-alice@pve!labform [drift]",
                "grant-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve [drift]",
                "grant-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve!labform [drift]",
            ]
        );
    }

    #[test]
    fn a_complete_tenant_needs_nothing_and_others_are_untouched() {
        let users = vec![
            user(
                "labform-lab-alice@pve",
                "labform:lab tenant alice",
                &[("labform", true)],
            ),
            user("bob@pve", "made by hand", &[("ci", true)]),
            user(
                "labform-lab-x-carol@pve",
                "labform:lab-x tenant carol",
                &[("labform", true)],
            ),
        ];
        let acl = vec![
            entry("/pool/lab-alice", "labform-lab-alice@pve", "PVEVMAdmin"),
            entry(
                "/pool/lab-alice",
                "labform-lab-alice@pve!labform",
                "PVEVMAdmin",
            ),
            entry("/", "bob@pve", "Administrator"),
        ];
        let (steps, conflicts) = steps(&[want("alice")], &access(users, acl), &held(&["alice"]));
        assert!(conflicts.is_empty());
        assert!(steps.is_empty(), "{steps:?}");
    }

    #[test]
    fn a_lost_secret_or_a_token_without_privilege_separation_is_made_anew() {
        let users = vec![user(
            "labform-lab-alice@pve",
            "labform:lab tenant alice",
            &[("labform", true)],
        )];
        let acl = vec![
            entry("/pool/lab-alice", "labform-lab-alice@pve", "PVEVMAdmin"),
            entry(
                "/pool/lab-alice",
                "labform-lab-alice@pve!labform",
                "PVEVMAdmin",
            ),
        ];
        let (described, _) = steps(&[want("alice")], &access(users, acl.clone()), &held(&[]));
        assert_eq!(
            described[0],
            "revoke-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve!labform"
        );
        assert!(described[1].starts_with(
            "delete-tenant-token labform-lab-alice@pve!labform (its secret is not in labform's secret store"
        ));
        // A lost secret is not Proxmox drift.
        assert!(!described[1].ends_with("[drift]"));
        assert_eq!(
            &described[2..],
            [
                "create-tenant-token labform-lab-alice@pve!labform",
                "grant-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve!labform",
            ]
        );
        let users = vec![user(
            "labform-lab-alice@pve",
            "labform:lab tenant alice",
            &[("labform", false)],
        )];
        let (described, _) = steps(&[want("alice")], &access(users, acl), &held(&["alice"]));
        assert!(described[1].contains("privilege separation is off"));
        assert!(described[1].ends_with("[drift]"));
    }

    #[test]
    fn stale_entries_are_revoked_and_a_foreign_user_is_refused() {
        let users = vec![user(
            "labform-lab-alice@pve",
            "labform:lab tenant alice",
            &[("labform", true)],
        )];
        let acl = vec![
            entry("/", "labform-lab-alice@pve", "PVEVMAdmin"),
            entry("/pool/lab-alice", "labform-lab-alice@pve", "PVEVMAdmin"),
            entry(
                "/pool/lab-alice",
                "labform-lab-alice@pve!labform",
                "PVEVMAdmin",
            ),
        ];
        let (described, _) = steps(&[want("alice")], &access(users, acl), &held(&["alice"]));
        assert_eq!(
            described,
            ["revoke-tenant-acl / PVEVMAdmin labform-lab-alice@pve [drift]"]
        );
        let users = vec![user("labform-lab-alice@pve", "someone's", &[])];
        let (described, conflicts) =
            steps(&[want("alice")], &access(users, vec![]), &held(&["alice"]));
        assert!(described.is_empty());
        assert!(conflicts[0].to_string().contains("was not made by labform"));
    }

    #[test]
    fn a_tenant_that_left_loses_entries_token_and_user() {
        let users = vec![
            user(
                "labform-lab-bob@pve",
                "labform:lab tenant bob",
                &[("labform", true)],
            ),
            user("labform-lab-eve@pve", "made by hand", &[]),
        ];
        let acl = vec![
            entry("/pool/lab-bob", "labform-lab-bob@pve", "PVEVMAdmin"),
            entry("/pool/lab-bob", "labform-lab-bob@pve!labform", "PVEVMAdmin"),
            entry("/pool/lab-eve", "labform-lab-eve@pve", "PVEVMAdmin"),
        ];
        let (described, conflicts) = steps(&[], &access(users, acl), &held(&["bob"]));
        assert!(conflicts.is_empty());
        assert_eq!(
            described,
            [
                "revoke-tenant-acl /pool/lab-bob PVEVMAdmin labform-lab-bob@pve",
                "revoke-tenant-acl /pool/lab-bob PVEVMAdmin labform-lab-bob@pve!labform",
                "delete-tenant-token labform-lab-bob@pve!labform (the tenant left the lab)",
                "delete-tenant-user labform-lab-bob@pve",
            ]
        );
    }

    #[test]
    fn a_tenant_lives_where_its_vms_are_or_everywhere() {
        let endpoints = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(tenant_endpoints("lab-alice", &[], &endpoints), endpoints);
    }
}
