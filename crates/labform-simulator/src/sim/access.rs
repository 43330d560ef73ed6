//! Access endpoints: pools, users, API tokens and ACL entries, with
//! Proxmox's checks and error texts; and the random UUIDs used for secrets.

use super::*;
use labform_proxmox::endpoint;

pub(super) async fn pools(client: &SimClient) -> Result<Vec<PoolInfo>> {
    client
        .run(&endpoint::pools::POOLS, &[], async {
            let st = client.sim.lock();
            Ok(st
                .pools
                .iter()
                .filter(|(id, _)| st.has(&client.who, &format!("/pool/{id}"), "Pool.Audit"))
                .map(|(id, p)| PoolInfo {
                    poolid: id.clone(),
                    comment: p.comment.clone(),
                    members: Some(
                        p.vms
                            .iter()
                            .filter_map(|v| st.vms.get(v))
                            .map(|vm| PoolMember {
                                id: format!("qemu/{}", vm.vmid),
                                node: vm.node.clone(),
                                kind: "qemu".into(),
                                vmid: Some(u64::from(vm.vmid)),
                            })
                            .collect(),
                    ),
                })
                .collect())
        })
        .await
}

pub(super) async fn create_pool(
    client: &SimClient,
    poolid: &str,
    comment: Option<&str>,
) -> Result<()> {
    client.create_pool_checked(poolid, comment).await
}

pub(super) async fn create_user(client: &SimClient, req: &CreateUser) -> Result<()> {
    client
        .run(&endpoint::access::CREATE_USER, &[], async {
            let mut st = client.sim.lock();
            client.check(&st, "/access/groups", "User.Modify")?;
            let Some((name, realm)) = req.userid.split_once('@') else {
                return Err(ApiError::param(
                    "userid",
                    "invalid format - value does not look like a valid user ID",
                ));
            };
            if name.is_empty() || !matches!(realm, "pve" | "pam") {
                return Err(ApiError::param(
                    "userid",
                    "invalid format - value does not look like a valid user ID",
                ));
            }
            if st.access.users.contains_key(&req.userid) {
                return Err(e500(format!(
                    "create user failed: user '{}' already exists",
                    req.userid
                )));
            }
            st.access.users.insert(
                req.userid.clone(),
                User {
                    password: req.password.clone(),
                    enable: true,
                    comment: req.comment.clone(),
                },
            );
            Ok(())
        })
        .await
}

pub(super) async fn create_token(
    client: &SimClient,
    userid: &str,
    tokenid: &str,
    req: &CreateToken,
) -> Result<TokenCreated> {
    client
        .run(
            &endpoint::access::CREATE_TOKEN,
            &[&userid, &tokenid],
            async {
                let mut st = client.sim.lock();
                client.check_token_admin(&st, userid)?;
                let valid = tokenid
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && tokenid.len() >= 2
                    && tokenid
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                if !valid {
                    return Err(ApiError::param(
                        "tokenid",
                        "invalid format - invalid token ID",
                    ));
                }
                if !st.access.users.contains_key(userid) {
                    return Err(e500(format!("no such user ('{userid}')")));
                }
                let full = format!("{userid}!{tokenid}");
                if st.access.tokens.contains_key(&full) {
                    return Err(ApiError::param("tokenid", "Token already exists."));
                }
                let secret = random_uuid();
                st.access.tokens.insert(
                    full.clone(),
                    Token {
                        secret: Secret::new(secret.clone()),
                        privsep: req.privsep.unwrap_or(true),
                        expire: req.expire.unwrap_or(0),
                        comment: req.comment.clone(),
                    },
                );
                Ok(TokenCreated {
                    full_tokenid: full,
                    value: Secret::new(secret),
                })
            },
        )
        .await
}

pub(super) async fn update_acl(client: &SimClient, req: &AclUpdate) -> Result<()> {
    client
        .run(&endpoint::access::UPDATE_ACL, &[], async {
            let mut st = client.sim.lock();
            // `['perm-modify', '{path}']`: Permissions.Modify, or the path kind's allocation
            // privilege.
            if !client.may_modify_permissions(&st, &req.path) {
                return Err(e403(
                    &req.path,
                    &SimClient::permission_modify_privileges(&req.path).join("|"),
                ));
            }
            if req.users.is_empty() && req.tokens.is_empty() {
                let text = "either 'users', 'groups' or 'tokens' is required.";
                return Err(ApiError::params(
                    ["users", "groups", "tokens"]
                        .into_iter()
                        .map(|name| (name.to_owned(), text.to_owned()))
                        .collect(),
                ));
            }
            if !req.path.starts_with('/') {
                return Err(ApiError::param(
                    "path",
                    format!("invalid ACL path '{}'", req.path),
                ));
            }
            let failed = |text: String| e500(format!("ACL update failed: {text}"));
            for r in &req.roles {
                if !st.access.roles.contains_key(r) {
                    return Err(failed(format!("role '{r}' does not exist")));
                }
            }
            let mut subjects = Vec::new();
            for u in &req.users {
                if !st.access.users.contains_key(u) {
                    return Err(failed(format!("user '{u}' does not exist")));
                }
                subjects.push(u.clone());
            }
            for t in &req.tokens {
                let (user, name) = t.split_once('!').unwrap_or((t.as_str(), ""));
                if !st.access.users.contains_key(user) {
                    return Err(failed(format!("no such user ('{user}')")));
                }
                if !st.access.tokens.contains_key(t) {
                    return Err(failed(format!("no such token '{name}' for user '{user}'")));
                }
                subjects.push(t.clone());
            }
            for s in subjects {
                for r in &req.roles {
                    let e = AclEntry {
                        path: req.path.clone(),
                        subject: s.clone(),
                        role: r.clone(),
                        propagate: req.propagate,
                    };
                    st.access.acl.retain(|x| {
                        !(x.path == e.path && x.subject == e.subject && x.role == e.role)
                    });
                    if !req.delete {
                        st.access.acl.insert(e);
                    }
                }
            }
            Ok(())
        })
        .await
}

pub(super) async fn users(client: &SimClient) -> Result<Vec<UserEntry>> {
    let listed = client.users_list(true).await?;
    decode_listing("/access/users", listed)
}

pub(super) async fn delete_user(client: &SimClient, userid: &str) -> Result<()> {
    client
        .run(&endpoint::access::DELETE_USER, &[&userid], async {
            let mut st = client.sim.lock();
            client.check(&st, "/access/groups", "User.Modify")?;
            if !userid.contains('@') {
                return Err(ApiError::param(
                    "userid",
                    "invalid format - value does not look like a valid user ID",
                ));
            }
            if userid == "root@pam" {
                return Err(e500("delete user failed: refusing to delete root@pam"));
            }
            // Like Proxmox: the user's tokens go with it, and its and their ACL entries.
            st.access.remove_user(userid);
            Ok(())
        })
        .await
}

pub(super) async fn user_tokens(client: &SimClient, userid: &str) -> Result<Vec<TokenEntry>> {
    let listed = client.tokens_list(userid).await?;
    decode_listing(&format!("/access/users/{userid}/token"), listed)
}

pub(super) async fn delete_token(client: &SimClient, userid: &str, tokenid: &str) -> Result<()> {
    client
        .run(
            &endpoint::access::DELETE_TOKEN,
            &[&userid, &tokenid],
            async {
                let mut st = client.sim.lock();
                client.check_token_admin(&st, userid)?;
                if !st.access.users.contains_key(userid) {
                    return Err(e500(format!("no such user ('{userid}')")));
                }
                if !st.access.remove_token(&format!("{userid}!{tokenid}")) {
                    return Err(e500(format!(
                        "no such token '{tokenid}' for user '{userid}'"
                    )));
                }
                Ok(())
            },
        )
        .await
}

pub(super) async fn acl(client: &SimClient) -> Result<Vec<types::AclEntry>> {
    let listed = client.acl_list().await?;
    decode_listing("/access/acl", listed)
}

/// `GET /cluster/tasks`, typed.
pub(super) async fn cluster_tasks(client: &SimClient) -> Result<Vec<types::TaskEntry>> {
    let listed = client.list_tasks(None).await?;
    decode_listing("/cluster/tasks", listed)
}

/// A random UUID (v4) from the OS generator, for secrets.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap_or_else(|_| {
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = n.to_le_bytes();
    });
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A JSON listing of a `GET` endpoint as the typed entries the HTTP client would decode.
fn decode_listing<T: serde::de::DeserializeOwned>(
    path: &str,
    listed: Vec<serde_json::Value>,
) -> Result<Vec<T>> {
    serde_json::from_value(serde_json::Value::Array(listed)).map_err(|source| Error::Decode {
        method: "GET".to_owned(),
        path: path.to_owned(),
        source,
    })
}
