//! Amazon CloudWatch metrics, in the three protocols its model lists: Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/<Op>`), awsJson 1.0
//! (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`, what botocore picks today) and the query
//! protocol (`Action=<Op>&Version=2010-08-01`, older SDKs). Each decodes into the same JSON
//! members, which go through the same model validation, the same service call and the same
//! rendering (`ops`); only the encoder differs.
//!
//! Errors carry CloudWatch's query error code (`InvalidParameterValue`). The model is
//! `awsQueryCompatible`, so JSON and CBOR errors name the error shape in `__type` and give the
//! query code in the `x-amzn-query-error: Code;Sender` header, which botocore reports as the code.

mod cbor;
mod ops;
mod query;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::aws::AwsError;
use crate::aws::error::insert_request_id;
use crate::aws::model::InputError;
use crate::aws::model::cloudwatch::MODEL;

pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";
pub const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
const VERSION: &str = "2010-08-01";

/// The wire protocol a CloudWatch request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Cbor,
    Json,
    Query,
}

/// The operation of an RPC v2 path (`/service/<service>/operation/<Op>`), if it is CloudWatch's.
pub fn cbor_operation(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/service/")?;
    let (service, op) = rest.split_once("/operation/")?;
    (service == TARGET_PREFIX && !op.is_empty() && !op.contains('/')).then_some(op)
}

/// Whether a query-protocol action is CloudWatch's (for requests without a credential scope).
pub fn is_action(action: &str) -> bool {
    MODEL.all_operations.contains(&action)
}

/// Serves one CloudWatch request. `op` is the target or path operation (JSON, CBOR); query
/// requests name theirs in `Action`.
pub async fn handle(
    services: &crate::service::Services,
    protocol: Protocol,
    op: Option<&str>,
    query_string: Option<&str>,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Response {
    let body = match decompressed(headers, body) {
        Ok(b) => b,
        Err(e) => return error_response(protocol, e, request_id),
    };
    let (op, members) = match decode(protocol, op, query_string, &body) {
        Ok(decoded) => decoded,
        Err(e) => return error_response(protocol, e, request_id),
    };
    match ops::dispatch(services, &op, members).await {
        Ok(out) => ok_response(protocol, &op, out, request_id),
        Err(e) => error_response(protocol, e, request_id),
    }
}

/// Largest request body once decompressed, as for uncompressed control-plane bodies.
const MAX_INFLATED: u64 = 16 * 1024 * 1024;

/// The body as sent before any `Content-Encoding: gzip`, which botocore applies to large
/// PutMetricData requests (the model's `requestcompression` trait).
fn decompressed<'a>(
    headers: &axum::http::HeaderMap,
    body: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, AwsError> {
    use std::io::Read;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    match encoding {
        "" | "identity" => Ok(std::borrow::Cow::Borrowed(body)),
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_INFLATED + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    AwsError::bad_request(
                        "SerializationException",
                        format!("The gzip request body does not decompress: {e}"),
                    )
                })?;
            if out.len() as u64 > MAX_INFLATED {
                return Err(AwsError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "SerializationException",
                    format!(
                        "The request body is larger than {MAX_INFLATED} bytes once decompressed."
                    ),
                ));
            }
            Ok(std::borrow::Cow::Owned(out))
        }
        other => Err(AwsError::bad_request(
            "SerializationException",
            format!("Content-Encoding {other} is not supported; send gzip or no encoding."),
        )),
    }
}

/// The operation and its validated input members.
fn decode(
    protocol: Protocol,
    op: Option<&str>,
    query_string: Option<&str>,
    body: &[u8],
) -> Result<(String, Map<String, Value>), AwsError> {
    let form = (protocol == Protocol::Query).then(|| query::Form::parse(query_string, body));
    let op = match &form {
        Some(f) => f
            .get("Action")
            .ok_or_else(|| AwsError::bad_request("MissingAction", "Missing Action"))?,
        None => op.unwrap_or_default(),
    }
    .to_string();
    if !MODEL.is_known_operation(&op) {
        return Err(match protocol {
            Protocol::Query => AwsError::bad_request(
                "InvalidAction",
                format!("Could not find operation {op} for version {VERSION}"),
            ),
            _ => crate::api::json::unknown_operation(&op),
        });
    }
    let Some(operation) = MODEL.operation(&op) else {
        return Err(AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("sagebox does not implement CloudWatch {op} yet."),
        ));
    };
    let serialization = |m: String| AwsError::bad_request("SerializationException", m);
    let value = match (&form, protocol) {
        (Some(f), _) => Value::Object(f.members(&MODEL, operation.input.unwrap_or_default())),
        (None, _) if body.iter().all(u8::is_ascii_whitespace) => Value::Object(Map::new()),
        (None, Protocol::Cbor) => cbor::decode(body)
            .map_err(|e| serialization(format!("The request body is not valid CBOR: {e}")))?,
        (None, _) => serde_json::from_slice(body)
            .map_err(|e| serialization(format!("The request body is not valid JSON: {e}")))?,
    };
    MODEL.validate(operation, &value).map_err(|e| match e {
        InputError::Serialization(m) => serialization(m),
        InputError::Validation(m) => AwsError::bad_request("ValidationError", m),
    })?;
    match value {
        Value::Object(map) => Ok((op, map)),
        _ => Err(serialization(
            "The request body must be a structure.".into(),
        )),
    }
}

fn ok_response(
    protocol: Protocol,
    op: &str,
    out: Map<String, Value>,
    request_id: &str,
) -> Response {
    let (content_type, body) = match protocol {
        Protocol::Query => {
            let xml = query::to_xml(&out);
            return if op == "PutMetricData" {
                // An operation without output answers only its metadata.
                let body = format!(
                    "<{op}Response xmlns=\"{XMLNS}\"><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{op}Response>",
                    crate::aws::xml::escape(request_id)
                );
                crate::aws::error::xml_response(
                    StatusCode::OK,
                    body,
                    "x-amzn-requestid",
                    request_id,
                )
            } else {
                crate::api::query::ok(XMLNS, op, &xml, request_id)
            };
        }
        Protocol::Json => (
            "application/x-amz-json-1.0",
            Value::Object(out).to_string().into_bytes(),
        ),
        Protocol::Cbor => ("application/cbor", cbor::encode(&Value::Object(out))),
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if protocol == Protocol::Cbor {
        h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    insert_request_id(h, "x-amzn-requestid", request_id);
    resp
}

/// The model's error shape for a query error code, for `__type`.
fn shape_of(code: &str) -> Option<&'static str> {
    Some(match code {
        "InvalidParameterValue" => "InvalidParameterValueException",
        "InvalidParameterCombination" => "InvalidParameterCombinationException",
        "MissingParameter" => "MissingRequiredParameterException",
        "InvalidNextToken" => "InvalidNextToken",
        "InternalServiceError" => "InternalServiceFault",
        "ValidationError" => "ValidationException",
        _ => return None,
    })
}

/// An error in the request's protocol (the gateway's signature refusals come here too).
pub fn error_response(protocol: Protocol, err: AwsError, request_id: &str) -> Response {
    if protocol == Protocol::Query {
        return err.into_query_response(XMLNS, request_id);
    }
    let modeled = shape_of(&err.code);
    let doc = serde_json::json!({
        "__type": modeled.unwrap_or(&err.code),
        "message": err.message,
    });
    let (content_type, body) = match protocol {
        Protocol::Cbor => ("application/cbor", cbor::encode(&doc)),
        _ => ("application/x-amz-json-1.0", doc.to_string().into_bytes()),
    };
    let mut resp = (err.status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if protocol == Protocol::Cbor {
        h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    if modeled.is_some() {
        let fault = if err.status.is_client_error() {
            "Sender"
        } else {
            "Receiver"
        };
        if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", err.code)) {
            h.insert("x-amzn-query-error", v);
        }
    }
    insert_request_id(h, "x-amzn-requestid", request_id);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_v2_paths_name_cloudwatch_operations() {
        assert_eq!(
            cbor_operation("/service/GraniteServiceVersion20100801/operation/ListMetrics"),
            Some("ListMetrics")
        );
        assert_eq!(cbor_operation("/service/Other/operation/ListMetrics"), None);
        assert_eq!(
            cbor_operation("/service/GraniteServiceVersion20100801/operation/"),
            None
        );
        assert!(is_action("GetMetricStatistics"));
        assert!(!is_action("GetCallerIdentity"));
    }

    #[test]
    fn json_errors_carry_the_shape_and_the_query_code() {
        let e = AwsError::bad_request("InvalidParameterValue", "bad");
        let resp = error_response(Protocol::Json, e, "rid");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.headers()["x-amzn-query-error"],
            "InvalidParameterValue;Sender"
        );
    }
}
