//! The console's login under `--auth strict`. Every API call then needs a signature made with one
//! of the configured key pairs (`--credentials KEY:SECRET`), so the console asks for such a pair
//! before it shows anything: one that strict mode would accept opens a session (a random id kept
//! in memory, in an HttpOnly, SameSite=Strict cookie scoped to `/_sagebox`), anything else is
//! refused with one message that never says which half was wrong. Keys are compared in constant
//! time; after `MAX_FAILURES` failed attempts within a minute every attempt is refused with 429
//! until the minute has passed. Open mode has no login: anyone who reaches the port may use the
//! console, as anyone may call the APIs.
//!
//! Why a login rather than keeping the console off: the keys a student types are the ones their
//! SDK signs with, so the console gives no one more than the APIs already do, and a workshop that
//! runs strict mode (a shared machine, a port reachable by others) keeps its console.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::{ROOT, esc, page, see_other};
use crate::AppState;
use crate::api::notebooks::cookie;
use crate::config::AuthMode;

/// The session cookie's name.
pub const COOKIE: &str = "sagebox-console";
/// How long a session lasts (a working day, as a notebook session does).
const SESSION: Duration = Duration::from_secs(12 * 3600);
/// Failed attempts allowed per `WINDOW` before every attempt is refused with 429.
pub const MAX_FAILURES: usize = 10;
const WINDOW: Duration = Duration::from_secs(60);
/// The one refusal: it never says whether the key id or the secret was wrong.
pub const REFUSAL: &str = "The access key ID or secret key is not valid.";

/// The open sessions (id → access key id and expiry) and the recent failed attempts.
#[derive(Default)]
struct Sessions {
    open: HashMap<String, (String, Instant)>,
    failures: VecDeque<Instant>,
}

fn sessions() -> std::sync::MutexGuard<'static, Sessions> {
    static SESSIONS: OnceLock<Mutex<Sessions>> = OnceLock::new();
    SESSIONS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// A key only this process knows, so that secrets of any length compare as equal-length MACs.
fn mac_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = uuid::Uuid::new_v4().as_bytes().to_vec();
        k.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        k
    })
}

fn same(a: &str, b: &str) -> bool {
    let key = mac_key();
    crate::aws::sigv4::constant_time_eq(
        &crate::aws::sigv4::hmac(key, a.as_bytes()),
        &crate::aws::sigv4::hmac(key, b.as_bytes()),
    )
}

/// Whether `(key, secret)` is one of the configured pairs. Every pair is compared, in constant
/// time, whatever matched first, so the time taken tells nothing about which pair came close.
pub fn accepted(pairs: &[(String, String)], key: &str, secret: &str) -> bool {
    pairs.iter().fold(false, |found, (k, s)| {
        let both = same(k, key) & same(s, secret);
        found | both
    })
}

/// The access key id of the request's session, if it carries a live one.
pub fn session_of(headers: &HeaderMap) -> Option<String> {
    let id = cookie(headers, COOKIE)?;
    let mut s = sessions();
    let now = Instant::now();
    s.open.retain(|_, (_, expires)| *expires > now);
    s.open.get(id).map(|(key, _)| key.clone())
}

fn open_session(key: &str) -> String {
    let id = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    sessions()
        .open
        .insert(id.clone(), (key.to_string(), Instant::now() + SESSION));
    id
}

/// Records a failed attempt; false when the attempt is over the limit (and was not checked).
fn under_limit(now: Instant) -> bool {
    let mut s = sessions();
    while s
        .failures
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        s.failures.pop_front();
    }
    s.failures.len() < MAX_FAILURES
}

fn failed(now: Instant) {
    sessions().failures.push_back(now);
}

/// Where to go after logging in: a console path given as `next`, or the dashboard.
fn next_of(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with(ROOT)
                && !n.starts_with("/_sagebox/login")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => ROOT.to_string(),
    }
}

fn form_page(key: &str, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" id=\"login-error\" role=\"alert\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<p>This sagebox runs with <code>--auth strict</code>: sign in with an access key pair it was started with (<code>--credentials KEY:SECRET</code>), the one your SDK signs with.</p>{error}\
<form id=\"login\" method=\"post\" action=\"{ROOT}login\" class=\"panel\">\
<input type=\"hidden\" name=\"next\" value=\"{next}\">\
<label for=\"field-AccessKeyId\">Access key ID</label><input name=\"AccessKeyId\" id=\"field-AccessKeyId\" value=\"{key}\" autocomplete=\"username\" required>\
<label for=\"field-SecretAccessKey\">Secret access key</label><input name=\"SecretAccessKey\" id=\"field-SecretAccessKey\" type=\"password\" autocomplete=\"current-password\" required>\
<button id=\"login-submit\" type=\"submit\">Sign in</button></form>",
        next = esc(next),
        key = esc(key)
    );
    let mut r = page("Sign in", "login", &body);
    *r.status_mut() = status;
    r
}

fn strict(state: &AppState) -> bool {
    state.services.config().auth == AuthMode::Strict
}

/// GET /_sagebox/login: the form (open mode: straight to the dashboard).
pub async fn show(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let next = next_of(q.get("next").map(String::as_str));
    if !strict(&state) || session_of(&headers).is_some() {
        return see_other(&next);
    }
    form_page("", &next, None, StatusCode::OK)
}

/// POST /_sagebox/login: checks the pair; a session cookie and the console, or 401 / 429.
pub async fn submit(State(state): State<AppState>, req: Request) -> Response {
    if !strict(&state) {
        return see_other(ROOT);
    }
    let (_, f) = match super::form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let key = f.get("AccessKeyId").map(|s| s.trim()).unwrap_or("");
    let secret = f.get("SecretAccessKey").map(String::as_str).unwrap_or("");
    let next = next_of(f.get("next").map(String::as_str));
    let now = Instant::now();
    if !under_limit(now) {
        let mut r = form_page(
            key,
            &next,
            Some("Too many failed sign-in attempts: wait a minute and try again."),
            StatusCode::TOO_MANY_REQUESTS,
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        return r;
    }
    if !accepted(&state.services.config().credentials, key, secret) {
        failed(now);
        tracing::info!("console sign-in refused");
        return form_page(key, &next, Some(REFUSAL), StatusCode::UNAUTHORIZED);
    }
    let id = open_session(key);
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, next)
        .header(
            header::SET_COOKIE,
            format!(
                "{COOKIE}={id}; Path=/_sagebox; Max-Age={}; HttpOnly; SameSite=Strict",
                SESSION.as_secs()
            ),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::empty())
        .unwrap_or_default()
}

/// POST /_sagebox/logout: ends the session and forgets the cookie.
pub async fn logout(req: Request) -> Response {
    if let Some(id) = cookie(req.headers(), COOKIE) {
        sessions().open.remove(id);
    }
    if let Err(r) = super::form(req).await {
        return *r;
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, format!("{ROOT}login"))
        .header(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/_sagebox; Max-Age=0; HttpOnly; SameSite=Strict"),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::empty())
        .unwrap_or_default()
}

/// The routes that need no session: the login itself and the stylesheet and script it loads.
pub fn is_public(path: &str) -> bool {
    path == "/_sagebox/login" || path.starts_with("/_sagebox/assets/")
}

/// The strict-mode gate in front of every console route: a live session passes; without one a
/// page request goes to the login (coming back afterwards), anything else is refused.
pub fn gate(req: &Request) -> Option<Response> {
    if is_public(req.uri().path()) || session_of(req.headers()).is_some() {
        return None;
    }
    if matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        let here = match req.uri().query() {
            Some(q) => format!("{}?{q}", req.uri().path()),
            None => req.uri().path().to_string(),
        };
        return Some(see_other(&format!(
            "{ROOT}login?next={}",
            super::enc(&next_of(Some(&here)))
        )));
    }
    let mut r = page(
        "Sign in first",
        "login",
        &format!(
            "<p class=\"error\" id=\"refused\">This sagebox runs with --auth strict: <a href=\"{ROOT}login\">sign in</a> with your access key first.</p>"
        ),
    );
    *r.status_mut() = StatusCode::FORBIDDEN;
    // The body is left unread, so the connection cannot carry another request: say so, or a
    // client reusing it would find it closed under its next request.
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    Some(r)
}

/// The "signed in as … / Sign out" line the dashboard shows under strict mode.
pub fn signed_in_as(headers: &HeaderMap) -> String {
    match session_of(headers) {
        Some(key) => format!(
            "<form id=\"logout\" method=\"post\" action=\"{ROOT}logout\" class=\"signed-in\">Signed in as <code>{}</code> <button id=\"logout-submit\" type=\"submit\">Sign out</button></form>",
            esc(&key)
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configured_pair_is_accepted() {
        let pairs = vec![
            ("AKIDONE".to_string(), "s3cr3t/with+chars".to_string()),
            ("AKIDTWO".to_string(), "other".to_string()),
        ];
        assert!(accepted(&pairs, "AKIDONE", "s3cr3t/with+chars"));
        assert!(accepted(&pairs, "AKIDTWO", "other"));
        assert!(!accepted(&pairs, "AKIDONE", "other"));
        assert!(!accepted(&pairs, "AKIDONE", "s3cr3t/with+chars "));
        assert!(!accepted(&pairs, "AKIDTHREE", "other"));
        assert!(!accepted(&pairs, "", ""));
        assert!(!accepted(&[], "AKIDONE", "s3cr3t/with+chars"));
    }

    #[test]
    fn next_stays_inside_the_console() {
        assert_eq!(
            next_of(Some("/_sagebox/models?x=1")),
            "/_sagebox/models?x=1"
        );
        assert_eq!(next_of(Some("https://evil.example/")), ROOT);
        assert_eq!(next_of(Some("/_sagebox//evil.example")), ROOT);
        assert_eq!(next_of(Some("/_sagebox/login")), ROOT);
        assert_eq!(next_of(None), ROOT);
    }

    #[test]
    fn a_session_is_found_by_its_cookie() {
        let id = open_session("AKIDONE");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}={id}").parse().unwrap(),
        );
        assert_eq!(session_of(&h).as_deref(), Some("AKIDONE"));
        h.insert(header::COOKIE, format!("{COOKIE}=nope").parse().unwrap());
        assert_eq!(session_of(&h), None);
    }
}
