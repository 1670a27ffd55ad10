//! Rate limits at the door: every request is sorted into a class by its route, charged to
//! its caller (the token, the token's user for wishes and reviews, else the client address),
//! and refused with 429 in its surface's own error shape once the budget is spent. Answers
//! carry `RateLimit-*` headers; refusals also `Retry-After`.
//!
//! The caller is authenticated here once and handed on, so handlers do not look the token
//! up again.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::AppState;
use crate::ratelimit::{Class, Decision, RateLimiter};
use crate::service::{self, Caller};

/// The server's budgets and whose address to believe.
pub struct RateLimits {
    pub limiter: Arc<RateLimiter>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
}

/// The address a connection comes from, set by the server for every request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The caller this request authenticated as, found once by the limiter.
#[derive(Clone)]
pub(super) struct Authenticated(pub Caller);

/// The surfaces, by the error shape they answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Native,
    SkillsMgr,
    /// `{"error": "…"}`: ToolHive and npm.
    Message,
    SkillPool,
    Registry,
    Mcp,
    /// The web catalog's pages.
    Web,
}

fn surface(route: &str) -> Surface {
    let pages = ["/search", "/skills/", "/teams/", "/signin", "/signout", "/settings", "/admin/"];
    if route == "/" || pages.iter().any(|p| route.starts_with(p)) {
        Surface::Web
    } else if route.starts_with("/v2/") {
        Surface::Registry
    } else if route == "/mcp" || route == "/v1/mcp" {
        Surface::Mcp
    } else if ["/api/r/", "/api/wishes", "/api/reviews"].iter().any(|p| route.starts_with(p)) {
        Surface::SkillsMgr
    } else if route.starts_with("/registry/")
        || route == "/v1/entries"
        || route.starts_with("/-/")
        || route.starts_with("/@")
    {
        Surface::Message
    } else if route.starts_with("/v1/") {
        Surface::SkillPool
    } else {
        Surface::Native
    }
}

/// What a request spends: its classes, scarcest first. Health, metrics and the API
/// document spend nothing.
fn classes(method: &Method, route: &str, request: &Request) -> Vec<Class> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    // A search is a list with words to find, in each surface's own parameter.
    let searches = |names: &[&str]| {
        let query = request.uri().query().unwrap_or("");
        read && form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| names.contains(&k.as_ref()) && !v.trim().is_empty())
    };
    match route {
        "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/v1/healthz" | "/assets/{file}" | "unmatched" => {
            vec![]
        }
        "/search" if searches(&["q"]) => vec![Class::Search],
        "/search/suggest" => vec![Class::Search],
        "/mcp" | "/v1/mcp" => vec![Class::Mcp],
        "/-/v1/search" => vec![Class::Search],
        "/api/v1/skills" if searches(&["q"]) => vec![Class::Search],
        "/registry/{registry}/v0.1/x/dev.toolhive/skills" if searches(&["search"]) => vec![Class::Search],
        "/v1/skills" if searches(&["query", "semantic"]) => vec![Class::Search],
        // The semantic tier looks skills up by meaning.
        "/v1/bootstrap" if searches(&["stack"]) => vec![Class::Search],
        "/@{package}" | "/@{scope}/{name}" | "/api/r/{*name}" if read => vec![Class::Packument],
        "/@{package}"
        | "/api/r/{*name}"
        | "/api/v1/skills/{scope}/{slug}/versions"
        | "/api/v1/skills/{scope}/{slug}/fork"
        | "/v1/entries"
        | "/registry/{registry}/v0.1/x/dev.toolhive/skills"
        | "/v1/skills"
        | "/v1/drafts/{id}/publish"
            if *method == Method::PUT || *method == Method::POST =>
        {
            vec![Class::Publish]
        }
        "/api/wishes" if *method == Method::POST => vec![Class::Wish],
        "/api/reviews" if *method == Method::POST => vec![Class::Review],
        // A push to /v2/ stores an artifact but records no version: publishing it (by
        // reference) is charged where it happens.
        r if r.starts_with("/v2/") && read => vec![Class::RegistryPull],
        r if r.starts_with("/v2/") => vec![Class::RegistryPush],
        _ if read => vec![Class::Read],
        _ => vec![Class::Write],
    }
}

/// The client's address: the connection's, or the one a trusted proxy forwards (the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy).
fn client_addr(request: &Request, trusted: &[IpAddr]) -> Option<IpAddr> {
    // An IPv4 proxy reaching a dual-stack listener arrives as `::ffff:a.b.c.d`.
    let peer = request.extensions().get::<ClientAddr>()?.0.to_canonical();
    let trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    if !trusted(&peer) {
        return Some(peer);
    }
    // Walking back from the nearest hop: the first one not a trusted proxy is the client.
    // A hop that is not an address ends the walk there, at the proxy that wrote it, since
    // everything before it may be the client's own invention.
    let values: Vec<&str> =
        request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    let mut client = peer;
    for hop in values.iter().flat_map(|v| v.split(',')).rev() {
        let Some(ip) = hop_address(hop.trim()) else { break };
        client = ip;
        if !trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// An `X-Forwarded-For` hop: an address, with or without a port (`1.2.3.4:80`, `[::1]:80`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip().to_canonical())
}

/// The IPv4 address, or the IPv6 /64 (one host's usual share).
fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().expect("mapped").to_string(),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The secret this request presents, as its surface reads it (`/v2/` also takes basic
/// auth); `None` when absent or malformed (the handler then answers for it).
fn presented(headers: &HeaderMap, registry: bool) -> Option<String> {
    if registry {
        return super::oci_dist::presented_secret(headers);
    }
    let value = super::extract::single_authorization(headers).ok()??.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !secret.trim().is_empty()).then(|| secret.trim().to_owned())
}

pub async fn limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(limits) = state.rate_limits.as_ref() else { return next.run(request).await };
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let classes = classes(request.method(), &route, &request);
    if classes.is_empty() {
        return next.run(request).await;
    }
    let surface = surface(&route);
    let secret = presented(request.headers(), surface == Surface::Registry);
    // A token that does not authenticate is charged to the address it comes from; the
    // handler answers it with its 401. A database that cannot tell (an outage) is answered
    // here: the handler would only wait for it a second time.
    let caller = match secret {
        Some(secret) => match state.index.authenticate(Some(&secret)).await {
            Ok(caller) => Some(caller),
            Err(service::Error::Unauthenticated(_)) => None,
            Err(e) => return render(surface, e),
        },
        None => None,
    };
    // A browser session counts on web pages only, where its visitor is charged as the
    // person; it is handed to the page, never to the API's caller.
    let session = match (&caller, surface) {
        (None, Surface::Web) => match crate::web::find_session(request.headers(), &state).await {
            Ok(session) => session,
            Err(e) => return render(surface, e),
        },
        _ => None,
    };
    let charged = caller.as_ref().or(session.as_ref().map(|s| &s.caller));
    let spender = match charged {
        // A person's budget, whichever of their tokens is used (minting tokens must not
        // multiply it); a token with budgets of its own spends from those.
        Some(Caller::User(p)) => Spender {
            limiter: limits.limiter.clone(),
            key: format!("u:{}", p.user.id),
            own: p.token.rate_limits.clone(),
        },
        _ => {
            let address =
                client_addr(&request, &limits.trusted_proxies).map_or_else(|| "unknown".to_owned(), network_of);
            Spender { limiter: limits.limiter.clone(), key: format!("a:{address}"), own: None }
        }
    };
    let anonymous = !matches!(charged, Some(Caller::User(_)));
    let mut tightest: Option<Decision> = None;
    for class in classes {
        // Anonymous callers cannot wish or review; their attempts are ordinary writes and
        // leave no day-long bucket behind.
        let class = if anonymous && matches!(class, Class::Wish | Class::Review) { Class::Write } else { class };
        match spender.spend(class).await {
            Ok(Some(decision)) if tightest.is_none_or(|t| decision.remaining < t.remaining) => {
                tightest = Some(decision);
            }
            Ok(_) => {}
            Err(decision) => {
                let mut response = render(surface, service::Error::RateLimited(refusal(&decision)));
                stamp(response.headers_mut(), &decision);
                return response;
            }
        }
    }
    if let Some(caller) = caller {
        request.extensions_mut().insert(Authenticated(caller));
    }
    if let Some(session) = session {
        request.extensions_mut().insert(session);
    }
    request.extensions_mut().insert(spender);
    let mut response = next.run(request).await;
    if let Some(decision) = tightest {
        stamp(response.headers_mut(), &decision);
    }
    response
}

/// Who pays for a request, and from which budgets: handlers whose one request does the work
/// of several (an MCP batch, an MCP search) spend more through it.
#[derive(Clone)]
pub struct Spender {
    limiter: Arc<RateLimiter>,
    key: String,
    own: Option<crate::ratelimit::Settings>,
}

impl Spender {
    /// Spends one request of `class`: where the caller stands (`None` when unlimited), or
    /// the refusal.
    pub async fn spend(&self, class: Class) -> Result<Option<Decision>, Decision> {
        match self.limiter.check(class, &self.key, self.own.as_ref()).await {
            Some(d) if !d.allowed => Err(d),
            other => Ok(other),
        }
    }
}

/// What a refused caller is told.
pub fn refusal(decision: &Decision) -> String {
    format!(
        "too many {} requests: {} allowed; try again in {} s",
        decision.class,
        decision.quota,
        ceil_secs(decision.retry_after)
    )
}

/// Whole seconds, rounded up so a client that waits exactly that long gets in.
fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub(super) fn stamp(headers: &mut HeaderMap, decision: &Decision) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("ratelimit-limit", decision.quota.count.to_string());
    set("ratelimit-remaining", decision.remaining.to_string());
    set("ratelimit-reset", ceil_secs(decision.reset).to_string());
    set("ratelimit-policy", decision.quota.policy());
    if !decision.allowed {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(ceil_secs(decision.retry_after)));
    }
}

/// A refusal in the surface's own shape.
fn render(surface: Surface, error: service::Error) -> Response {
    match surface {
        Surface::Native => super::error::ApiError::Service(error).into_response(),
        Surface::SkillsMgr => super::skillsmgr::SmError::from(error).into_response(),
        Surface::Message => super::error::ErrorMessage::from(error).into_response(),
        Surface::SkillPool => super::skill_pool::SpError::from(error).into_response(),
        Surface::Registry => super::oci_dist::render(error),
        Surface::Mcp => super::mcp::refuse(error),
        Surface::Web => crate::web::WebError(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes_of(method: Method, route: &str, uri: &str) -> Vec<Class> {
        let request = Request::builder().method(method.clone()).uri(uri).body(axum::body::Body::empty()).unwrap();
        classes(&method, route, &request)
    }

    #[test]
    fn requests_spend_from_the_budget_of_what_they_do() {
        let toolhive = "/registry/{registry}/v0.1/x/dev.toolhive/skills";
        assert_eq!(classes_of(Method::GET, "/-/v1/search", "/-/v1/search?text=x"), [Class::Search]);
        assert_eq!(classes_of(Method::GET, "/api/v1/skills", "/api/v1/skills?q=pdf"), [Class::Search]);
        assert_eq!(classes_of(Method::GET, "/api/v1/skills", "/api/v1/skills?q="), [Class::Read]);
        assert_eq!(
            classes_of(Method::GET, toolhive, "/registry/x/v0.1/x/dev.toolhive/skills?search=a"),
            [Class::Search]
        );
        assert_eq!(classes_of(Method::POST, toolhive, "/registry/x/v0.1/x/dev.toolhive/skills"), [Class::Publish]);
        assert_eq!(classes_of(Method::GET, "/api/r/{*name}", "/api/r/@a/b"), [Class::Packument]);
        assert_eq!(classes_of(Method::PUT, "/api/r/{*name}", "/api/r/@a/b"), [Class::Publish]);
        assert_eq!(classes_of(Method::PUT, "/@{package}", "/@a%2fb"), [Class::Publish]);
        assert_eq!(classes_of(Method::POST, "/api/wishes", "/api/wishes"), [Class::Wish]);
        assert_eq!(classes_of(Method::GET, "/api/wishes", "/api/wishes"), [Class::Read]);
        assert_eq!(classes_of(Method::PUT, "/api/reviews/{id}", "/api/reviews/x"), [Class::Write]);
        assert_eq!(classes_of(Method::POST, "/mcp", "/mcp"), [Class::Mcp]);
        assert_eq!(classes_of(Method::GET, "/v2/", "/v2/a/b/blobs/sha256:00"), [Class::RegistryPull]);
        assert_eq!(classes_of(Method::PUT, "/v2/", "/v2/a/b/manifests/1.2.0"), [Class::RegistryPush]);
        let versions = "/api/v1/skills/{scope}/{slug}/versions";
        assert_eq!(classes_of(Method::POST, versions, "/api/v1/skills/a/b/versions"), [Class::Publish]);
        let fork = "/api/v1/skills/{scope}/{slug}/fork";
        assert_eq!(classes_of(Method::POST, fork, "/api/v1/skills/a/b/fork"), [Class::Publish]);
        assert_eq!(classes_of(Method::GET, "/v1/skills", "/v1/skills?query=pdf"), [Class::Search]);
        assert_eq!(classes_of(Method::GET, "/v1/skills", "/v1/skills?q=pdf"), [Class::Read]);
        assert_eq!(classes_of(Method::GET, "/v1/bootstrap", "/v1/bootstrap?stack=rust"), [Class::Search]);
        assert_eq!(classes_of(Method::POST, "/v1/skills", "/v1/skills"), [Class::Publish]);
        assert_eq!(classes_of(Method::POST, "/v1/drafts/{id}/publish", "/v1/drafts/x/publish"), [Class::Publish]);
        assert_eq!(classes_of(Method::POST, "/v1/entries", "/v1/entries"), [Class::Publish]);
        assert!(classes_of(Method::GET, "/healthz", "/healthz").is_empty());
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let request = |peer: &str, forwarded: &str| {
            let mut r = Request::builder().uri("/").header("x-forwarded-for", forwarded);
            r = r.extension(ClientAddr(peer.parse().unwrap()));
            r.body(axum::body::Body::empty()).unwrap()
        };
        // A client cannot name itself someone else.
        assert_eq!(
            client_addr(&request("203.0.113.9", "198.51.100.1"), &[proxy]),
            Some("203.0.113.9".parse().unwrap())
        );
        // Through the proxy, the nearest untrusted hop is the client, whatever it claimed before.
        let via = request("10.0.0.1", "198.51.100.1, 203.0.113.9");
        assert_eq!(client_addr(&via, &[proxy]), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(network_of("2001:db8:1:2:3:4:5:6".parse().unwrap()), "2001:db8:1:2::/64");
        // An IPv4 proxy on a dual-stack listener is still the trusted proxy.
        let mapped = request("::ffff:10.0.0.1", "203.0.113.9");
        assert_eq!(client_addr(&mapped, &[proxy]), Some("203.0.113.9".parse().unwrap()));
        // Hops with ports are addresses; a hop that is not one ends the walk at the proxy
        // that wrote it, so what the client put before it never counts.
        let with_port = request("10.0.0.1", "203.0.113.9:4711");
        assert_eq!(client_addr(&with_port, &[proxy]), Some("203.0.113.9".parse().unwrap()));
        let forged = request("10.0.0.1", "198.51.100.1, unknown");
        assert_eq!(client_addr(&forged, &[proxy]), Some(proxy));
    }
}
