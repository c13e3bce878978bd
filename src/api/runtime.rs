//! SageMaker Runtime (restJson1): `POST /endpoints/{name}/invocations` and
//! `/invocations-response-stream`. A request goes to one instance of one variant (TargetVariant,
//! or by weight; instances round robin) over pooled connections to the container's loopback
//! port. Bodies stream through; only an inference pipeline's intermediate results and a
//! container's error text are read whole. Container errors become ModelError (424). The request
//! stays counted in flight on its instance until the answer's last byte is sent, so that deleting
//! or updating the endpoint lets it finish first.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Limited};
use serde_json::json;

use crate::aws::AwsError;
use crate::aws::error::insert_request_id;
use crate::service::Services;
use crate::service::hosting::endpoints::log_group;
use crate::service::hosting::routes::{InFlight, Instance, PickError};

/// InvokeEndpoint's largest request (and response) body: 6 MB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// How long SageMaker waits for a container's response.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest container error text quoted back.
const MAX_ERROR_TEXT: usize = 64 * 1024;

/// Request headers passed to the container as they are, besides Content-Type and Accept (which
/// `call_chain` sets once per container: an inference pipeline's inner containers get the
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
        Err(e) => e.into_rest_json_response(request_id),
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
    let Some(route) = services.endpoint_route(endpoint) else {
        return Err(validation(format!(
            "Endpoint {endpoint} of account {} not found.",
            services.config().account_id
        )));
    };
    let target = headers
        .get("x-amzn-sagemaker-target-variant")
        .and_then(|v| v.to_str().ok());
    let roll = (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
    let (variant, instance) = match route.pick(target, roll) {
        Ok(p) => p,
        // deleted between the look-up and the pick: its instances are retired
        Err(PickError::NoInstance) if services.endpoint_route(endpoint).is_none() => {
            return Err(validation(format!(
                "Endpoint {endpoint} of account {} not found.",
                services.config().account_id
            )));
        }
        Err(PickError::UnknownVariant) => {
            return Err(validation(format!(
                "The variant \"{}\" is not present in endpoint \"{endpoint}\". Specify a variant of the endpoint as TargetVariant.",
                target.unwrap_or_default()
            )));
        }
        Err(PickError::NoInstance) => {
            return Err(AwsError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!(
                    "No instance of endpoint {endpoint} is serving right now (a container is being restarted). Try again."
                ),
            ));
        }
    };
    let variant_name = variant.name.clone();
    let ctx = Ctx { services, endpoint };
    let accept = if streaming {
        headers.get("x-amzn-sagemaker-accept").cloned()
    } else {
        headers.get(header::ACCEPT).cloned()
    };
    let body = Body::new(Limited::new(body, MAX_PAYLOAD));
    let resp = ctx.call_chain(&instance, &headers, accept, body).await?;

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
    Ok(out)
}

struct Ctx<'a> {
    services: &'a Services,
    endpoint: &'a str,
}

impl Ctx<'_> {
    /// Calls the instance's containers in order; each one's output is the next one's input.
    async fn call_chain(
        &self,
        instance: &Instance,
        headers: &HeaderMap,
        accept: Option<HeaderValue>,
        body: Body,
    ) -> Result<Response<hyper::body::Incoming>, AwsError> {
        let last = instance.members.len().saturating_sub(1);
        let mut body = body;
        let mut content_type = headers.get(header::CONTENT_TYPE).cloned();
        for (i, member) in instance.members.iter().enumerate() {
            let port = member.port.load(std::sync::atomic::Ordering::Relaxed);
            let mut req = http::Request::post(format!("http://127.0.0.1:{port}/invocations"));
            if let Some(ct) = &content_type {
                req = req.header(header::CONTENT_TYPE, ct);
            }
            if i == last {
                if let Some(a) = &accept {
                    req = req.header(header::ACCEPT, a);
                }
            } else {
                req = req.header(header::ACCEPT, "*/*");
            }
            for name in FORWARDED {
                if let Some(v) = headers.get(*name) {
                    req = req.header(*name, v);
                }
            }
            let req = req
                .body(body)
                .map_err(|e| AwsError::internal(format!("cannot build the request: {e}")))?;
            let who = if last == 0 {
                "primary".to_string()
            } else {
                member.container_name.clone()
            };
            let resp = match tokio::time::timeout(
                INVOCATION_TIMEOUT,
                self.services.container_client().request(req),
            )
            .await
            {
                Err(_) => {
                    return Err(self.model_error(
                        0,
                        &who,
                        &format!("Your invocation timed out while waiting for a response from container {who}. Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again."),
                    ));
                }
                Ok(Err(e)) => {
                    if is_payload_limit(&e) {
                        return Err(validation(format!(
                            "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to {MAX_PAYLOAD}"
                        )));
                    }
                    return Err(self.model_error(
                        0,
                        &who,
                        &format!("The container could not be reached: {e}"),
                    ));
                }
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            if !status.is_success() {
                let text = read_error_text(resp.into_body()).await;
                return Err(self.model_error(status.as_u16(), &who, &text));
            }
            if i == last {
                return Ok(resp);
            }
            content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = Limited::new(resp.into_body(), MAX_PAYLOAD)
                .collect()
                .await
                .map_err(|e| self.model_error(0, &who, &format!("reading its response: {e}")))?
                .to_bytes();
            body = Body::from(bytes);
        }
        Err(AwsError::internal("the model has no containers"))
    }

    fn model_error(&self, status: u16, who: &str, original: &str) -> AwsError {
        let kind = if (400..500).contains(&status) {
            "client"
        } else {
            "server"
        };
        let group = log_group(self.endpoint);
        let message = format!(
            "Received {kind} error ({status}) from {who} with message \"{original}\". See the CloudWatch Logs group {group} in account {} for more information.",
            self.services.config().account_id
        );
        let arn = self.services.log_group_arn(&group);
        AwsError::new(StatusCode::FAILED_DEPENDENCY, "ModelError", message).with_fields(json!({
            "OriginalStatusCode": status,
            "OriginalMessage": original,
            "LogStreamArn": arn.trim_end_matches(":*"),
            "ErrorCode": if kind == "client" { "CLIENT_ERROR_FROM_MODEL" } else { "SERVER_ERROR_FROM_MODEL" },
        }))
    }
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

fn is_payload_limit(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

async fn read_error_text(body: hyper::body::Incoming) -> String {
    match Limited::new(body, MAX_ERROR_TEXT).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(_) => "(the container's error text is longer than 64 KiB)".into(),
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
