//! SageMaker Runtime (restJson1): `POST /endpoints/{name}/invocations` and
//! `/invocations-response-stream`. The protocol side of an invocation: headers in, the answer
//! (or its event stream) out; `service::invocation` picks the instance (TargetVariant, or by
//! weight; instances round robin) and calls its containers. Bodies stream through; only an inference pipeline's intermediate results and a
//! container's error text are read whole. Container errors become ModelError (424). The request
//! stays counted in flight on its instance until the answer's last byte is sent, so that deleting
//! or updating the endpoint lets it finish first.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Limited};
use serde_json::json;

use crate::aws::AwsError;
use crate::aws::error::insert_request_id;
use crate::service::Services;
use crate::service::hosting::components;
use crate::service::hosting::endpoints::log_group;
use crate::service::hosting::routes::InFlight;
use crate::service::invocation::{COMPONENT_REQUIRED, Invocation, InvokeError, Invoked};

pub use crate::service::invocation::MAX_PAYLOAD;

/// Request headers passed to the container as they are, besides Content-Type and Accept (which
/// `service::invocation` sets once per container: an inference pipeline's inner containers get the
/// previous container's Content-Type and `*/*`). SageMaker strips every other header.
const FORWARDED: &[&str] = &[
    "x-amzn-sagemaker-custom-attributes",
    "x-amzn-sagemaker-target-model",
    "x-amzn-sagemaker-inference-id",
    "x-amzn-sagemaker-enable-explanations",
    "x-amzn-sagemaker-session-id",
];

pub async fn handle(services: &Services, req: Request, request_id: &str) -> Response {
    let path = req.uri().path().to_string();
    let (endpoint, streaming) = match parse_path(&path) {
        Some(p) => p,
        None => {
            return AwsError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!("No SageMaker Runtime operation answers POST {path}."),
            )
            .into_rest_json_response(request_id);
        }
    };
    match invoke(services, req, &endpoint, streaming, request_id).await {
        Ok(resp) => resp,
        Err(e) => {
            // Only a ModelError comes after a container read the request's body; any other
            // error answers before it is read, so the connection cannot carry another request
            // and says so (else a client that pools it finds it closed on its next call).
            let unread = e.code != "ModelError";
            let mut resp = e.into_rest_json_response(request_id);
            if unread {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    }
}

/// `/endpoints/{name}/invocations[-response-stream]` → (name, streaming).
fn parse_path(path: &str) -> Option<(String, bool)> {
    let rest = path.strip_prefix("/endpoints/")?;
    let (name, op) = rest.split_once('/')?;
    let streaming = match op {
        "invocations" => false,
        "invocations-response-stream" => true,
        _ => return None,
    };
    let name: String = form_urlencoded::parse(format!("n={name}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some((name, streaming))
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::bad_request("ValidationError", message)
}

async fn invoke(
    services: &Services,
    req: Request,
    endpoint: &str,
    streaming: bool,
    request_id: &str,
) -> Result<Response, AwsError> {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let too_big = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_PAYLOAD);
    if too_big {
        return Err(validation(format!(
            "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to {MAX_PAYLOAD}"
        )));
    }
    let accept = if streaming {
        headers.get("x-amzn-sagemaker-accept").cloned()
    } else {
        headers.get(header::ACCEPT).cloned()
    };
    let forwarded = FORWARDED
        .iter()
        .filter_map(|name| headers.get(*name).map(|v| (*name, v.clone())))
        .collect();
    let target = headers
        .get("x-amzn-sagemaker-target-variant")
        .and_then(|v| v.to_str().ok());
    let component = headers
        .get("x-amzn-sagemaker-inference-component")
        .and_then(|v| v.to_str().ok());
    let invocation = Invocation {
        endpoint,
        target_variant: target,
        component,
        content_type: headers.get(header::CONTENT_TYPE).cloned(),
        accept,
        forwarded,
        body: Body::new(Limited::new(body, MAX_PAYLOAD)),
    };
    let invoked = services
        .invoke_endpoint(invocation)
        .await
        .map_err(|e| invoke_error(services, endpoint, (target, component), e))?;
    Ok(answer(invoked, streaming, request_id))
}

/// InvokeEndpoint's answer: the last container's body (as an event stream when streaming),
/// with the variant that answered; the instance stays in flight until the body is sent.
fn answer(invoked: Invoked, streaming: bool, request_id: &str) -> Response {
    let (variant_name, resp, instance) = (invoked.variant, invoked.response, invoked.in_flight);
    let (parts, body) = resp.into_parts();
    let body = Held {
        inner: Box::pin(body),
        _in_flight: instance,
    };
    let mut out = if streaming {
        let events = body.into_data_stream().map(|chunk| match chunk {
            Ok(bytes) => Ok::<Bytes, std::io::Error>(event_stream::payload_part(&bytes)),
            Err(e) => Ok(event_stream::model_stream_error(
                "StreamBroken",
                &format!("The model's response stream was cut: {e}"),
            )),
        });
        let mut r = Response::new(Body::from_stream(events));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.amazon.eventstream"),
        );
        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
            r.headers_mut()
                .insert("x-amzn-sagemaker-content-type", ct.clone());
        }
        r
    } else {
        let mut r = Response::new(Body::new(body));
        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
            r.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
        }
        if let Some(len) = parts.headers.get(header::CONTENT_LENGTH) {
            r.headers_mut().insert(header::CONTENT_LENGTH, len.clone());
        }
        r
    };
    let h = out.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&variant_name) {
        h.insert("x-amzn-invoked-production-variant", v);
    }
    if let Some(v) = parts.headers.get("x-amzn-sagemaker-custom-attributes") {
        h.insert("x-amzn-sagemaker-custom-attributes", v.clone());
    }
    insert_request_id(h, "x-amzn-requestid", request_id);
    out
}

/// The runtime API's error for each way an invocation fails.
fn invoke_error(
    services: &Services,
    endpoint: &str,
    (target, component): (Option<&str>, Option<&str>),
    e: InvokeError,
) -> AwsError {
    match e {
        InvokeError::NotFound => validation(format!(
            "Endpoint {endpoint} of account {} not found.",
            services.config().account_id
        )),
        InvokeError::UnknownVariant => validation(format!(
            "The variant \"{}\" is not present in endpoint \"{endpoint}\". Specify a variant of the endpoint as TargetVariant.",
            target.unwrap_or_default()
        )),
        InvokeError::ComponentRequired => validation(COMPONENT_REQUIRED),
        InvokeError::UnknownComponent => validation(format!(
            "Inference Component {} not found for endpoint {endpoint} of account {}.",
            component.unwrap_or_default(),
            services.config().account_id
        )),
        InvokeError::NoInstance => AwsError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!(
                "No instance of endpoint {endpoint} is serving right now (a container is being restarted). Try again."
            ),
        ),
        InvokeError::PayloadTooLarge => validation(format!(
            "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to {MAX_PAYLOAD}"
        )),
        InvokeError::Model {
            status,
            who,
            original,
        } => {
            // a component's containers log to the component's group
            let group = component.map_or_else(|| log_group(endpoint), components::log_group);
            model_error(services, &group, status, &who, &original)
        }
        InvokeError::Internal(m) => AwsError::internal(m),
    }
}

/// ModelError (424): what the container answered, and where its logs are.
fn model_error(
    services: &Services,
    group: &str,
    status: u16,
    who: &str,
    original: &str,
) -> AwsError {
    let kind = if (400..500).contains(&status) {
        "client"
    } else {
        "server"
    };
    let message = format!(
        "Received {kind} error ({status}) from {who} with message \"{original}\". See the CloudWatch Logs group {group} in account {} for more information.",
        services.config().account_id
    );
    let arn = services.log_group_arn(group);
    AwsError::new(StatusCode::FAILED_DEPENDENCY, "ModelError", message).with_fields(json!({
        "OriginalStatusCode": status,
        "OriginalMessage": original,
        "LogStreamArn": arn.trim_end_matches(":*"),
        "ErrorCode": if kind == "client" { "CLIENT_ERROR_FROM_MODEL" } else { "SERVER_ERROR_FROM_MODEL" },
    }))
}

/// A container's answer body that keeps its request counted in flight until it is dropped (sent,
/// or abandoned by the client).
struct Held<B> {
    inner: Pin<Box<B>>,
    _in_flight: InFlight,
}

impl<B: hyper::body::Body> hyper::body::Body for Held<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        self.inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The AWS event stream encoding (application/vnd.amazon.eventstream) for
/// InvokeEndpointWithResponseStream: each message is a prelude (total and header lengths and
/// their CRC32), string headers, the payload and a CRC32 of all of it.
pub mod event_stream {
    use bytes::Bytes;

    fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.push(name.len() as u8);
            h.extend_from_slice(name.as_bytes());
            h.push(7); // string
            h.extend_from_slice(&(value.len() as u16).to_be_bytes());
            h.extend_from_slice(value.as_bytes());
        }
        let total = 12 + h.len() + payload.len() + 4;
        let mut m = Vec::with_capacity(total);
        m.extend_from_slice(&(total as u32).to_be_bytes());
        m.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let prelude_crc = crc32fast::hash(&m);
        m.extend_from_slice(&prelude_crc.to_be_bytes());
        m.extend_from_slice(&h);
        m.extend_from_slice(payload);
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        Bytes::from(m)
    }

    /// A PayloadPart event carrying `bytes`.
    pub fn payload_part(bytes: &[u8]) -> Bytes {
        message(
            &[
                (":event-type", "PayloadPart"),
                (":content-type", "application/octet-stream"),
                (":message-type", "event"),
            ],
            bytes,
        )
    }

    /// A ModelStreamError exception event.
    pub fn model_stream_error(code: &str, message_text: &str) -> Bytes {
        let payload = serde_json::json!({ "Message": message_text, "ErrorCode": code }).to_string();
        message(
            &[
                (":exception-type", "ModelStreamError"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            payload.as_bytes(),
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn messages_carry_lengths_and_checksums() {
            let m = payload_part(b"hello");
            let total = u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize;
            assert_eq!(total, m.len());
            let headers_len = u32::from_be_bytes([m[4], m[5], m[6], m[7]]) as usize;
            let prelude_crc = u32::from_be_bytes([m[8], m[9], m[10], m[11]]);
            assert_eq!(prelude_crc, crc32fast::hash(&m[..8]));
            assert_eq!(&m[12 + headers_len..total - 4], b"hello");
            let crc = u32::from_be_bytes([m[total - 4], m[total - 3], m[total - 2], m[total - 1]]);
            assert_eq!(crc, crc32fast::hash(&m[..total - 4]));
            assert!(
                m[12..12 + headers_len]
                    .windows(11)
                    .any(|w| w == b"PayloadPart")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_endpoint_and_the_operation() {
        assert_eq!(
            parse_path("/endpoints/my-ep/invocations"),
            Some(("my-ep".into(), false))
        );
        assert_eq!(
            parse_path("/endpoints/my%2Dep/invocations-response-stream"),
            Some(("my-ep".into(), true))
        );
        assert_eq!(parse_path("/endpoints/my-ep/other"), None);
    }
}
