//! Who may ask `labform serve` for what: the bearer token every request must carry when one is
//! set (compared in time that depends on the lengths only), or the session cookie of signing in
//! with it ([`super::session`]), and the same-origin check of the requests that change something
//! (approvals, signing in).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Shared, pages, session};

/// With a token, every request must carry `Authorization: Bearer <token>` or the session cookie
/// of signing in on `/login`; a browser without either gets the sign-in form.
pub(super) async fn authorise(
    State(dashboard): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = &dashboard.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if given.is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
        || session::has_session(request.headers(), token)
    {
        return next.run(request).await;
    }
    let mut response = if session::wants_page(request.headers()) {
        session::html(StatusCode::UNAUTHORIZED, pages::login(None))
    } else {
        (StatusCode::UNAUTHORIZED, "a bearer token is needed\n").into_response()
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"labform\""),
    );
    response
}

/// Compares in time that depends on the lengths only.
pub(super) fn same(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

/// Whether a state-changing request comes from the dashboard's own pages (or from a client that
/// sends no `Origin`, like curl).
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    if text("sec-fetch-site").is_some_and(|site| site == "cross-site" || site == "same-site") {
        return false;
    }
    match (text("origin"), text("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_from_another_site_are_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            headers
        };
        assert!(same_origin(&headers(&[])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8480"),
            ("origin", "http://127.0.0.1:8480")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8480"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"secret-token", b"secret-token"));
        assert!(!same(b"secret-tokem", b"secret-token"));
        assert!(!same(b"secret", b"secret-token"));
        assert!(!same(b"", b"secret-token"));
    }
}
