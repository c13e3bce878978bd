//! awsJson 1.1 plumbing shared by SageMaker and CloudWatch Logs: parse the body, tell unknown
//! operations from unimplemented ones, validate against the botocore model, run the operation,
//! and render the result or error with the request id.

use std::future::Future;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::aws::AwsError;
use crate::aws::model::{InputError, Model};
use crate::service::{Request, ServiceError};

/// Serves one awsJson call. `run` gets the validated request and returns the output members.
pub async fn serve<F, Fut>(
    model: &'static Model,
    op: &str,
    body: &[u8],
    request_id: &str,
    map_error: fn(ServiceError) -> AwsError,
    run: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Value, ServiceError>>,
{
    match prepare(model, op, body, map_error) {
        Ok(req) => match run(req).await {
            Ok(out) => ok(out, request_id),
            Err(e) => map_error(e).into_json_response(request_id),
        },
        Err(e) => e.into_json_response(request_id),
    }
}

/// Runs one call made from inside sagebox (a pipeline step calling SageMaker as SageMaker
/// Pipelines does): the same checks and handler as a client's request, without HTTP.
pub async fn call<F, Fut>(
    model: &'static Model,
    op: &str,
    body: &Value,
    map_error: fn(ServiceError) -> AwsError,
    run: F,
) -> Result<Value, AwsError>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Value, ServiceError>>,
{
    let bytes = serde_json::to_vec(body).map_err(|e| AwsError::internal(e.to_string()))?;
    let req = prepare(model, op, &bytes, map_error)?;
    run(req).await.map_err(map_error)
}

/// Model constraint violations go through the service's own mapping as `InvalidParameter`:
/// SageMaker reports them as ValidationException, CloudWatch Logs as InvalidParameterException.
fn prepare(
    model: &'static Model,
    op: &str,
    body: &[u8],
    map_error: fn(ServiceError) -> AwsError,
) -> Result<Request, AwsError> {
    if !model.is_known_operation(op) {
        return Err(unknown_operation(op));
    }
    let Some(operation) = model.operation(op) else {
        return Err(AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplementedException",
            format!("sagebox does not implement {}.{op} yet.", model.service),
        ));
    };
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            AwsError::bad_request(
                "SerializationException",
                format!("The request body is not valid JSON: {e}"),
            )
        })?
    };
    model.validate(operation, &value).map_err(|e| match e {
        InputError::Serialization(m) => AwsError::bad_request("SerializationException", m),
        InputError::Validation(m) => map_error(ServiceError::InvalidParameter(m)),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(AwsError::bad_request(
            "SerializationException",
            "The request body must be a JSON object.",
        )),
    }
}

pub fn unknown_operation(op: &str) -> AwsError {
    AwsError::bad_request(
        "UnknownOperationException",
        format!("Unknown operation: {op}"),
    )
}

pub fn ok(out: Value, request_id: &str) -> Response {
    let mut resp = (StatusCode::OK, out.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// Reads an awsJson timestamp member: epoch seconds as a number (what the SDKs send) or a
/// string holding epoch seconds or an ISO 8601 date.
pub fn timestamp(req: &Request, name: &str) -> Option<f64> {
    crate::aws::time::timestamp_member(req.get(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_accept_numbers_and_iso_strings() {
        let req: Request = serde_json::from_str(
            r#"{"A": 1795978842.5, "B": "2026-11-29T19:00:42Z", "C": "2026-11-29T20:00:42+01:00", "D": "x"}"#,
        )
        .unwrap();
        assert_eq!(timestamp(&req, "A"), Some(1_795_978_842.5));
        assert_eq!(timestamp(&req, "B"), Some(1_795_978_842.0));
        assert_eq!(timestamp(&req, "C"), Some(1_795_978_842.0));
        assert_eq!(timestamp(&req, "D"), None);
    }
}
