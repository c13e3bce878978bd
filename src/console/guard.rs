//! What keeps another site from acting as the console's user: every state-changing request
//! (anything but GET and HEAD) must come from the console's own pages. The browser's Origin (or,
//! without one, Referer) must name this host, and the request must carry the server's CSRF token:
//! forms hold it as the hidden field `_csrf` (added to every POST form by `page`), scripts send it
//! as the `X-Sagebox-Csrf` header (read from the page's `<meta name="csrf-token">`). Pages set a
//! Content-Security-Policy that lets them load only the console's own script and stylesheet.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

/// The field forms carry the token in.
pub const FIELD: &str = "_csrf";
/// The header scripts carry the token in.
pub const HEADER: &str = "x-sagebox-csrf";

/// The server's token: random, made once per process (a page loaded before a restart asks for
/// a reload).
pub fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    })
}

/// The hidden input every POST form carries.
pub fn hidden_field() -> String {
    format!(
        "<input type=\"hidden\" name=\"{FIELD}\" value=\"{}\">",
        token()
    )
}

/// Adds the hidden token field right after the opening tag of every `<form … method="post" …>`
/// in `html`.
pub fn with_tokens(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(at) = rest.find("<form") {
        let Some(close) = rest[at..].find('>') else {
            break;
        };
        let tag_end = at + close + 1;
        out.push_str(&rest[..tag_end]);
        if rest[at..tag_end]
            .to_ascii_lowercase()
            .contains("method=\"post\"")
        {
            out.push_str(&hidden_field());
        }
        rest = &rest[tag_end..];
    }
    out.push_str(rest);
    out
}

/// Whether the browser says the request comes from this host (no Origin and no Referer: a
/// client that is not a browser, which the token still has to pass).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match from {
        None => true,
        Some(f) => {
            let authority = f
                .split("://")
                .nth(1)
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("");
            !host.is_empty() && authority.eq_ignore_ascii_case(host)
        }
    }
}

fn refused(why: &str) -> Response {
    let mut r = super::page(
        "Refused",
        "",
        &format!("<p class=\"error\" id=\"refused\">{}</p>", super::esc(why)),
    );
    *r.status_mut() = StatusCode::FORBIDDEN;
    // the refused body may be left unread: the connection cannot carry another request
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    r
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The middleware: GET and HEAD pass; anything else needs this host's Origin and the token.
pub async fn guard(req: Request, next: axum::middleware::Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    if !same_origin(req.headers()) {
        return refused(
            "This request was sent from another site; the console only accepts its own pages' forms.",
        );
    }
    let want = token();
    if req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == want)
    {
        return next.run(req).await;
    }
    if is_form(req.headers()) {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
            return refused("The form is too large (over 1 MiB).");
        };
        let ok = form_urlencoded::parse(&bytes).any(|(k, v)| k == FIELD && v == want);
        if ok {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
    }
    refused(
        "This form carries no valid console token (the page may be from before sagebox restarted): reload the page and send it again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_forms_get_the_token_and_others_do_not() {
        let html = "<form method=\"get\" action=\"x\"><input></form><form id=\"a\" method=\"post\" action=\"y\"><button></button></form>";
        let out = with_tokens(html);
        assert_eq!(out.matches(FIELD).count(), 1);
        assert!(out.contains(&format!(
            "<form id=\"a\" method=\"post\" action=\"y\">{}<button>",
            hidden_field()
        )));
    }

    #[test]
    fn origin_must_name_this_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:4599".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:4599".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.remove(header::ORIGIN);
        h.insert(
            header::REFERER,
            "http://127.0.0.1:4599.evil.example/x".parse().unwrap(),
        );
        assert!(!same_origin(&h));
    }
}
