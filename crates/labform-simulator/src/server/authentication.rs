//! Who is calling: a ticket cookie (with its CSRF token on anything but
//! `GET`) or an API token header, and the `/access/ticket` login that hands
//! out tickets.

use super::*;

/// An authenticated caller.
pub(super) enum Caller {
    /// A user with a valid ticket.
    Ticket(String),
    /// An API token.
    Token(Identity),
}

/// The caller of a request: its ticket (and CSRF token unless `GET`) or API token.
pub(super) fn authenticate(
    app: &App,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Caller, Outcome> {
    let now = unix_now();
    let mut ticket = None;
    for v in headers.get_all("cookie") {
        for c in v.to_str().unwrap_or("").split(';') {
            if let Some(t) = c.trim().strip_prefix("PVEAuthCookie=") {
                ticket = Some(percent_decode(t, false));
            }
        }
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|s| percent_decode(s, false));
    if ticket.is_none()
        && let Some(t) = auth
            .as_deref()
            .and_then(|a| a.strip_prefix("PVEAuthCookie="))
    {
        ticket = Some(t.to_owned());
    }
    if let Some(t) = ticket {
        let user = app
            .tickets
            .verify_ticket(&t, now)
            .ok_or_else(|| Outcome::unauthorized("permission denied - invalid PVE ticket"))?;
        if method != Method::GET {
            let csrf = headers
                .get("csrfpreventiontoken")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !app.tickets.verify_csrf(csrf, &user, now) {
                return Err(Outcome::unauthorized(
                    "Permission denied - invalid csrf token",
                ));
            }
        }
        return Ok(Caller::Ticket(user));
    }
    if let Some(a) = auth.as_deref()
        && let Some(rest) = a
            .strip_prefix("PVEAPIToken=")
            .or_else(|| a.strip_prefix("PVEAPIToken "))
    {
        let (id, secret) = rest
            .rsplit_once('=')
            .ok_or_else(|| Outcome::unauthorized("Authentication failed!"))?;
        return app
            .sim
            .check_token(id, secret)
            .map(Caller::Token)
            .ok_or_else(|| Outcome::unauthorized("Authentication failed!"));
    }
    Err(Outcome::unauthorized("No ticket"))
}

/// `POST /access/ticket`: a ticket and CSRF token for a password, or a renewed ticket for a ticket.
pub(super) fn login(app: &App, map: &BTreeMap<String, String>) -> Outcome {
    let mut user = map.get("username").cloned().unwrap_or_default();
    if !user.contains('@')
        && let Some(realm) = map.get("realm")
    {
        user = format!("{user}@{realm}");
    }
    let password = map.get("password").cloned().unwrap_or_default();
    let now = unix_now();
    let renewed = app
        .tickets
        .verify_ticket(&password, now)
        .is_some_and(|u| u == user);
    if !renewed && !app.sim.check_password(&user, &password) {
        let mut o = Outcome::err(&ApiError::new(401, "authentication failure"));
        o.delay = true;
        return o;
    }
    let ticket = app.tickets.ticket(&user, now);
    let csrf = app.tickets.csrf(&user, now);
    Outcome::ok(serde_json::json!({
        "username": user,
        "ticket": ticket.expose(),
        "CSRFPreventionToken": csrf.expose(),
        "cap": {"vms": {}, "storage": {}, "access": {}, "nodes": {}, "dc": {}, "sdn": {}, "mapping": {}},
        "clustername": app.sim.config().cluster_name,
    }))
}
