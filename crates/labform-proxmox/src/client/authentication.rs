//! Ticket authentication: logging in with the password, and renewing the
//! ticket (with its CSRF token) before it expires.

use super::*;

/// A ticket, its CSRF token, and when it was obtained.
pub(super) struct TicketState {
    ticket: Secret,
    csrf: Secret,
    obtained: Instant,
}

impl Client {
    /// Logs in with a password (`POST /access/ticket`).
    pub(super) async fn login(&self, username: &str, password: &Secret) -> Result<TicketState> {
        let url = self.url(&["access", "ticket"]);
        let form = [("username", username), ("password", password.expose())];
        let resp = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|source| Error::Transport {
                method: "POST".into(),
                path: "/access/ticket".into(),
                source,
            })?;
        let env = decode_response(resp, "POST", "/access/ticket").await?;
        let t: Ticket = serde_json::from_value(env.data).map_err(|source| Error::Decode {
            method: "POST".into(),
            path: "/access/ticket".into(),
            source,
        })?;
        Ok(TicketState {
            ticket: t.ticket,
            csrf: t.csrf_token,
            obtained: Instant::now(),
        })
    }

    /// Ensures a valid ticket (log in or renew). Returns (ticket, csrf).
    pub(super) async fn ticket(&self, force_login: bool) -> Result<Option<(Secret, Secret)>> {
        let Auth::Password { username, password } = &self.opts.auth else {
            return Ok(None);
        };
        let mut guard = self.ticket.lock().await;
        let state = match guard.take() {
            Some(s) if !force_login && s.obtained.elapsed() < self.opts.ticket_renew_after => s,
            Some(s) if !force_login => match self.login(username, &s.ticket).await {
                Ok(renewed) => renewed,
                Err(_) => self.login(username, password).await?,
            },
            _ => self.login(username, password).await?,
        };
        let out = (state.ticket.clone(), state.csrf.clone());
        *guard = Some(state);
        Ok(Some(out))
    }
}
