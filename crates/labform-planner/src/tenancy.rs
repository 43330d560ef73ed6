//! How tenants are named on Proxmox. Each tenant gets one Proxmox user in the `pve` realm,
//! `labform-<scope>-<tenant>@pve`, whose comment starts with the marker `labform:<scope>`, and
//! one API token of that user, `labform`, with privilege separation. The user and the token are
//! granted `PVEVMAdmin` on `/pool/<tenant's pool>` only, so the token sees and operates the
//! tenant's VMs and nothing else. The planner prints these names; the executor makes them and
//! recognises the ones it made (name and marker) when a tenant leaves the lab.

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
