//! Signing in to a dashboard that has a bearer token, from a browser: browsers cannot add an
//! `Authorization` header to a link or a form, so `GET /login` shows a form asking for the token
//! and `POST /login` checks it and sets a session cookie. The cookie holds no token: its value is
//! SHA-256 of the token under a fixed label, so it is the same on every replica that has the
//! token (a Deployment's Secret) and stops working when the token changes; it is `HttpOnly` (no
//! script reads it), `SameSite=Strict` (no other site's page or form sends it) and, over TLS,
//! `Secure`. No page holds the token or the cookie's value: every page, and the Approve button's
//! form, are authorised by the browser sending the cookie.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use super::access::{same, same_origin};
use super::{Shared, pages};

/// The session cookie's name.
pub const COOKIE: &str = "labform_session";

/// The session cookie's value for `token`: SHA-256 of a fixed label and the token, in hex.
pub fn session_value(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"labform dashboard session v1\0");
    hasher.update(token.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether the request's cookies hold the session of `token`.
pub fn has_session(headers: &HeaderMap, token: &str) -> bool {
    let expected = session_value(token);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value.as_bytes(), expected.as_bytes()))
}

/// Whether the request would rather have a page than plain text (a browser).
pub fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// `GET /login`: the form asking for the token.
pub async fn login_page() -> Response {
    html(StatusCode::OK, pages::login(None))
}

/// The form's fields.
#[derive(serde::Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /login`: checks the token and sets the session cookie, then shows the dashboard.
/// Refused from another site's page, like approvals.
pub async fn log_in(
    State(dashboard): State<Shared>,
    headers: HeaderMap,
    axum::Form(login): axum::Form<Login>,
) -> Response {
    let Some(token) = &dashboard.token else {
        return see_other("/");
    };
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "signing in comes from the dashboard's own page\n",
        )
            .into_response();
    }
    if !same(login.token.as_bytes(), token.as_bytes()) {
        return html(
            StatusCode::UNAUTHORIZED,
            pages::login(Some("That is not the dashboard's token.")),
        );
    }
    let secure = if dashboard.tls { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        session_value(token)
    );
    let mut response = see_other("/");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn see_other(location: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location)],
        "see the dashboard\n",
    )
        .into_response()
}

/// A page with a status.
pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_not_the_token_and_follows_it() {
        let value = session_value("a-token");
        assert_eq!(value.len(), 64);
        assert!(!value.contains("a-token"));
        assert_eq!(value, session_value("a-token"));
        assert_ne!(value, session_value("another-token"));
    }

    #[test]
    fn the_session_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        let cookies = format!("theme=dark; {COOKIE}={}", session_value("a-token"));
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookies).unwrap());
        assert!(has_session(&headers, "a-token"));
        assert!(!has_session(&headers, "another-token"));
        let mut forged = HeaderMap::new();
        forged.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE}=a-token")).unwrap(),
        );
        assert!(!has_session(&forged, "a-token"));
    }
}
