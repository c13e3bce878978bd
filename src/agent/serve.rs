//! sagebox's side of the agent: `GET /_sagebox/agent/binds/{id}` answers a host path as a tar
//! stream, `PUT` extracts one into it. The id is the host path and the token an HMAC over it
//! (see `plan`), so these routes reach exactly the paths sagebox planned for its containers;
//! they are served on the Docker bridge listener too, where the guard lets only them through.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::plan::{self, Access};
use super::tree::{self, ExtractError, KIND_HEADER, Kind};
use crate::AppState;

/// Whether a request path is one of the agent's (what the bridge listener lets through): the
/// binds prefix and one base64url id, nothing else.
pub fn is_agent_path(path: &str) -> bool {
    path.strip_prefix(plan::BINDS_PATH).is_some_and(|id| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn answer(status: StatusCode, message: &str) -> Response {
    let mut r = (status, format!("{message}\n")).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The host path `id` names, if the request's token grants `wanted` on it.
fn authorize(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    wanted: Access,
) -> Result<std::path::PathBuf, Box<Response>> {
    let Some(host_path) = plan::decode_id(id) else {
        return Err(Box::new(answer(
            StatusCode::BAD_REQUEST,
            "the bind id is not a base64url host path",
        )));
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(plan::token_of_header);
    let key = state.services.agent_key();
    if !token.is_some_and(|t| plan::allows(&key, t, wanted, &host_path)) {
        tracing::warn!(
            host_path,
            ?wanted,
            "refused an agent request without a valid token"
        );
        return Err(Box::new(answer(
            StatusCode::FORBIDDEN,
            "no valid agent token for this bind (Authorization: SageboxAgent <token>)",
        )));
    }
    Ok(host_path.into())
}

/// `GET`: the host path as a tar stream, its kind in `X-Sagebox-Bind-Kind`.
pub async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let host_path = match authorize(&state, &id, &headers, Access::Read) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let kind = match tokio::fs::metadata(&host_path).await {
        Ok(m) if m.is_dir() => Kind::Dir,
        Ok(m) if m.is_file() => Kind::File,
        Ok(_) => {
            return answer(
                StatusCode::BAD_REQUEST,
                "the bind is neither a file nor a directory",
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return answer(StatusCode::NOT_FOUND, "the bind's host path is not there");
        }
        Err(e) => return answer(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let shown = host_path.display().to_string();
    let (stream, job) =
        super::bridge::stream_from_blocking(move |w| tree::write_tar(&host_path, kind, w));
    tokio::spawn(async move {
        match job.await {
            Ok(Ok(stats)) => tracing::debug!(
                path = shown,
                files = stats.files,
                bytes = stats.bytes,
                "agent fetched a bind"
            ),
            Ok(Err(e)) => tracing::warn!(path = shown, "an agent's bind download failed: {e}"),
            Err(e) => tracing::warn!(path = shown, "an agent's bind download panicked: {e}"),
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    h.insert(KIND_HEADER, HeaderValue::from_static(kind.as_str()));
    resp
}

/// `PUT`: extracts the tar body into the host path (a write token only).
pub async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let host_path = match authorize(&state, &id, req.headers(), Access::Write) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let kind = match req.headers().get(KIND_HEADER) {
        None => Kind::Dir,
        Some(v) => match v.to_str().ok().and_then(Kind::parse) {
            Some(k) => k,
            None => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    "X-Sagebox-Bind-Kind must be file or dir",
                );
            }
        },
    };
    let mirror = req
        .headers()
        .get(super::mirror::MIRROR_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1");
    let keep = match req.headers().get(super::mirror::KEEP_HEADER) {
        None => Vec::new(),
        Some(v) => match v.to_str().ok().and_then(super::mirror::decode_keep) {
            Some(keep) => keep,
            None => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    "X-Sagebox-Bind-Keep must be base64url of a JSON list of relative paths",
                );
            }
        },
    };
    let shown = host_path.display().to_string();
    let body = req.into_body();
    let extracted = super::bridge::read_body_blocking(body, move |r| {
        tree::extract_as(r, &host_path, kind, mirror.then_some(keep.as_slice()))
    })
    .await;
    match extracted {
        Ok(Ok(stats)) => {
            tracing::debug!(
                path = shown,
                files = stats.files,
                bytes = stats.bytes,
                "agent returned a bind"
            );
            let body = serde_json::json!({ "files": stats.files, "bytes": stats.bytes });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(Err(ExtractError::Refused(why))) => {
            tracing::warn!(path = shown, "refused an agent's upload: {why}");
            answer(StatusCode::BAD_REQUEST, &format!("refused: {why}"))
        }
        Ok(Err(ExtractError::Io(e))) => {
            tracing::warn!(path = shown, "an agent's upload failed: {e}");
            answer(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_binds_prefix_and_one_id_are_agent_paths() {
        assert!(is_agent_path("/_sagebox/agent/binds/L2gvaW4"));
        assert!(is_agent_path("/_sagebox/agent/binds/a-b_c"));
        for other in [
            "/_sagebox/agent/binds/",
            "/_sagebox/agent/binds/x/../../health",
            "/_sagebox/agent/binds/x/y",
            "/_sagebox/agent/binds/x%2F",
            "/_sagebox/agent/other",
            "/_sagebox/agent",
            "/_sagebox/health",
            "/_sagebox/agentbinds/x",
        ] {
            assert!(!is_agent_path(other), "{other}");
        }
    }
}
