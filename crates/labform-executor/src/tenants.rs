//! Tenants on Proxmox: what apply must change so that each tenant of the plan has its user, its
//! privilege-separated API token and the ACL entries confining both to its pool, and so that
//! tenants gone from the lab lose what labform made for them. The naming convention is in
//! [`labform_planner::tenancy`].
//!
//! This module only decides ([`tenant_steps`], pure); the engine carries the steps out and keeps
//! each new token's secret in labform's secret store under [`token_store_key`]. Proxmox shows a
//! token's secret once, at creation: when the token exists but the store has no secret for it,
//! the token is deleted and made anew (the only way to get a usable secret again), and the
//! step says so.

use std::collections::BTreeSet;

use labform_planner::plan::Plan;
use labform_planner::tenancy::{
    TENANT_ROLE, TENANT_TOKEN_NAME, tenant_marker, tenant_of_user, tenant_token, tenant_user,
};
use labform_proxmox::types::{AclEntry, UserEntry};
use labform_secrets::{InvalidSecretKey, SecretKey};

/// A tenant as it must exist on one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedTenant {
    /// The lab's endpoint.
    pub endpoint: String,
    /// The tenant's name.
    pub tenant: String,
    /// Its Proxmox pool.
    pub pool: String,
}

/// Where the secret of tenant `tenant`'s token on endpoint `endpoint` is kept:
/// `proxmox-token/<scope>/<endpoint>/<tenant>`.
pub fn token_store_key(
    scope: &str,
    endpoint: &str,
    tenant: &str,
) -> Result<SecretKey, InvalidSecretKey> {
    SecretKey::new(format!("proxmox-token/{scope}/{endpoint}/{tenant}"))
}

/// The tenants of `plan` per endpoint: on every endpoint that holds VMs in the tenant's pool, or
/// on every endpoint of the plan when the tenant has no VM yet.
pub fn wanted_tenants(plan: &Plan) -> Vec<WantedTenant> {
    let mut wanted = Vec::new();
    for tenant in &plan.tenants {
        let mut endpoints: BTreeSet<&str> = plan
            .vms
            .iter()
            .filter(|vm| vm.pool.as_deref() == Some(tenant.pool.as_str()))
            .map(|vm| vm.endpoint.as_str())
            .collect();
        if endpoints.is_empty() {
            endpoints = plan
                .endpoints
                .iter()
                .map(|endpoint| endpoint.name.as_str())
                .collect();
        }
        for endpoint in endpoints {
            wanted.push(WantedTenant {
                endpoint: endpoint.to_owned(),
                tenant: tenant.name.clone(),
                pool: tenant.pool.clone(),
            });
        }
    }
    wanted
}

/// One change to Proxmox's users, tokens and ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantStep {
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
        /// Why, for the progress line.
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
}

/// A reason the tenants of an endpoint cannot be brought to the plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// A user with a tenant user's name exists, but labform did not make it.
    #[error(
        "Proxmox user `{userid}` (for tenant `{tenant}`) exists but was not made by labform (its comment does not start with `{marker}`); labform will not take it over: delete or rename it, or rename the tenant"
    )]
    NotOurs {
        /// The tenant.
        tenant: String,
        /// The user.
        userid: String,
        /// The marker its comment lacks.
        marker: String,
    },
    /// The tenant user's name is longer than Proxmox accepts.
    #[error(
        "the Proxmox user name `{userid}` for tenant `{tenant}` is longer than Proxmox's 64 characters; use a shorter scope or tenant name"
    )]
    TooLong {
        /// The tenant.
        tenant: String,
        /// The user.
        userid: String,
    },
}

/// Longest user id Proxmox accepts.
const MAXIMUM_USERID: usize = 64;

/// The steps that bring one endpoint's users, tokens and ACL to `wanted` (that endpoint's
/// tenants) for lab scope `scope`, given what the endpoint has (`users` with their tokens, `acl`)
/// and whether the store holds each tenant's token secret. Users of the scope's tenants that are
/// not wanted lose their ACL entries, tokens and user, in that order; nobody else's users,
/// tokens or ACL entries are touched.
pub fn tenant_steps(
    scope: &str,
    wanted: &[WantedTenant],
    users: &[UserEntry],
    acl: &[AclEntry],
    has_secret: &dyn Fn(&str) -> bool,
) -> (Vec<TenantStep>, Vec<TenantError>) {
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    let entries_of = |subject: &str| -> Vec<&AclEntry> {
        acl.iter().filter(|entry| entry.ugid == subject).collect()
    };
    for want in wanted {
        let userid = tenant_user(scope, &want.tenant);
        let token = tenant_token(scope, &want.tenant);
        if userid.len() > MAXIMUM_USERID {
            errors.push(TenantError::TooLong {
                tenant: want.tenant.clone(),
                userid,
            });
            continue;
        }
        let existing = users.iter().find(|user| user.userid == userid);
        match existing {
            None => steps.push(TenantStep::CreateUser {
                userid: userid.clone(),
                comment: format!(
                    "{} tenant {} (made by labform)",
                    tenant_marker(scope),
                    want.tenant
                ),
            }),
            Some(user)
                if tenant_of_user(scope, &user.userid, user.comment.as_deref()).is_none() =>
            {
                errors.push(TenantError::NotOurs {
                    tenant: want.tenant.clone(),
                    userid,
                    marker: tenant_marker(scope),
                });
                continue;
            }
            Some(_) => {}
        }
        let current_token = existing.and_then(|user| {
            user.tokens
                .iter()
                .find(|token| token.tokenid == TENANT_TOKEN_NAME)
        });
        let replace = |reason: &str, steps: &mut Vec<TenantStep>| {
            // Its entries go first, so a token made anew never inherits them.
            for entry in entries_of(&token) {
                steps.push(TenantStep::Acl {
                    grant: false,
                    path: entry.path.clone(),
                    role: entry.roleid.clone(),
                    subject: token.clone(),
                    token: true,
                });
            }
            steps.push(TenantStep::DeleteToken {
                tenant: want.tenant.clone(),
                userid: userid.clone(),
                tokenid: TENANT_TOKEN_NAME.to_owned(),
                reason: reason.to_owned(),
            });
        };
        let replaced = match current_token {
            None => false,
            Some(current) if !current.privilege_separated() => {
                replace(
                    "privilege separation is off; made anew with it on",
                    &mut steps,
                );
                true
            }
            Some(_) if !has_secret(&want.tenant) => {
                replace(
                    "its secret is not in labform's secret store, and Proxmox shows a secret only once: made anew",
                    &mut steps,
                );
                true
            }
            Some(_) => false,
        };
        if current_token.is_none() || replaced {
            steps.push(TenantStep::CreateToken {
                tenant: want.tenant.clone(),
                userid: userid.clone(),
            });
        }
        // ACL entries: exactly the role on the pool, propagating, for the user and the token.
        let path = format!("/pool/{}", want.pool);
        for (subject, is_token) in [(&userid, false), (&token, true)] {
            let current: Vec<&AclEntry> = if is_token && replaced {
                Vec::new()
            } else {
                entries_of(subject)
            };
            let is_wanted = |entry: &AclEntry| {
                entry.path == path && entry.roleid == TENANT_ROLE && entry.propagates()
            };
            for entry in current.iter().filter(|entry| !is_wanted(entry)) {
                steps.push(TenantStep::Acl {
                    grant: false,
                    path: entry.path.clone(),
                    role: entry.roleid.clone(),
                    subject: subject.clone(),
                    token: is_token,
                });
            }
            if !current.iter().any(|entry| is_wanted(entry)) {
                steps.push(TenantStep::Acl {
                    grant: true,
                    path: path.clone(),
                    role: TENANT_ROLE.to_owned(),
                    subject: subject.clone(),
                    token: is_token,
                });
            }
        }
    }
    // Tenants that left the lab.
    let kept: BTreeSet<&str> = wanted.iter().map(|want| want.tenant.as_str()).collect();
    for user in users {
        let Some(tenant) = tenant_of_user(scope, &user.userid, user.comment.as_deref()) else {
            continue;
        };
        if kept.contains(tenant) {
            continue;
        }
        let token_ids: Vec<String> = user
            .tokens
            .iter()
            .map(|token| format!("{}!{}", user.userid, token.tokenid))
            .collect();
        for subject in std::iter::once(&user.userid).chain(&token_ids) {
            for entry in entries_of(subject) {
                steps.push(TenantStep::Acl {
                    grant: false,
                    path: entry.path.clone(),
                    role: entry.roleid.clone(),
                    subject: subject.clone(),
                    token: subject.contains('!'),
                });
            }
        }
        for token in &user.tokens {
            steps.push(TenantStep::DeleteToken {
                tenant: tenant.to_owned(),
                userid: user.userid.clone(),
                tokenid: token.tokenid.clone(),
                reason: "the tenant left the lab".to_owned(),
            });
        }
        steps.push(TenantStep::DeleteUser {
            tenant: tenant.to_owned(),
            userid: user.userid.clone(),
        });
    }
    (steps, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use labform_proxmox::types::TokenEntry;

    fn want(tenant: &str) -> WantedTenant {
        WantedTenant {
            endpoint: "pve".into(),
            tenant: tenant.into(),
            pool: format!("lab-{tenant}"),
        }
    }

    fn user(userid: &str, comment: &str, tokens: &[(&str, bool)]) -> UserEntry {
        UserEntry {
            userid: userid.into(),
            comment: Some(comment.into()),
            enable: Some(true),
            tokens: tokens
                .iter()
                .map(|(tokenid, privsep)| TokenEntry {
                    tokenid: (*tokenid).into(),
                    privsep: Some(*privsep),
                    expire: Some(0),
                    comment: None,
                })
                .collect(),
        }
    }

    fn entry(path: &str, ugid: &str, role: &str) -> AclEntry {
        AclEntry {
            path: path.into(),
            kind: if ugid.contains('!') { "token" } else { "user" }.into(),
            ugid: ugid.into(),
            roleid: role.into(),
            propagate: Some(true),
        }
    }

    fn kinds(steps: &[TenantStep]) -> Vec<String> {
        steps
            .iter()
            .map(|step| format!("{} {}", step.kind(), step.target()))
            .collect()
    }

    #[test]
    fn a_new_tenant_gets_user_token_and_two_pool_entries() {
        let (steps, errors) = tenant_steps("lab", &[want("alice")], &[], &[], &|_| false);
        assert!(errors.is_empty());
        assert_eq!(
            kinds(&steps),
            [
                "create-tenant-user labform-lab-alice@pve",
                "create-tenant-token labform-lab-alice@pve!labform",
                "grant-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve",
                "grant-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve!labform",
            ]
        );
    }

    #[test]
    fn a_complete_tenant_needs_nothing_and_others_are_untouched() {
        let users = [
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
        let acl = [
            entry("/pool/lab-alice", "labform-lab-alice@pve", "PVEVMAdmin"),
            entry(
                "/pool/lab-alice",
                "labform-lab-alice@pve!labform",
                "PVEVMAdmin",
            ),
            entry("/", "bob@pve", "Administrator"),
        ];
        let (steps, errors) = tenant_steps("lab", &[want("alice")], &users, &acl, &|_| true);
        assert!(errors.is_empty());
        assert!(steps.is_empty(), "{steps:?}");
    }

    #[test]
    fn a_lost_secret_or_a_token_without_privilege_separation_is_made_anew() {
        let users = [user(
            "labform-lab-alice@pve",
            "labform:lab tenant alice",
            &[("labform", true)],
        )];
        let acl = [
            entry("/pool/lab-alice", "labform-lab-alice@pve", "PVEVMAdmin"),
            entry(
                "/pool/lab-alice",
                "labform-lab-alice@pve!labform",
                "PVEVMAdmin",
            ),
        ];
        let (steps, _) = tenant_steps("lab", &[want("alice")], &users, &acl, &|_| false);
        let described = kinds(&steps);
        assert_eq!(
            described[0],
            "revoke-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve!labform"
        );
        assert!(described[1].starts_with(
            "delete-tenant-token labform-lab-alice@pve!labform (its secret is not in labform's secret store"
        ));
        assert_eq!(
            &described[2..],
            [
                "create-tenant-token labform-lab-alice@pve!labform",
                "grant-tenant-acl /pool/lab-alice PVEVMAdmin labform-lab-alice@pve!labform",
            ]
        );
        let users = [user(
            "labform-lab-alice@pve",
            "labform:lab tenant alice",
            &[("labform", false)],
        )];
        let (steps, _) = tenant_steps("lab", &[want("alice")], &users, &acl, &|_| true);
        assert!(kinds(&steps)[1].contains("privilege separation is off"));
    }

    #[test]
    fn stale_entries_are_revoked_and_a_foreign_user_is_refused() {
        let users = [user(
            "labform-lab-alice@pve",
            "labform:lab tenant alice",
            &[("labform", true)],
        )];
        let acl = [
            entry("/", "labform-lab-alice@pve", "PVEVMAdmin"),
            entry("/pool/lab-alice", "labform-lab-alice@pve", "PVEVMAdmin"),
            entry(
                "/pool/lab-alice",
                "labform-lab-alice@pve!labform",
                "PVEVMAdmin",
            ),
        ];
        let (steps, _) = tenant_steps("lab", &[want("alice")], &users, &acl, &|_| true);
        assert_eq!(
            kinds(&steps),
            ["revoke-tenant-acl / PVEVMAdmin labform-lab-alice@pve"]
        );
        let users = [user("labform-lab-alice@pve", "someone's", &[])];
        let (steps, errors) = tenant_steps("lab", &[want("alice")], &users, &[], &|_| true);
        assert!(steps.is_empty());
        assert!(errors[0].to_string().contains("was not made by labform"));
    }

    #[test]
    fn a_tenant_that_left_loses_entries_token_and_user() {
        let users = [
            user(
                "labform-lab-bob@pve",
                "labform:lab tenant bob",
                &[("labform", true)],
            ),
            user("labform-lab-eve@pve", "made by hand", &[]),
        ];
        let acl = [
            entry("/pool/lab-bob", "labform-lab-bob@pve", "PVEVMAdmin"),
            entry("/pool/lab-bob", "labform-lab-bob@pve!labform", "PVEVMAdmin"),
            entry("/pool/lab-eve", "labform-lab-eve@pve", "PVEVMAdmin"),
        ];
        let (steps, errors) = tenant_steps("lab", &[], &users, &acl, &|_| true);
        assert!(errors.is_empty());
        assert_eq!(
            kinds(&steps),
            [
                "revoke-tenant-acl /pool/lab-bob PVEVMAdmin labform-lab-bob@pve",
                "revoke-tenant-acl /pool/lab-bob PVEVMAdmin labform-lab-bob@pve!labform",
                "delete-tenant-token labform-lab-bob@pve!labform (the tenant left the lab)",
                "delete-tenant-user labform-lab-bob@pve",
            ]
        );
    }
}
