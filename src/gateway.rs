//! The gateway: one port, many AWS protocols. Each request is classified by what it carries
//! (an `X-Amz-Target` prefix, a runtime path, a query `Action`, the SigV4 credential scope) and
//! handed to exactly one api module; whatever no other api claims is S3's.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;

use crate::AppState;
use crate::api;
use crate::aws::AwsError;
use crate::aws::error::new_request_id;
use crate::aws::sigv4::credential_scope;

/// Largest control-plane request body accepted (awsJson and query); S3 bodies stream instead.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Which api a request belongs to.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    SageMaker(String),
    Logs(String),
    /// An `X-Amz-Target` for a service sagebox does not serve.
    UnknownTarget(String),
    Runtime,
    Sts,
    Iam,
    /// A query-protocol request whose service must be read from its `Action`.
    Query,
    S3,
}

pub fn classify(method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> Route {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return match target.split_once('.') {
            Some(("SageMaker", op)) => Route::SageMaker(op.to_string()),
            Some(("Logs_20140328", op)) => Route::Logs(op.to_string()),
            _ => Route::UnknownTarget(target.to_string()),
        };
    }
    if method == Method::POST && path.starts_with("/endpoints/") && path.contains("/invocations") {
        return Route::Runtime;
    }
    if path == "/" {
        let form = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let action_in_query =
            query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "Action"));
        if form || action_in_query {
            return match credential_scope(headers, query).map(|s| s.service) {
                Some(s) if s == "sts" => Route::Sts,
                Some(s) if s == "iam" => Route::Iam,
                _ => Route::Query,
            };
        }
    }
    Route::S3
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_sagebox/health", get(api::admin::health))
        .fallback(dispatch)
        .with_state(state)
}

async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = classify(&method, &path, req.uri().query(), req.headers());
    let resp = match &route {
        Route::S3 => s3(&state, req, &path, &request_id).await,
        Route::Runtime => api::runtime::handle(&state.services, req, &request_id).await,
        Route::UnknownTarget(t) => api::json::unknown_operation(t).into_json_response(&request_id),
        Route::SageMaker(_) | Route::Logs(_) | Route::Sts | Route::Iam | Route::Query => {
            control_plane(&state, &route, req, &request_id).await
        }
    };
    tracing::debug!(
        %method, path, route = ?route, status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64, "request"
    );
    resp
}

/// awsJson and query-protocol requests: small bodies, read whole, then one api module.
async fn control_plane(
    state: &AppState,
    route: &Route,
    req: Request,
    request_id: &str,
) -> Response {
    let services = &state.services;
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_json_response(request_id),
    };
    match route {
        Route::SageMaker(op) => {
            return api::sagemaker::handle(services, op, &bytes, request_id).await;
        }
        Route::Logs(op) => return api::logs::handle(services, op, &bytes, request_id).await,
        _ => {}
    }
    let q = api::query::QueryRequest::parse(parts.uri.query(), &bytes);
    let is_sts = match route {
        Route::Sts => true,
        Route::Iam => false,
        // Without a credential scope, the action name tells STS from IAM.
        _ => q.action().is_some_and(|a| api::sts::ACTIONS.contains(&a)),
    };
    if is_sts {
        api::sts::handle(services, &q, request_id)
    } else {
        api::iam::handle(services, &q, request_id)
    }
}

/// Hands the request, body still streaming, to the s3s service.
async fn s3(state: &AppState, req: Request, path: &str, request_id: &str) -> Response {
    use tower::ServiceExt;
    let req = api::s3_anonymous::make_anonymous(req);
    match state.s3.clone().oneshot(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::error!(error = ?e, "S3 request failed");
            AwsError::internal("We encountered an internal error. Please try again.")
                .into_s3_response(path, request_id)
        }
    }
}

async fn read_body(body: Body) -> Result<bytes::Bytes, AwsError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        AwsError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SerializationException",
            format!("Could not read the request body: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn targets_pick_the_json_services() {
        let h = headers(&[("x-amz-target", "SageMaker.DescribeModel")]);
        assert_eq!(
            classify(&Method::POST, "/", None, &h),
            Route::SageMaker("DescribeModel".into())
        );
        let h = headers(&[("x-amz-target", "Logs_20140328.PutLogEvents")]);
        assert_eq!(
            classify(&Method::POST, "/", None, &h),
            Route::Logs("PutLogEvents".into())
        );
        let h = headers(&[("x-amz-target", "DynamoDB_20120810.GetItem")]);
        assert!(matches!(
            classify(&Method::POST, "/", None, &h),
            Route::UnknownTarget(_)
        ));
    }

    #[test]
    fn query_protocol_routes_by_credential_scope_then_action() {
        let form = (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        let iam = (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        );
        assert_eq!(
            classify(&Method::POST, "/", None, &headers(&[form, iam])),
            Route::Iam
        );
        assert_eq!(
            classify(&Method::POST, "/", None, &headers(&[form])),
            Route::Query
        );
        assert_eq!(
            classify(
                &Method::GET,
                "/",
                Some("Action=GetCallerIdentity"),
                &HeaderMap::new()
            ),
            Route::Query
        );
    }

    #[test]
    fn runtime_paths_and_everything_else() {
        assert_eq!(
            classify(
                &Method::POST,
                "/endpoints/ep/invocations",
                None,
                &HeaderMap::new()
            ),
            Route::Runtime
        );
        assert_eq!(
            classify(&Method::GET, "/bucket/key", None, &HeaderMap::new()),
            Route::S3
        );
        assert_eq!(
            classify(&Method::PUT, "/bucket", None, &HeaderMap::new()),
            Route::S3
        );
        assert_eq!(
            classify(&Method::POST, "/bucket?delete", None, &HeaderMap::new()),
            Route::S3
        );
    }
}
