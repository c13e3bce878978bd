//! Jupyter behind sagebox: `/_sagebox/notebooks/<name>/...` is proxied to the instance's
//! container (HTTP and websockets, for kernels and terminals). The first request carries the
//! presigned URL's `authToken`, which is exchanged for a session cookie; every later request
//! needs that cookie. Jupyter itself only ever sees sagebox, which adds the instance's token.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;

use crate::AppState;
use crate::aws::model::typed::sagemaker::NotebookInstanceStatus;
use crate::aws::time::now_epoch;
use crate::service::notebooks::access::{Grant, Refusal};
use crate::service::notebooks::{Server, base_path};

const PREFIX: &str = "/_sagebox/notebooks/";

fn cookie_name(name: &str) -> String {
    format!("sagebox-notebook-{}", name.to_ascii_lowercase())
}

pub(crate) fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1><p>{m}</p></body></html>\n",
        t = crate::html::esc(title),
        m = crate::html::esc(message)
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn refused(r: Refusal) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "403 Forbidden",
        &format!(
            "{}. Open the notebook instance with a new URL from CreatePresignedNotebookInstanceUrl (aws sagemaker create-presigned-notebook-instance-url --notebook-instance-name NAME).",
            r.message()
        ),
    )
}

pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let services = &state.services;
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let name = name.to_string();
    if name.is_empty() {
        return page(
            StatusCode::NOT_FOUND,
            "404 Not Found",
            "No notebook instance named.",
        );
    }
    let signer = match services.notebook_signer() {
        Ok(s) => s,
        Err(e) => return page(StatusCode::INTERNAL_SERVER_ERROR, "500", &e.to_string()),
    };
    let now = now_epoch() as u64;
    let base = base_path(&name);

    // A presigned URL: exchange its authToken for a session cookie, then open the file browser,
    // or JupyterLab when the URL asks for it with `&view=lab` (as SageMaker's "Open JupyterLab").
    if let Some(token) = query_param(req.uri().query(), "authToken") {
        let landing = match query_param(req.uri().query(), "view").as_deref() {
            Some("lab") => "lab",
            _ => "tree",
        };
        return match signer.verify(&token, &name, now) {
            Ok(Grant::Url { session_secs }) => {
                let session = signer.issue(&name, Grant::Session, now + session_secs);
                let cookie = format!(
                    "{}={session}; Path={base}; Max-Age={session_secs}; HttpOnly; SameSite=Lax",
                    cookie_name(&name)
                );
                Response::builder()
                    .status(StatusCode::FOUND)
                    .header(header::LOCATION, format!("{base}{landing}"))
                    .header(header::SET_COOKIE, cookie)
                    .header(header::CACHE_CONTROL, "no-store")
                    .body(Body::empty())
                    .unwrap_or_default()
            }
            Ok(Grant::Session) => refused(Refusal::Malformed),
            Err(r) => refused(r),
        };
    }
    match cookie(req.headers(), &cookie_name(&name)).map(|c| signer.verify(c, &name, now)) {
        Some(Ok(Grant::Session)) => {}
        Some(Ok(Grant::Url { .. })) => return refused(Refusal::Malformed),
        Some(Err(r)) => return refused(r),
        None => return refused(Refusal::Malformed),
    }
    let Some(server) = services.notebook_server(&name) else {
        let status = services
            .describe_notebook_instance(&name)
            .await
            .ok()
            .map(|d| d.status.unwrap_or(NotebookInstanceStatus::Pending));
        let message = match status {
            Some(s) => format!(
                "The notebook instance {name} is {s}, not InService. Start it with StartNotebookInstance and reload this page once it is InService."
            ),
            None => format!("There is no notebook instance named {name}."),
        };
        return page(StatusCode::SERVICE_UNAVAILABLE, "Not available", &message);
    };
    if tail.is_empty() && !path.ends_with('/') {
        return Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, format!("{base}tree"))
            .body(Body::empty())
            .unwrap_or_default();
    }

    // Forward, with the instance's own token; Jupyter's base_url is the lower-cased name.
    let mut out = forward(
        services,
        req,
        &format!("{base}{tail}"),
        &server,
        "notebook instance",
        &name,
    )
    .await;
    if let Ok(v) = HeaderValue::from_str(&name) {
        out.headers_mut().insert("x-sagebox-notebook", v);
    }
    out
}

/// Relays one request (HTTP, or a websocket upgrade for kernels and terminals) to the Jupyter
/// `server` at `upstream_path` (under its base_url), with the server's own token in place of
/// whatever Authorization the browser sent. Notebook instances and Studio apps share it;
/// `what` and `name` only say, in an error page, whose Jupyter did not answer.
pub(crate) async fn forward(
    services: &crate::service::Services,
    mut req: Request,
    upstream_path: &str,
    server: &Server,
    what: &str,
    name: &str,
) -> Response {
    let uri = match req.uri().query() {
        Some(q) => format!("http://127.0.0.1:{}{upstream_path}?{q}", server.port),
        None => format!("http://127.0.0.1:{}{upstream_path}", server.port),
    };
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let mut builder = http::Request::builder().method(parts.method).uri(uri);
    for (k, v) in &parts.headers {
        let hop = HOP_BY_HOP.contains(&k.as_str());
        if (hop && !upgrade) || k == header::AUTHORIZATION {
            continue;
        }
        builder = builder.header(k, v);
    }
    builder = builder.header(header::AUTHORIZATION, format!("token {}", server.token));
    let upstream_req = match builder.body(if upgrade { Body::empty() } else { body }) {
        Ok(r) => r,
        Err(e) => return page(StatusCode::BAD_REQUEST, "400 Bad Request", &e.to_string()),
    };
    let mut resp = match services.container_client().request(upstream_req).await {
        Ok(r) => r,
        Err(e) => {
            return page(
                StatusCode::BAD_GATEWAY,
                "502 Bad Gateway",
                &format!("Jupyter on {what} {name} did not answer: {e}"),
            );
        }
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return page(
                StatusCode::BAD_GATEWAY,
                "502 Bad Gateway",
                "unexpected upgrade",
            );
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) else {
                return;
            };
            let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                // Either side hanging up mid-stream ends a WebSocket this way; nothing to do.
                tracing::debug!("notebook upgrade: relay ended: {e}");
            }
        });
        let mut out = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
        for (k, v) in resp.headers() {
            out = out.header(k, v);
        }
        return out.body(Body::empty()).unwrap_or_default();
    }
    let (parts, body) = resp.into_parts();
    let mut out = Response::builder().status(parts.status);
    for (k, v) in &parts.headers {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            out = out.header(k, v);
        }
    }
    out.body(Body::new(body)).unwrap_or_default()
}
