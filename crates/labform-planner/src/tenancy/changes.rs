//! The pure decision of what must change on each endpoint for the plan's pools and tenants
//! ([`tenant_changes`]), and for destroy ([`tenant_teardown`]); see the parent module for the
//! rules.

use std::collections::BTreeSet;

use super::*;
use crate::inventory::{Inventory, ObservedAccess, ObservedAclEntry};
use crate::plan::{Plan, PlannedTenant};

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
                endpoint: endpoint.to_owned().into(),
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
                endpoint: endpoint.to_owned().into(),
                drift,
                step,
            })
        };
        let userid = tenant_user(scope, &want.name);
        let token = tenant_token(scope, &want.name);
        if userid.len() > MAXIMUM_USERID {
            conflicts.push(TenantConflict {
                endpoint: endpoint.to_owned().into(),
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
                    endpoint: endpoint.to_owned().into(),
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
                endpoint: endpoint.to_owned().into(),
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

    use crate::inventory::{ObservedToken, ObservedUser};

    fn want(tenant: &str) -> PlannedTenant {
        PlannedTenant {
            name: tenant.into(),
            endpoints: vec!["pve".into()],
            pool: format!("lab-{tenant}").into(),
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
            backup_jobs: Vec::new(),
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
        let endpoints = vec![EndpointName::from("a"), EndpointName::from("b")];
        assert_eq!(tenant_endpoints("lab-alice", &[], &endpoints), endpoints);
    }
}
