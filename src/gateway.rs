//! The gateway: one port, many AWS protocols. Each request is classified by what it carries
//! (an `X-Amz-Target` prefix, a runtime path, a query `Action`, the SigV4 credential scope) and
//! handed to exactly one api module; whatever no other api claims is S3's.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get};

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
    /// CloudWatch metrics in one of its three protocols; the operation, except for query
    /// requests, which name it in `Action`.
    CloudWatch(api::cloudwatch::Protocol, Option<String>),
    /// The SageMaker Metrics API (restJson1), by operation.
    Metrics(&'static str),
    /// An `X-Amz-Target` for a service sagebox does not serve.
    UnknownTarget(String),
    Runtime,
    /// The Feature Store's record API (restJson1, signed for `sagemaker`).
    FeatureStore,
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
            Some((api::cloudwatch::TARGET_PREFIX, op)) => {
                Route::CloudWatch(api::cloudwatch::Protocol::Json, Some(op.to_string()))
            }
            _ => Route::UnknownTarget(target.to_string()),
        };
    }
    if method == Method::POST && path.starts_with("/endpoints/") && path.contains("/invocations") {
        return Route::Runtime;
    }
    if api::featurestore::is_feature_store_path(path) && is_feature_store(headers, query) {
        return Route::FeatureStore;
    }
    // capitalised paths: no S3 bucket has such a name
    if let Some(op) = api::metrics::operation(method, path) {
        return Route::Metrics(op);
    }
    if method == Method::POST
        && let Some(op) = api::cloudwatch::cbor_operation(path)
    {
        return Route::CloudWatch(api::cloudwatch::Protocol::Cbor, Some(op.to_string()));
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
                Some(s) if s == "monitoring" => {
                    Route::CloudWatch(api::cloudwatch::Protocol::Query, None)
                }
                _ => Route::Query,
            };
        }
    }
    Route::S3
}

/// Whether a request on a Feature Store path is one: its client signs for `sagemaker` (the
/// model's signingName), and an unsigned one counts only when path style, as a virtual-hosted
/// S3 key (`bucket.localhost/FeatureGroup/...`) has the same path.
fn is_feature_store(headers: &HeaderMap, query: Option<&str>) -> bool {
    match credential_scope(headers, query) {
        Some(scope) => scope.service == "sagemaker",
        None => headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|h| api::s3::virtual_bucket(h).is_none()),
    }
}

pub fn router(state: AppState) -> Router {
    let allowed = std::sync::Arc::new(state.services.config().access.allowed_hosts.clone());
    Router::new()
        .route("/_sagebox/health", get(api::admin::health))
        .route(
            "/_sagebox/agent/binds/{id}",
            get(crate::agent::serve::download).put(crate::agent::serve::upload),
        )
        .route("/_sagebox/notebooks/{*path}", any(api::notebooks::handle))
        .route("/_sagebox/studio/{*path}", any(api::studio::handle))
        .merge(crate::console::router(state.clone()))
        .fallback(dispatch)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            allowed,
            crate::guard::layer,
        ))
}

async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if crate::console::wants_console(&method, &path, req.uri().query(), req.headers()) {
        return crate::console::see_other(crate::console::ROOT);
    }
    let route = classify(&method, &path, req.uri().query(), req.headers());
    // A presigned URL's expiry holds in every auth mode (only signatures need `--auth strict`).
    if route == Route::S3
        && let Some(q) = req.uri().query()
        && let Err(e) =
            crate::aws::sigv4::presigned_validity(q, crate::aws::time::now_epoch() as i64)
    {
        return render(&route, signature_error(e, &route), &path, &request_id);
    }
    // Strict mode checks every signature; the Docker bridge listener, in either mode, answers
    // only requests signed with the credentials sagebox issued to its own containers.
    let bridge = req.extensions().get::<crate::listener::Listener>()
        == Some(&crate::listener::Listener::Bridge);
    let req = if bridge || state.services.config().auth == crate::config::AuthMode::Strict {
        match authenticate(&state, req, &route, &request_id).await {
            Ok(req) => req,
            Err(resp) => return resp,
        }
    } else {
        req
    };
    let resp = match &route {
        Route::S3 => s3(&state, req, &path, &request_id).await,
        Route::Runtime => api::runtime::handle(&state.services, req, &request_id).await,
        Route::FeatureStore => api::featurestore::handle(&state.services, req, &request_id).await,
        Route::UnknownTarget(t) => api::json::unknown_operation(t).into_json_response(&request_id),
        Route::SageMaker(_)
        | Route::Logs(_)
        | Route::Metrics(_)
        | Route::CloudWatch(..)
        | Route::Sts
        | Route::Iam
        | Route::Query => control_plane(&state, &route, req, &request_id).await,
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
            // work started or changed before the startup recovery is through would be taken
            // for an earlier run's
            if ["Create", "Start", "Stop", "Update", "Delete"]
                .iter()
                .any(|verb| op.starts_with(verb))
            {
                services.after_recovery().await;
            }
            let caller = api::sagemaker::Caller::from_headers(&parts.headers);
            return api::sagemaker::handle(services, op, &bytes, request_id, caller).await;
        }
        Route::Logs(op) => return api::logs::handle(services, op, &bytes, request_id).await,
        Route::Metrics(op) => {
            return api::metrics::handle(services, op, &bytes, request_id).await;
        }
        Route::CloudWatch(protocol, op) => {
            let query = parts.uri.query();
            return api::cloudwatch::handle(
                services,
                *protocol,
                op.as_deref(),
                query,
                &parts.headers,
                &bytes,
                request_id,
            )
            .await;
        }
        _ => {}
    }
    let q = api::query::QueryRequest::parse(parts.uri.query(), &bytes);
    // Without a credential scope, CloudWatch's actions are told apart by name too.
    if *route == Route::Query
        && let Some(action) = q.action()
        && !api::sts::ACTIONS.contains(&action)
        && api::cloudwatch::is_action(action)
    {
        let query = parts.uri.query();
        let protocol = api::cloudwatch::Protocol::Query;
        let headers = &parts.headers;
        return api::cloudwatch::handle(
            services, protocol, None, query, headers, &bytes, request_id,
        )
        .await;
    }
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
    if let Some(refusal) = api::s3::preflight(req.method(), req.headers())
        .or_else(|| api::s3::delete_objects_digest(req.method(), req.uri().query(), req.headers()))
    {
        return refusal.into_s3_response(path, request_id);
    }
    let req = api::s3::anonymous::make_anonymous(req);
    let attributes = api::s3::attributes::is_attributes_request(req.method(), req.uri().query());
    match state.s3.clone().oneshot(req).await {
        Ok(resp) => api::s3::finish(resp.map(Body::new), attributes, request_id).await,
        Err(e) => {
            tracing::error!(error = ?e, "S3 request failed");
            AwsError::internal("We encountered an internal error. Please try again.")
                .into_s3_response(path, request_id)
        }
    }
}

/// The request's SigV4 signature must match one of the keys sagebox accepts (`--credentials`
/// and the pair issued to its containers), with its X-Amz-Date inside the skew window and
/// `host` signed. Control-plane requests are read whole, as their signature covers the body
/// (hashed here, whatever a header claims). S3 bodies are bound to the payload the signature
/// names: small ones are read and checked before the operation starts; larger ones, and
/// aws-chunked bodies chunk by chunk, as they stream (see `api::s3::payload`).
async fn authenticate(
    state: &AppState,
    req: Request,
    route: &Route,
    request_id: &str,
) -> Result<Request, Response> {
    use crate::aws::sigv4::{Payload, SignedRequest, verify};
    let services = &state.services;
    let now = crate::aws::time::now_epoch() as i64;
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let refuse = |e| {
        tracing::debug!(error = ?e, "signature refused");
        render(route, signature_error(e, route), &path, request_id)
    };
    if *route == Route::S3 {
        let signed = SignedRequest {
            method: parts.method.as_str(),
            path: &path,
            query: parts.uri.query(),
            headers: &parts.headers,
        };
        let verified = verify(&signed, Payload::HeaderOnly, true, now, |k| {
            services.secret_of(k)
        })
        .map_err(refuse)?;
        let body = s3_payload(&mut parts, body, &verified)
            .await
            .map_err(|e| render(route, e, &path, request_id))?;
        return Ok(Request::from_parts(parts, body));
    }
    let limit = if *route == Route::Runtime {
        api::runtime::MAX_PAYLOAD + 1
    } else {
        MAX_BODY
    };
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            let err = AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SerializationException",
                format!("Could not read the request body: {e}"),
            );
            return Err(render(route, err, &path, request_id));
        }
    };
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: &path,
        query: parts.uri.query(),
        headers: &parts.headers,
    };
    verify(&signed, Payload::Body(&bytes), false, now, |k| {
        services.secret_of(k)
    })
    .map_err(refuse)?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// S3 bodies up to this size are read and checked against their signed hash before the
/// operation starts, so every operation answers a changed body with S3's error.
const S3_CHECK_WHOLE: u64 = 1 << 20;

/// Binds an S3 body to the payload a verified signature names.
async fn s3_payload(
    parts: &mut axum::http::request::Parts,
    body: Body,
    verified: &crate::aws::sigv4::Verified,
) -> Result<Body, AwsError> {
    use crate::api::s3::payload::{self, PayloadVerdict};
    if let Some(signer) = crate::aws::sigv4::chunks::ChunkSigner::seeded_by(verified) {
        parts.extensions.insert(signer);
        parts.extensions.insert(PayloadVerdict::default());
        return Ok(body);
    }
    let Some(expected) = payload::parse_sha256(&verified.payload_hash) else {
        // UNSIGNED-PAYLOAD and STREAMING-UNSIGNED-PAYLOAD-TRAILER: the body is not signed.
        return Ok(body);
    };
    let length = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|l| l <= S3_CHECK_WHOLE) {
        let bytes = axum::body::to_bytes(body, S3_CHECK_WHOLE as usize)
            .await
            .map_err(|e| {
                AwsError::bad_request("IncompleteBody", format!("Could not read the body: {e}"))
            })?;
        use sha2::Digest;
        if sha2::Sha256::digest(&bytes).as_slice() != expected {
            return Err(AwsError::bad_request(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
        return Ok(Body::from(bytes));
    }
    let verdict = PayloadVerdict::default();
    parts.extensions.insert(verdict.clone());
    Ok(payload::sha256_checked(body, expected, verdict))
}

/// A refused signature as the api the request was for reports it.
fn signature_error(e: crate::aws::sigv4::SignatureError, route: &Route) -> AwsError {
    use crate::aws::sigv4::SignatureError;
    let s3 = *route == Route::S3;
    let json = matches!(
        route,
        Route::SageMaker(_)
            | Route::Logs(_)
            | Route::UnknownTarget(_)
            | Route::Runtime
            | Route::FeatureStore
            | Route::Metrics(_)
    ) || matches!(route, Route::CloudWatch(p, _) if *p != api::cloudwatch::Protocol::Query);
    let mismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    match e {
        SignatureError::Missing if s3 => {
            AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
        }
        SignatureError::Missing if json => AwsError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        SignatureError::Missing => AwsError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ),
        SignatureError::UnknownKey(_) if s3 => AwsError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        SignatureError::UnknownKey(_) if json => AwsError::bad_request(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        SignatureError::UnknownKey(_) => AwsError::new(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        SignatureError::Mismatch(_) if s3 => AwsError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ),
        SignatureError::Mismatch(_) if json => {
            AwsError::bad_request("InvalidSignatureException", mismatch)
        }
        SignatureError::Mismatch(_) => {
            AwsError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", mismatch)
        }
        SignatureError::Expired => {
            AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
        }
        SignatureError::Forbidden(m) => AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", m),
        SignatureError::NotYetValid => AwsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request is not yet valid",
        ),
        SignatureError::Skewed(_) if s3 => AwsError::new(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ),
        SignatureError::Skewed(skew) if json => {
            AwsError::bad_request("InvalidSignatureException", skew_message(&skew))
        }
        SignatureError::Skewed(skew) => AwsError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            skew_message(&skew),
        ),
        SignatureError::Invalid(m) if s3 => AwsError::bad_request("InvalidRequest", m),
        SignatureError::Invalid(m) if json => {
            AwsError::bad_request("IncompleteSignatureException", m)
        }
        SignatureError::Invalid(m) => AwsError::bad_request("IncompleteSignature", m),
    }
}

/// AWS's words for a signature outside the skew window, e.g. `Signature expired:
/// 20260101T000000Z is now earlier than 20261201T115500Z (20261201T120000Z - 5 min.)`.
fn skew_message(skew: &crate::aws::sigv4::Skew) -> String {
    let stamp = |epoch: i64| {
        time::OffsetDateTime::from_unix_timestamp(epoch)
            .ok()
            .and_then(|t| {
                t.format(time::macros::format_description!(
                    "[year][month][day]T[hour][minute][second]Z"
                ))
                .ok()
            })
            .unwrap_or_default()
    };
    let minutes = skew.window_secs / 60;
    let late =
        crate::aws::sigv4::parse_amz_date(&skew.amz_date).is_some_and(|t| t < skew.now_epoch);
    if late {
        format!(
            "Signature expired: {} is now earlier than {} ({} - {minutes} min.)",
            skew.amz_date,
            stamp(skew.now_epoch - skew.window_secs),
            stamp(skew.now_epoch)
        )
    } else {
        format!(
            "Signature not yet current: {} is still later than {} ({} + {minutes} min.)",
            skew.amz_date,
            stamp(skew.now_epoch + skew.window_secs),
            stamp(skew.now_epoch)
        )
    }
}

/// An error in the protocol of the api the request was for.
fn render(route: &Route, err: AwsError, path: &str, request_id: &str) -> Response {
    match route {
        Route::S3 => err.into_s3_response(path, request_id),
        Route::Runtime | Route::FeatureStore | Route::Metrics(_) => {
            err.into_rest_json_response(request_id)
        }
        Route::SageMaker(_) | Route::Logs(_) | Route::UnknownTarget(_) => {
            err.into_json_response(request_id)
        }
        Route::CloudWatch(protocol, _) => {
            api::cloudwatch::error_response(*protocol, err, request_id)
        }
        Route::Iam => err.into_query_response(api::iam::XMLNS, request_id),
        Route::Sts | Route::Query => err.into_query_response(api::sts::XMLNS, request_id),
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
        let h = headers(&[("x-amz-target", "GraniteServiceVersion20100801.ListMetrics")]);
        assert_eq!(
            classify(&Method::POST, "/", None, &h),
            Route::CloudWatch(api::cloudwatch::Protocol::Json, Some("ListMetrics".into()))
        );
        assert_eq!(
            classify(
                &Method::POST,
                "/service/GraniteServiceVersion20100801/operation/PutMetricData",
                None,
                &HeaderMap::new()
            ),
            Route::CloudWatch(
                api::cloudwatch::Protocol::Cbor,
                Some("PutMetricData".into())
            )
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
    fn feature_store_paths_route_by_scope_and_host() {
        let signed = |service: &str| {
            let mut h = HeaderMap::new();
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
            );
            h.insert("authorization", auth.parse().unwrap());
            h
        };
        let put = |h: &HeaderMap, path: &str| classify(&Method::PUT, path, None, h);
        assert_eq!(
            put(&signed("sagemaker"), "/FeatureGroup/fg"),
            Route::FeatureStore
        );
        let batch = classify(&Method::POST, "/BatchGetRecord", None, &signed("sagemaker"));
        assert_eq!(batch, Route::FeatureStore);
        // an S3 key of a virtual-hosted bucket may have the same path
        assert_eq!(put(&signed("s3"), "/FeatureGroup/fg"), Route::S3);
        let virtual_host = headers(&[("host", "bucket.localhost:4599")]);
        assert_eq!(put(&virtual_host, "/FeatureGroup/fg"), Route::S3);
        let path_style = headers(&[("host", "127.0.0.1:4599")]);
        assert_eq!(put(&path_style, "/FeatureGroup/fg"), Route::FeatureStore);
        assert_eq!(put(&signed("sagemaker"), "/featuregroup/fg"), Route::S3);
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
