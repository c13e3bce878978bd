//! Who may talk to sagebox. Open mode serves one user on one machine, whose browser also visits
//! other sites: a page there must not reach sagebox through DNS rebinding (a hostile name that
//! resolves to 127.0.0.1) or through cross-site requests, and an S3 object must not script
//! against the console. This layer runs before every route: it refuses Host names sagebox does
//! not serve and browser requests from a foreign Origin, and adds the response headers that
//! keep objects and console pages apart.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Flags that decide who is served.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessOptions {
    /// More Host names to serve besides loopback names, `*.localhost`, `host.docker.internal`
    /// and IP addresses (comma-separated; `.example.com` allows every name under it). Needed
    /// only when clients reach sagebox by a DNS name, e.g. with --bind 0.0.0.0.
    #[arg(
        long = "allowed-hosts",
        env = "SAGEBOX_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Seconds a connection may wait for a request's headers, sit idle between requests, or
    /// stall inside a request body before sagebox closes it.
    #[arg(long, env = "SAGEBOX_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout: u64,

    /// Open connections served at once; further ones wait in the kernel's queue until one closes.
    #[arg(long, env = "SAGEBOX_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
}

/// A request that came through the AWS HTTPS proxy (`--aws-proxy`): its Host names an AWS endpoint.
#[derive(Clone, Copy, Debug)]
pub struct ViaAwsProxy;

/// Whether sagebox serves this `Host` header value (a name or address, with or without port).
pub fn host_allowed(host: &str, extra: &[String]) -> bool {
    let name = strip_port(host).to_ascii_lowercase();
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return false;
    }
    // An address cannot be rebound: a page served from it is that address's own origin.
    if name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
    {
        return true;
    }
    if name == "localhost" || name.ends_with(".localhost") || name == "host.docker.internal" {
        return true;
    }
    extra.iter().any(|allowed| {
        let allowed = allowed.trim().to_ascii_lowercase();
        match allowed.strip_prefix('.') {
            Some(suffix) => name == suffix || name.ends_with(&format!(".{suffix}")),
            None => !allowed.is_empty() && name == allowed,
        }
    })
}

/// `name:port`, `[v6]:port`, `[v6]` or `name` → the name part.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Why a browser request is refused, if it is: its Origin is not this server's own (the Host
/// it was sent to), or the browser says it was made by another site's page.
pub fn foreign_origin(method: &Method, headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if authority.is_none_or(|a| !a.eq_ignore_ascii_case(host)) {
            return Some(format!("Origin {origin}"));
        }
    }
    // Browsers that send Fetch metadata say who made the request even where they omit Origin.
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site @ ("cross-site" | "same-site")) => {
            // Following a link (a top-level GET) may start anywhere: it cannot read another
            // origin's answer, and it carries no body a page chose.
            let navigate = headers
                .get("sec-fetch-mode")
                .is_some_and(|m| m == "navigate");
            let safe = *method == Method::GET || *method == Method::HEAD;
            (!(navigate && safe)).then(|| format!("a {site} request"))
        }
        _ => None,
    }
}

/// The layer: Host allow-list, Origin check, and the headers every answer carries.
pub async fn layer(
    State(allowed): State<std::sync::Arc<Vec<String>>>,
    req: Request,
    next: Next,
) -> Response {
    let proxied = req.extensions().get::<ViaAwsProxy>().is_some();
    let bridge = req.extensions().get::<crate::listener::Listener>()
        == Some(&crate::listener::Listener::Bridge);
    let path = req.uri().path();
    if bridge && path.starts_with("/_sagebox") && !crate::agent::serve::is_agent_path(path) {
        // Containers call the AWS APIs and fetch their binds (token-protected); the console
        // and health are the user's, on loopback.
        return refuse(
            StatusCode::FORBIDDEN,
            "sagebox's console is not served on the Docker bridge address.",
        );
    }
    if !proxied {
        let host = req
            .headers()
            .get(header::HOST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if let Some(host) = host
            && !host_allowed(&host, &allowed)
        {
            tracing::warn!(
                host,
                "refused a request for a host name sagebox does not serve"
            );
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                &format!(
                    "sagebox does not serve the host name {host:?} (a defence against DNS rebinding). \
                     Use 127.0.0.1, localhost or host.docker.internal, or allow the name with --allowed-hosts."
                ),
            );
        }
        if let Some(why) = foreign_origin(req.method(), req.headers()) {
            tracing::warn!(
                path = req.uri().path(),
                "refused {why}: sagebox answers only its own pages and non-browser clients"
            );
            return refuse(
                StatusCode::FORBIDDEN,
                &format!(
                    "sagebox refuses requests that another site's page makes ({why}); \
                     call it from the AWS SDKs or CLI, or from its own console."
                ),
            );
        }
    }
    let path = req.uri().path();
    // Jupyter, behind /_sagebox/notebooks/ and /_sagebox/studio/, sets its own policy for its
    // own pages.
    let jupyter = path.starts_with("/_sagebox/notebooks/")
        || path.starts_with(crate::service::studio::PREFIX);
    let console = path.starts_with("/_sagebox/") && !jupyter;
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if console {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONSOLE_CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    } else if !jupyter {
        // S3 objects (and every API answer) open in a sandbox: an uploaded HTML page gets a
        // unique origin, so it cannot script against the console or call the APIs as the user.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
    }
    resp
}

/// Console pages load only their own stylesheet and script, and may not be framed.
const CONSOLE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut r = (status, format!("{message}\n")).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_loopback_names_addresses_and_allowed_names_only() {
        let extra = vec!["sagebox.lan".to_string(), ".corp.example".to_string()];
        for ok in [
            "127.0.0.1:4599",
            "localhost",
            "LOCALHOST:80",
            "bucket.localhost:4599",
            "bucket.s3.localhost",
            "host.docker.internal:4599",
            "[::1]:4599",
            "172.17.0.1:4599",
            "sagebox.lan:4599",
            "a.corp.example",
            "localhost.",
        ] {
            assert!(host_allowed(ok, &extra), "{ok}");
        }
        for bad in [
            "evil.example:4599",
            "localhost.evil.example",
            "evilsagebox.lan",
            "xcorp.example",
            "",
            "127.0.0.1.nip.io",
        ] {
            assert!(!host_allowed(bad, &extra), "{bad}");
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn foreign_origins_and_cross_site_fetches_are_refused() {
        let host = ("host", "127.0.0.1:4599");
        assert!(foreign_origin(&Method::GET, &headers(&[host])).is_none());
        assert!(
            foreign_origin(
                &Method::GET,
                &headers(&[host, ("origin", "http://127.0.0.1:4599")])
            )
            .is_none()
        );
        assert!(
            foreign_origin(
                &Method::GET,
                &headers(&[host, ("origin", "http://evil.example")])
            )
            .is_some()
        );
        assert!(foreign_origin(&Method::GET, &headers(&[host, ("origin", "null")])).is_some());
        assert!(
            foreign_origin(
                &Method::GET,
                &headers(&[host, ("origin", "http://127.0.0.1:8888")])
            )
            .is_some()
        );
        assert!(
            foreign_origin(
                &Method::GET,
                &headers(&[
                    host,
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "no-cors"),
                    ("sec-fetch-dest", "image"),
                ])
            )
            .is_some()
        );
        assert!(
            foreign_origin(
                &Method::GET,
                &headers(&[
                    host,
                    ("sec-fetch-site", "cross-site"),
                    ("sec-fetch-mode", "navigate"),
                    ("sec-fetch-dest", "document"),
                ])
            )
            .is_none()
        );
        assert!(
            foreign_origin(
                &Method::GET,
                &headers(&[host, ("sec-fetch-site", "same-origin")])
            )
            .is_none()
        );
        let nav_post = headers(&[
            host,
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ]);
        assert!(foreign_origin(&Method::POST, &nav_post).is_some());
    }

    /// What the guard answers for `path` on `listener`, before a route that always says 200.
    async fn status_on(listener: crate::listener::Listener, path: &str, host: &str) -> u16 {
        use tower::ServiceExt;
        let ok = axum::routing::any(|| async { "ok" });
        let app = axum::Router::new()
            .route("/_sagebox/agent/binds/{id}", ok.clone())
            .route("/_sagebox/health", ok.clone())
            .fallback(ok)
            .layer(axum::middleware::from_fn_with_state(
                std::sync::Arc::new(Vec::<String>::new()),
                layer,
            ));
        let mut req = Request::builder()
            .uri(path)
            .header("host", host)
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut().insert(listener);
        app.oneshot(req).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn the_bridge_listener_lets_through_the_agent_binds_only() {
        use crate::listener::Listener::{Bridge, Main};
        let host = "host.docker.internal:4599";
        assert_eq!(
            status_on(Bridge, "/_sagebox/agent/binds/L2g", host).await,
            200
        );
        for refused in [
            "/_sagebox/health",
            "/_sagebox/agent/binds/L2g/../../health",
            "/_sagebox/agent/other",
            "/_sagebox/",
        ] {
            assert_eq!(status_on(Bridge, refused, host).await, 403, "{refused}");
        }
        assert_eq!(status_on(Main, "/_sagebox/health", host).await, 200);
        // The Host guard still applies to the agent's paths.
        let rebound = status_on(Bridge, "/_sagebox/agent/binds/L2g", "evil.example").await;
        assert_eq!(rebound, 421);
    }
}
