//! What every request to a web view must pass before it reaches a handler, and what every answer
//! carries: the doors of `nvt-server --http` (its whole web view, the history among it) and of
//! `nvt-fleet history --http` alike. Any page open in a browser on the same machine can send
//! requests to loopback, so a web view trusts nothing about where a request came from:
//! - the `Host` must be this server as an IP address, `localhost`, or a name given with
//!   `--http-host`, on the port it serves: a DNS-rebinding page arrives under its own name;
//! - an `Origin`, when a browser sends one, must be that same host; and a browser's own word
//!   that a request comes from another site (`Sec-Fetch-Site`) refuses it too, unless it is the
//!   user following a link to a page: so another site can neither post to the web view nor
//!   embed its streams;
//! - with `--http-token-file`, every request needs `Authorization: Bearer TOKEN` (or the cookie
//!   that `/?token=TOKEN` sets for a browser);
//! - every answer forbids inline script, framing and content sniffing.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The page's policy: scripts and styles only from this server, no inline script, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The cookie a browser keeps the token in after visiting `/?token=TOKEN`.
pub const TOKEN_COOKIE: &str = "nvt_token";

/// How long a browser keeps the token's cookie, in seconds: 400 days, the most browsers keep one,
/// so that a kiosk phone's browser still has it after a restart.
pub const COOKIE_MAX_AGE: u32 = 400 * 24 * 3600;

/// Who may talk to the web view.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// The port the web view serves.
    pub port: u16,
    /// Whether it serves HTTPS: a `Host` without a port then means 443, not 80.
    pub tls: bool,
    /// Host names besides IP addresses and `localhost` (`--http-host`).
    pub names: Vec<String>,
    /// The bearer token every request must carry (`--http-token-file`).
    pub token: Option<Vec<u8>>,
}

impl Gate {
    /// Whether `host` (a `Host` header, or the authority of an `Origin`) names this server.
    pub fn host_allowed(&self, host: &str) -> bool {
        let (name, port) = split_host(host);
        let port_ok = match port {
            Some(port) => port == Some(self.port),
            None => self.port == if self.tls { 443 } else { 80 },
        };
        let name = name.to_ascii_lowercase();
        let name_ok = name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
            || name == "localhost"
            || self.names.iter().any(|n| n.eq_ignore_ascii_case(&name));
        port_ok && name_ok
    }

    /// Checks a request's headers; the refusal says why.
    pub fn check(&self, headers: &HeaderMap, query: Option<&str>) -> Result<(), (StatusCode, String)> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if !self.host_allowed(host) {
            let name = split_host(host).0;
            return Err((
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this server does not answer to Host {host:?}: open it by IP address or localhost, or start \
                     it with --http-host {name} to allow that name"
                ),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
            if authority.is_none_or(|a| !a.eq_ignore_ascii_case(host)) {
                return Err((StatusCode::FORBIDDEN, format!("cross-origin request from {origin:?} refused")));
            }
        }
        let fetch = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let foreign = matches!(fetch("sec-fetch-site"), "cross-site" | "same-site");
        let navigation = fetch("sec-fetch-mode") == "navigate" && fetch("sec-fetch-dest") == "document";
        if foreign && !navigation {
            return Err((StatusCode::FORBIDDEN, "a request from another site is refused".into()));
        }
        if let Some(token) = &self.token {
            let presented = bearer(headers).or_else(|| cookie(headers)).or_else(|| query.and_then(query_token));
            if !presented.is_some_and(|p| same(p.as_bytes(), token)) {
                return Err((
                    StatusCode::UNAUTHORIZED,
                    "this web view needs the token of its --http-token-file: open /?token=TOKEN once in the \
                     browser (it keeps a cookie), or send Authorization: Bearer TOKEN"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// What a web token may hold: it travels in a URL (`/?token=`) and a cookie, so only characters
/// safe in both.
pub const WEB_TOKEN_RULE: &str = "the web token must be 1 to 64 letters, digits, '-', '.', '_' or '~'";

/// Whether `token` keeps [`WEB_TOKEN_RULE`].
pub fn web_token_fits(token: &[u8]) -> bool {
    (1..=64).contains(&token.len()) && token.iter().all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(c))
}

/// Reads `--http-token-file`: its first line, trimmed, which must keep [`WEB_TOKEN_RULE`].
pub fn read_web_token(path: &std::path::Path) -> Result<Vec<u8>, crate::HistoryError> {
    let text =
        nvt_support::files::read_text(path, 4096).map_err(|e| crate::HistoryError::io("--http-token-file", path, e))?;
    let token = text.lines().next().unwrap_or("").trim().as_bytes().to_vec();
    if !web_token_fits(&token) {
        return Err(crate::HistoryError::Invalid(format!("--http-token-file {}: {WEB_TOKEN_RULE}", path.display())));
    }
    Ok(token)
}

/// Whether `name` can be a `--http-host`: a host name, without a port, a path or spaces.
pub fn host_name_fits(name: &str) -> bool {
    !name.is_empty() && !name.contains([':', '/', ' '])
}

/// `name[:port]`, `[v6]:port`; the port is `Some(None)` when present but not a number.
fn split_host(host: &str) -> (&str, Option<Option<u16>>) {
    let (name, port) = match host.rfind(':') {
        Some(at) if !host[at..].contains(']') => (&host[..at], Some(&host[at + 1..])),
        _ => (host, None),
    };
    (name, port.map(|p| p.parse().ok()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
}

fn query_token(query: &str) -> Option<&str> {
    query.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// Compares in time that does not depend on where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: refuses what [`Gate::check`] refuses, and adds the security headers to every
/// answer. A browser that brought the token in the query gets it as a same-site cookie.
pub async fn guard(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let query = request.uri().query().map(str::to_owned);
    let mut response = match gate.check(request.headers(), query.as_deref()) {
        Ok(()) => {
            // Only a token that itself checked out becomes a cookie, and the cookie holds the
            // server's own copy, never text from the request.
            let cookie = gate.token.as_deref().filter(|token| {
                query.as_deref().and_then(query_token).is_some_and(|asked| same(asked.as_bytes(), token))
                    && web_token_fits(token)
            });
            let cookie = cookie.and_then(|token| {
                let token = String::from_utf8_lossy(token);
                let secure = if gate.tls { "; Secure" } else { "" };
                HeaderValue::from_str(&format!(
                    "{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={COOKIE_MAX_AGE}{secure}"
                ))
                .ok()
            });
            let mut response = next.run(request).await;
            if let Some(cookie) = cookie {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err((status, why)) => (status, why).into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    fn gate() -> Gate {
        Gate { port: 8080, tls: false, names: vec!["cam-box.lan".into()], token: None }
    }

    #[test]
    fn only_this_servers_addresses_and_names_on_its_port_pass() {
        let gate = gate();
        for good in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "192.168.1.20:8080", "CAM-BOX.lan:8080"] {
            assert!(gate.host_allowed(good), "{good}");
        }
        for bad in
            ["evil.example:8080", "127.0.0.1:9090", "127.0.0.1", "localhost:80x", "", "127.0.0.1.evil.example:8080"]
        {
            assert!(!gate.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn an_ipv6_host_without_a_port_is_the_default_port() {
        let gate = Gate { port: 80, ..gate() };
        assert!(gate.host_allowed("[::1]"), "the colons inside the brackets are not a port");
        assert!(gate.host_allowed("[::1]:80"));
        assert!(!gate.host_allowed("[::1]:8080"));
        // Over HTTPS the default port is 443: browsers leave it out of the Host header.
        let https = Gate { port: 443, tls: true, ..gate.clone() };
        assert!(https.host_allowed("localhost") && https.host_allowed("[::1]") && https.host_allowed("10.0.0.5"));
        assert!(!Gate { port: 80, tls: true, ..gate }.host_allowed("localhost"), "HTTPS on port 80 has no default");
    }

    #[test]
    fn foreign_hosts_and_origins_are_refused_and_same_origin_passes() {
        let gate = gate();
        let (status, _) = gate.check(&headers(&[("host", "rebind.example:8080")]), None).expect_err("host");
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
        let cross = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")]);
        assert_eq!(gate.check(&cross, None).expect_err("origin").0, StatusCode::FORBIDDEN);
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert_eq!(gate.check(&null, None).expect_err("null origin").0, StatusCode::FORBIDDEN);
        let same = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]);
        assert!(gate.check(&same, None).is_ok());
        assert!(gate.check(&headers(&[("host", "localhost:8080")]), None).is_ok(), "no Origin: curl, scrapers");
    }

    #[test]
    fn a_browser_saying_the_request_comes_from_another_site_is_refused_unless_it_is_a_link() {
        let gate = gate();
        let host = ("host", "127.0.0.1:8080");
        let embedded = headers(&[
            host,
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-dest", "image"),
        ]);
        assert_eq!(gate.check(&embedded, None).expect_err("an <img> on another site").0, StatusCode::FORBIDDEN);
        let sibling = headers(&[host, ("sec-fetch-site", "same-site"), ("sec-fetch-mode", "cors")]);
        assert!(gate.check(&sibling, None).is_err(), "another port of localhost is another origin");
        let link = headers(&[
            host,
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ]);
        assert!(gate.check(&link, None).is_ok(), "following a link to the page");
        let framed = headers(&[
            host,
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "iframe"),
        ]);
        assert!(gate.check(&framed, None).is_err(), "another site framing the page is no link followed");
        let own = headers(&[host, ("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "cors")]);
        assert!(gate.check(&own, None).is_ok(), "the page's own requests");
    }

    #[test]
    fn with_a_token_every_request_needs_it() {
        let gate = Gate { token: Some(b"s3cret".to_vec()), ..gate() };
        let host = ("host", "127.0.0.1:8080");
        assert_eq!(gate.check(&headers(&[host]), None).expect_err("none").0, StatusCode::UNAUTHORIZED);
        assert!(gate.check(&headers(&[host, ("authorization", "Bearer wrong")]), None).is_err());
        assert!(
            gate.check(&headers(&[host, ("authorization", "Bearer s3cres")]), None).is_err(),
            "same length, last byte off"
        );
        assert!(
            gate.check(&headers(&[host, ("authorization", "Bearer x3cret")]), None).is_err(),
            "same length, first byte off"
        );
        assert!(gate.check(&headers(&[host, ("authorization", "Bearer s3cret")]), None).is_ok());
        assert!(gate.check(&headers(&[host, ("cookie", "a=b; nvt_token=s3cret")]), None).is_ok());
        assert!(gate.check(&headers(&[host]), Some("x=1&token=s3cret")).is_ok());
        assert!(gate.check(&headers(&[host]), Some("token=s3cre")).is_err());
    }
}
