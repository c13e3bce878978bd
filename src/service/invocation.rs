//! Invoking an endpoint: choose a variant (TargetVariant, or by weight) and one of its instances
//! (round robin), then send the body through the instance's containers in order, each one's
//! answer being the next one's input (an inference pipeline). The runtime api and the console's
//! test-invoke panel both come here; each turns an `InvokeError` into its own words.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use http_body_util::{BodyExt, Limited};

use crate::service::Services;
use crate::service::hosting::routes::{InFlight, Instance, PickError};

/// InvokeEndpoint's largest request (and response) body: 6 MB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// How long SageMaker waits for a container's response.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);
/// SageMaker's words for an invocation of an inference-component endpoint that names no
/// component.
pub const COMPONENT_REQUIRED: &str = "Inference Component Name header is required for endpoints to which you plan to deploy inference components. Please include Inference Component Name header or consider using SageMaker models.";
/// The largest container error text quoted back.
const MAX_ERROR_TEXT: usize = 64 * 1024;

/// One invocation, as the containers will see it.
pub struct Invocation<'a> {
    pub endpoint: &'a str,
    pub target_variant: Option<&'a str>,
    /// The inference component to call (`X-Amzn-SageMaker-Inference-Component`).
    pub component: Option<&'a str>,
    pub content_type: Option<HeaderValue>,
    /// What the last container is asked for; the inner ones of a pipeline are asked for `*/*`.
    pub accept: Option<HeaderValue>,
    /// Headers every container gets as they are (custom attributes, inference id, …).
    pub forwarded: Vec<(&'static str, HeaderValue)>,
    pub body: Body,
}

/// The last container's answer. The instance stays counted in flight until `in_flight` is
/// dropped, so the caller keeps it alive while it streams the answer on.
pub struct Invoked {
    pub variant: String,
    pub response: axum::http::Response<hyper::body::Incoming>,
    pub in_flight: InFlight,
}

#[derive(Debug)]
pub enum InvokeError {
    /// No such endpoint is serving.
    NotFound,
    /// TargetVariant names no variant of the endpoint.
    UnknownVariant,
    /// The endpoint hosts inference components and the request names none.
    ComponentRequired,
    /// The named inference component is not serving on the endpoint.
    UnknownComponent,
    /// The variant has no instance up right now (a container is being restarted).
    NoInstance,
    /// The body is over MAX_PAYLOAD.
    PayloadTooLarge,
    /// A container failed, timed out (status 0) or could not be reached (status 0).
    Model {
        status: u16,
        who: String,
        original: String,
    },
    Internal(String),
}

impl Services {
    pub async fn invoke_endpoint(&self, inv: Invocation<'_>) -> Result<Invoked, InvokeError> {
        let route = self
            .endpoint_route(inv.endpoint)
            .ok_or(InvokeError::NotFound)?;
        let route = match inv.component {
            Some(c) => self
                .hosting
                .routes
                .component(inv.endpoint, c)
                .ok_or(InvokeError::UnknownComponent)?,
            None if route.hosts_components => return Err(InvokeError::ComponentRequired),
            None => route,
        };
        let roll = (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
        let (variant, instance) = match route.pick(inv.target_variant, roll) {
            Ok(p) => p,
            // deleted between the look-up and the pick: its instances are retired
            Err(PickError::NoInstance) if self.endpoint_route(inv.endpoint).is_none() => {
                return Err(InvokeError::NotFound);
            }
            Err(PickError::UnknownVariant) => return Err(InvokeError::UnknownVariant),
            Err(PickError::NoInstance) => return Err(InvokeError::NoInstance),
        };
        let variant = variant.name.clone();
        let response = self.call_chain(&instance, inv).await?;
        Ok(Invoked {
            variant,
            response,
            in_flight: instance,
        })
    }

    /// Calls the instance's containers in order; each one's output is the next one's input.
    async fn call_chain(
        &self,
        instance: &Instance,
        inv: Invocation<'_>,
    ) -> Result<axum::http::Response<hyper::body::Incoming>, InvokeError> {
        let last = instance.members.len().saturating_sub(1);
        let mut body = inv.body;
        let mut content_type = inv.content_type;
        for (i, member) in instance.members.iter().enumerate() {
            let port = member.port.load(std::sync::atomic::Ordering::Relaxed);
            let mut req = http::Request::post(format!("http://127.0.0.1:{port}/invocations"));
            if let Some(ct) = &content_type {
                req = req.header(header::CONTENT_TYPE, ct);
            }
            if i == last {
                if let Some(a) = &inv.accept {
                    req = req.header(header::ACCEPT, a);
                }
            } else {
                req = req.header(header::ACCEPT, "*/*");
            }
            for (name, v) in &inv.forwarded {
                req = req.header(*name, v);
            }
            let req = req
                .body(body)
                .map_err(|e| InvokeError::Internal(format!("cannot build the request: {e}")))?;
            let who = if last == 0 {
                "primary".to_string()
            } else {
                member.container_name.clone()
            };
            let model_error = |status: u16, original: String| InvokeError::Model {
                status,
                who: who.clone(),
                original,
            };
            let resp = match tokio::time::timeout(
                INVOCATION_TIMEOUT,
                self.container_client().request(req),
            )
            .await
            {
                Err(_) => {
                    return Err(model_error(
                        0,
                        format!(
                            "Your invocation timed out while waiting for a response from container {who}. Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again."
                        ),
                    ));
                }
                Ok(Err(e)) if is_payload_limit(&e) => return Err(InvokeError::PayloadTooLarge),
                Ok(Err(e)) => {
                    return Err(model_error(
                        0,
                        format!("The container could not be reached: {e}"),
                    ));
                }
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            if !status.is_success() {
                let text = read_error_text(resp.into_body()).await;
                return Err(model_error(status.as_u16(), text));
            }
            if i == last {
                return Ok(resp);
            }
            content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = Limited::new(resp.into_body(), MAX_PAYLOAD)
                .collect()
                .await
                .map_err(|e| model_error(0, format!("reading its response: {e}")))?
                .to_bytes();
            body = Body::from(bytes);
        }
        Err(InvokeError::Internal("the model has no containers".into()))
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
