//! Studio behind sagebox: `/_sagebox/studio/<domain>/<owner>/` is where a presigned domain URL
//! lands (its `authToken` becomes a session cookie for that user profile or space, then the
//! browser goes on to the owner's running JupyterLab app); `/_sagebox/studio/<domain>/<owner>/
//! <app-type>/<app-name>/...` is proxied to that app's Jupyter with the notebook proxy's relay.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;

use super::notebooks::{cookie, forward, page, query_param};
use crate::AppState;
use crate::aws::time::now_epoch;
use crate::service::notebooks::access::{Grant, Refusal};
use crate::service::studio::{Landing, PREFIX, session_subject};

fn cookie_name(domain: &str, owner: &str) -> String {
    format!("sagebox-studio-{}-{owner}", domain.to_ascii_lowercase())
}

fn refused(r: Refusal) -> Response {
    let message = match r {
        Refusal::OtherInstance => {
            "Invalid or Expired Auth Token: it was issued for another user profile or space"
        }
        other => other.message(),
    };
    page(
        StatusCode::FORBIDDEN,
        "403 Forbidden",
        &format!(
            "{message}. Open Studio with a new URL from CreatePresignedDomainUrl (aws sagemaker create-presigned-domain-url --domain-id ID --user-profile-name NAME)."
        ),
    )
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut b = Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, to)
        .header(header::CACHE_CONTROL, "no-store");
    if let Some(c) = cookie {
        b = b.header(header::SET_COOKIE, c);
    }
    b.body(Body::empty()).unwrap_or_default()
}

pub async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let services = &state.services;
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let mut parts = rest.splitn(5, '/');
    let domain = parts.next().unwrap_or_default().to_ascii_lowercase();
    let owner = parts.next().unwrap_or_default().to_ascii_lowercase();
    let app_type = parts.next().unwrap_or_default().to_ascii_lowercase();
    let app_name = parts.next().unwrap_or_default().to_ascii_lowercase();
    let tail = parts.next().unwrap_or_default();
    if domain.is_empty() || owner.is_empty() {
        let message = "Open Studio with a URL from CreatePresignedDomainUrl.";
        return page(StatusCode::NOT_FOUND, "404 Not Found", message);
    }
    let signer = match services.notebook_signer() {
        Ok(s) => s,
        Err(e) => return page(StatusCode::INTERNAL_SERVER_ERROR, "500", &e.to_string()),
    };
    let now = now_epoch() as u64;
    let subject = session_subject(&domain, &owner);
    let home = format!("{PREFIX}{domain}/{owner}/");

    // A presigned URL: its authToken becomes the session cookie for the whole owner's path.
    if let Some(token) = query_param(req.uri().query(), "authToken") {
        return match signer.verify(&token, &subject, now) {
            Ok(Grant::Url { session_secs }) => {
                let session = signer.issue(&subject, Grant::Session, now + session_secs);
                let cookie = format!(
                    "{}={session}; Path={home}; Max-Age={session_secs}; HttpOnly; SameSite=Lax",
                    cookie_name(&domain, &owner)
                );
                // a LandingUri's app travels on to the landing, which has the cookie then
                let to = match query_param(req.uri().query(), "landing") {
                    Some(l) => format!(
                        "{home}?landing={}",
                        form_urlencoded::byte_serialize(l.as_bytes()).collect::<String>()
                    ),
                    None => home.clone(),
                };
                redirect(&to, Some(cookie))
            }
            Ok(Grant::Session) => refused(Refusal::Malformed),
            Err(r) => refused(r),
        };
    }
    match cookie(req.headers(), &cookie_name(&domain, &owner))
        .map(|c| signer.verify(c, &subject, now))
    {
        Some(Ok(Grant::Session)) => {}
        Some(Ok(Grant::Url { .. })) | None => return refused(Refusal::Malformed),
        Some(Err(r)) => return refused(r),
    }
    if app_type.is_empty() || app_name.is_empty() {
        // the landing: the owner's running JupyterLab (else JupyterServer) app, or the app
        // type (and path) a LandingUri named
        let (wanted, path) =
            match query_param(req.uri().query(), "landing").map(|l| Landing::parse(&l)) {
                Some(Landing::App { app_type, path }) => (Some(app_type), path),
                _ => (None, String::new()),
            };
        return match services.studio_landing(&domain, &owner, wanted.as_deref()) {
            Some(base) => {
                let app_type = if base.contains("/jupyterlab/") {
                    "JupyterLab"
                } else {
                    "JupyterServer"
                };
                redirect(
                    &format!("{base}{}", Landing::app_path(app_type, &path)),
                    None,
                )
            }
            None => page(
                StatusCode::SERVICE_UNAVAILABLE,
                "No running app",
                &format!(
                    "No JupyterLab app is running for {owner} in domain {domain}. Create one with CreateApp (AppType JupyterLab, AppName default), wait until DescribeApp says InService, then open this page again."
                ),
            ),
        };
    }
    let base = format!("{home}{app_type}/{app_name}/");
    let Some(server) = services.studio_server(&base) else {
        let message = format!(
            "The {app_type} app {app_name} of {owner} in domain {domain} is not running. Create it with CreateApp and open this page again once DescribeApp says InService."
        );
        return page(StatusCode::SERVICE_UNAVAILABLE, "Not available", &message);
    };
    forward(
        services,
        req,
        &format!("{base}{tail}"),
        &server,
        "Studio app",
        &app_name,
    )
    .await
}
