//! Who is looking at a page: a bearer token (scripts, tests), a browser session (a cookie
//! opened by signing in with an API token), or nobody. State-changing forms are protected
//! against cross-site requests: a session's forms carry its form token, sign-in carries a
//! double-submit cookie, and a request whose `Origin` is another site is refused.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use super::WebError;
use crate::api::AppState;
use crate::service::{self, Caller};

/// The session cookie's name: its value is the session's secret. Over HTTPS it carries the
/// `__Host-` prefix, so no sibling subdomain can plant one.
pub fn session_cookie(state: &AppState) -> &'static str {
    if secure(state) { "__Host-skilldex_session" } else { "skilldex_session" }
}

/// The sign-in form's double-submit cookie.
pub fn signin_cookie(state: &AppState) -> &'static str {
    if secure(state) { "__Host-skilldex_signin" } else { "skilldex_signin" }
}

fn secure(state: &AppState) -> bool {
    state.public_base().starts_with("https://")
}

/// A browser session the rate limiter already looked up for a page request (web pages
/// only: the API never reads it, so a cookie never authenticates an API call).
#[derive(Clone)]
pub struct FoundSession {
    pub caller: Caller,
    pub csrf: String,
    pub secret: String,
}

/// The session a page request's cookie names, if it is live.
pub async fn find_session(headers: &HeaderMap, state: &AppState) -> Result<Option<FoundSession>, service::Error> {
    let Some(secret) = cookie(headers, session_cookie(state)) else { return Ok(None) };
    Ok(state.index.session(secret).await?.map(|(caller, csrf)| FoundSession {
        caller,
        csrf,
        secret: secret.to_owned(),
    }))
}
/// How long a session lasts at most (less when its token expires sooner).
pub const SESSION_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// How the visitor was recognised.
#[derive(Clone)]
pub enum Via {
    Anonymous,
    /// `Authorization: Bearer …`: not sent by browsers on their own, so no forgery check.
    Bearer,
    /// A session cookie, with the session's form token and secret.
    Session {
        csrf: String,
        secret: String,
    },
}

pub struct Visitor {
    pub caller: Caller,
    pub via: Via,
}

impl Visitor {
    pub fn anonymous() -> Self {
        Visitor { caller: Caller::Anonymous, via: Via::Anonymous }
    }

    /// The signed-in user's name, for the page frame.
    pub fn name(&self) -> Option<String> {
        match &self.caller {
            Caller::User(p) => Some(p.user.username.to_string()),
            Caller::Anonymous => None,
        }
    }

    /// The form token pages put in their forms ("" without a session).
    pub fn csrf(&self) -> String {
        match &self.via {
            Via::Session { csrf, .. } => csrf.clone(),
            _ => String::new(),
        }
    }

    /// Refuses a state-changing form that did not come from one of this site's pages.
    pub fn check_form(&self, headers: &HeaderMap, state: &AppState, sent: &str) -> Result<(), WebError> {
        same_origin(headers, state)?;
        match &self.via {
            Via::Bearer => Ok(()),
            Via::Session { csrf, .. } if equal(csrf, sent) => Ok(()),
            Via::Session { .. } => Err(forged()),
            Via::Anonymous => Err(WebError(service::Error::Unauthenticated("sign in first".into()))),
        }
    }
}

fn forged() -> WebError {
    WebError(service::Error::Forbidden("this form did not come from this site; reload the page and try again".into()))
}

/// Compares secrets in time that does not depend on where they differ.
pub fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request whose `Origin` names another site is refused; requests without one (older
/// browsers, scripts) rely on the form token alone. This site is the public URL's origin,
/// or the host the browser itself addressed (a server reached as `localhost` and as its
/// address): a page elsewhere cannot make a browser send this site's Host with its Origin.
pub fn same_origin(headers: &HeaderMap, state: &AppState) -> Result<(), WebError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let Ok(origin) = origin.to_str() else { return Err(forged()) };
    let ours = state.public_base();
    let ours = match ours.find("://").and_then(|i| ours[i + 3..].find('/').map(|j| i + 3 + j)) {
        Some(end) => &ours[..end],
        None => ours,
    };
    let addressed = headers.get(header::HOST).and_then(|h| h.to_str().ok()).is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host))
    });
    if origin.eq_ignore_ascii_case(ours) || addressed { Ok(()) } else { Err(forged()) }
}

/// Whether a sign-in form (by token or through a provider) is one this site handed to this
/// browser: its `form_token` matches the sign-in cookie set with it (login forgery), and it
/// was not posted from another site's page.
pub fn signin_form_is_ours(headers: &HeaderMap, state: &AppState, sent: &str) -> bool {
    let expected = cookie(headers, signin_cookie(state)).unwrap_or("");
    same_origin(headers, state).is_ok() && !expected.is_empty() && equal(expected, sent)
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite, Secure when the site is served over HTTPS;
/// `max_age` 0 deletes it.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64, same_site: &str) -> HeaderValue {
    let secure = if state.public_base().starts_with("https://") { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).expect("cookie values are ASCII")
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // A bearer token decides; another scheme (a proxy's basic auth) is not ours to read.
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
        if bearer {
            let caller = match Caller::from_request_parts(parts, state).await {
                Ok(c) => c,
                Err(crate::api::error::ApiError::Service(e)) => return Err(WebError(e)),
                Err(other) => return Err(WebError(service::Error::Invalid(other.to_string()))),
            };
            return Ok(Visitor { caller, via: Via::Bearer });
        }
        let found = match parts.extensions.get::<FoundSession>() {
            Some(found) => Some(found.clone()),
            None => find_session(&parts.headers, state).await?,
        };
        Ok(match found {
            Some(FoundSession { caller, csrf, secret }) => Visitor { caller, via: Via::Session { csrf, secret } },
            None => Visitor::anonymous(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_secrets_are_read_exactly() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; skilldex_session=abc; skilldex_sessionx=zzz"));
        assert_eq!(cookie(&h, "skilldex_session"), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        assert!(equal("abc", "abc") && !equal("abc", "abd") && !equal("abc", "ab"));
    }
}
