//! Models, endpoint configurations, endpoints (with the variant and instance view and a
//! test-invoke panel) and batch transform jobs.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value, json};

use super::{
    ROOT, all, details, enc, esc, form, not_found, page, resource_table, same_origin, status_badge,
    view,
};
use crate::AppState;
use crate::aws::model::typed::sagemaker::EndpointStatus;
use crate::service::described::Endpoint;
use crate::service::hosting::endpoints::log_group;
use crate::service::invocation::InvokeError;
use crate::service::{self, Services};
use crate::store::resources::ResourceKind;

pub async fn models(State(state): State<AppState>) -> Response {
    let items = all(&state.services, ResourceKind::Model).await;
    page(
        "Models",
        "models",
        &format!(
            "<p class=\"actions\"><a id=\"create-model-link\" class=\"button\" href=\"{ROOT}create/model\">Create model</a></p>{}",
            resource_table("models", &items, false)
        ),
    )
}

/// Tags as a table (they are user-controlled strings).
async fn tags(services: &Services, arn: &str) -> String {
    let Ok(page) = services.list_tags(arn, 50, None).await else {
        return String::new();
    };
    if page.items.is_empty() {
        return String::new();
    }
    let mut t = String::from("<h2>Tags</h2><table id=\"tags\"><tr><th>Key</th><th>Value</th></tr>");
    for (k, v) in page.items {
        put!(t, "<tr><td>{}</td><td>{}</td></tr>", esc(&k), esc(&v));
    }
    t.push_str("</table>");
    t
}

pub async fn model(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.services.describe_model(&name).await {
        Ok(m) => {
            let m = &m.record;
            let tags = tags(&state.services, &m.arn).await;
            let u = enc(&m.name);
            page(
                &m.name,
                "models",
                &format!(
                    "<p class=\"actions\"><a id=\"create-endpoint-config\" class=\"button\" href=\"{ROOT}create/endpoint-config?model={u}\">Create endpoint configuration</a> <a id=\"create-transform-job\" class=\"button\" href=\"{ROOT}create/transform-job?model={u}\">Create batch transform job</a> <a id=\"delete\" class=\"button delete\" href=\"{ROOT}models/{u}/delete\">Delete</a></p>{}{tags}",
                    details(&view(m, None, "ModelName"))
                ),
            )
        }
        Err(_) => not_found("models", &format!("No model named {name}.")),
    }
}

pub async fn configs(State(state): State<AppState>) -> Response {
    let items = all(&state.services, ResourceKind::EndpointConfig).await;
    page(
        "Endpoint configurations",
        "endpoint-configs",
        &format!(
            "<p class=\"actions\"><a id=\"create-endpoint-config-link\" class=\"button\" href=\"{ROOT}create/endpoint-config\">Create endpoint configuration</a></p>{}",
            resource_table("endpoint-configs", &items, false)
        ),
    )
}

pub async fn config(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.services.describe_endpoint_config(&name).await {
        Ok(c) => {
            let c = &c.record;
            let u = enc(&c.name);
            let mut body = format!(
                "<p class=\"actions\"><a id=\"create-endpoint\" class=\"button\" href=\"{ROOT}create/endpoint?config={u}\">Create endpoint</a> <a id=\"delete\" class=\"button delete\" href=\"{ROOT}endpoint-configs/{u}/delete\">Delete</a></p>"
            );
            body.push_str(
                "<h2>Production variants</h2><table id=\"variants\"><tr><th>Variant</th><th>Model</th><th>Instance type</th><th>Instances</th><th>Weight</th></tr>",
            );
            for v in c
                .request
                .get("ProductionVariants")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let model = v.get("ModelName").and_then(Value::as_str).unwrap_or("");
                put!(
                    body,
                    "<tr data-variant=\"{vn}\"><td>{vn}</td><td><a href=\"{ROOT}models/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    enc(model),
                    esc(model),
                    esc(v.get("InstanceType").and_then(Value::as_str).unwrap_or("")),
                    v.get("InitialInstanceCount").cloned().unwrap_or(json!(1)),
                    v.get("InitialVariantWeight").cloned().unwrap_or(json!(1.0)),
                    vn = esc(v.get("VariantName").and_then(Value::as_str).unwrap_or(""))
                );
            }
            body.push_str("</table>");
            body.push_str(&tags(&state.services, &c.arn).await);
            body.push_str(&details(&view(c, None, "EndpointConfigName")));
            page(&c.name, "endpoint-configs", &body)
        }
        Err(_) => not_found(
            "endpoint-configs",
            &format!("No endpoint configuration named {name}."),
        ),
    }
}

pub async fn endpoints(State(state): State<AppState>) -> Response {
    let items = all(&state.services, ResourceKind::Endpoint).await;
    let table = resource_table("endpoints", &items, true).replace(
        "<table id=\"list\">",
        "<table id=\"list\" data-live=\"endpoints\">",
    );
    page(
        "Endpoints",
        "endpoints",
        &format!(
            "<p class=\"actions\"><a id=\"create-endpoint-link\" class=\"button\" href=\"{ROOT}create/endpoint\">Create endpoint</a></p>{table}"
        ),
    )
}

/// The outcome of a test invocation.
struct Invocation {
    status: u16,
    millis: f64,
    content_type: String,
    body: String,
}

/// Calls the endpoint as InvokeEndpoint would (same instance choice and containers); a
/// failure shows as the status and message the runtime API would answer with.
async fn invoke(services: &Services, name: &str, content_type: &str, body: String) -> Invocation {
    let started = Instant::now();
    let invocation = service::invocation::Invocation {
        endpoint: name,
        target_variant: None,
        component: None,
        content_type: HeaderValue::from_str(content_type).ok(),
        accept: Some(HeaderValue::from_static("*/*")),
        forwarded: Vec::new(),
        body: Body::from(body),
    };
    let (status, content_type, bytes) = match services.invoke_endpoint(invocation).await {
        Ok(invoked) => {
            let (parts, body) = invoked.response.into_parts();
            let bytes = Limited::new(body, 1 << 20)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            drop(invoked.in_flight);
            let ct = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            (parts.status.as_u16(), ct, bytes.to_vec())
        }
        Err(e) => {
            let (status, message) = failure(services, name, e);
            (status, "text/plain".to_string(), message.into_bytes())
        }
    };
    Invocation {
        status,
        millis: started.elapsed().as_secs_f64() * 1000.0,
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The HTTP status and message InvokeEndpoint answers a failure with.
fn failure(services: &Services, endpoint: &str, e: InvokeError) -> (u16, String) {
    match e {
        InvokeError::NotFound => (
            400,
            format!(
                "Endpoint {endpoint} of account {} not found.",
                services.config().account_id
            ),
        ),
        InvokeError::UnknownVariant => (400, "The variant is not present in the endpoint.".into()),
        InvokeError::ComponentRequired => (400, service::invocation::COMPONENT_REQUIRED.into()),
        InvokeError::UnknownComponent => (
            400,
            "The inference component is not present in the endpoint.".into(),
        ),
        InvokeError::NoInstance => (
            503,
            format!(
                "No instance of endpoint {endpoint} is serving right now (a container is being restarted). Try again."
            ),
        ),
        InvokeError::PayloadTooLarge => (
            400,
            format!(
                "Member must have length less than or equal to {}",
                service::invocation::MAX_PAYLOAD
            ),
        ),
        InvokeError::Model {
            status,
            who,
            original,
        } => (
            424,
            format!(
                "Received error ({status}) from {who} with message \"{original}\". See the CloudWatch Logs group {} for more information.",
                log_group(endpoint)
            ),
        ),
        InvokeError::Internal(m) => (500, m),
    }
}

fn invocation_html(i: Option<&Invocation>) -> String {
    match i {
        None => "<section id=\"invoke-result\" hidden><span class=\"status\"></span> <span class=\"latency\"></span><pre class=\"body\"></pre></section>".into(),
        Some(i) => format!(
            "<section id=\"invoke-result\"><span class=\"status\">{}</span> <span class=\"latency\">{:.1} ms</span> <span class=\"content-type\">{}</span><pre class=\"body\">{}</pre></section>",
            i.status,
            i.millis,
            esc(&i.content_type),
            esc(&i.body)
        ),
    }
}

async fn endpoint_page(
    services: &Services,
    name: &str,
    result: Option<(&str, &str, Invocation)>,
) -> Response {
    let Ok(e) = services.describe_endpoint(name).await else {
        return not_found("endpoints", &format!("No endpoint named {name}."));
    };
    let status = e.status.unwrap_or(EndpointStatus::Creating).as_str();
    let d = endpoint_members(&e, status);
    let mut body = format!(
        "<p>{}</p><p class=\"actions\"><a id=\"update-endpoint\" class=\"button\" href=\"{ROOT}endpoints/{u}/update\">Update endpoint</a> <a id=\"delete\" class=\"button delete\" href=\"{ROOT}endpoints/{u}/delete\">Delete</a></p>",
        status_badge(status),
        u = enc(name)
    );
    if let Some(r) = d.get("FailureReason").and_then(Value::as_str) {
        put!(body, "<p class=\"error\">{}</p>", esc(r));
    }
    if let Some(c) = d.get("EndpointConfigName").and_then(Value::as_str) {
        put!(
            body,
            "<p>Configuration: <a href=\"{ROOT}endpoint-configs/{}\">{}</a></p>",
            enc(c),
            esc(c)
        );
    }
    body.push_str("<h2>Variants</h2><table id=\"variants\"><tr><th>Variant</th><th>Instances (current / desired)</th><th>Weight (current / desired)</th><th>Images</th><th>Instances</th></tr>");
    let route = services.endpoint_route(name);
    for v in d
        .get("ProductionVariants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let vname = v.get("VariantName").and_then(Value::as_str).unwrap_or("");
        let images: Vec<String> = v
            .get("DeployedImages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.get("SpecifiedImage").and_then(Value::as_str).map(esc))
            .collect();
        let mut instances = String::new();
        if let Some(r) = route
            .as_ref()
            .and_then(|r| r.variants.iter().find(|x| x.name == vname))
        {
            for (i, inst) in r.instances.iter().enumerate() {
                let ids: Vec<String> = inst
                    .members
                    .iter()
                    .map(|m| esc(&m.container_id[..m.container_id.len().min(12)]))
                    .collect();
                put!(
                    instances,
                    "<div class=\"instance\">#{i} {} <code>{}</code></div>",
                    if inst.is_up() {
                        "<span class=\"badge inservice\">serving</span>"
                    } else {
                        "<span class=\"badge failed\">down</span>"
                    },
                    ids.join(", ")
                );
            }
        }
        put!(
            body,
            "<tr data-variant=\"{vn}\"><td>{vn}</td><td class=\"instances\">{} / {}</td><td class=\"weights\">{} / {}</td><td>{}</td><td>{instances}</td></tr>",
            v.get("CurrentInstanceCount").cloned().unwrap_or(json!(0)),
            v.get("DesiredInstanceCount").cloned().unwrap_or(json!(0)),
            v.get("CurrentWeight").cloned().unwrap_or(json!(0)),
            v.get("DesiredWeight").cloned().unwrap_or(json!(0)),
            images.join("<br>"),
            vn = esc(vname)
        );
    }
    body.push_str("</table>");
    let (ct, input, inv) = match &result {
        Some((ct, input, inv)) => (*ct, *input, Some(inv)),
        None => ("text/csv", "", None),
    };
    put!(
        body,
        "<form id=\"invoke\" method=\"post\" action=\"{ROOT}endpoints/{u}\" data-json=\"{ROOT}endpoints/{u}/invoke\" class=\"panel\"><h2>Test invocation</h2><label>Content type <input name=\"ContentType\" value=\"{}\"></label><label>Body <textarea name=\"Body\" rows=\"5\">{}</textarea></label><button id=\"invoke-submit\" type=\"submit\">Invoke</button></form>{}",
        esc(ct),
        esc(input),
        invocation_html(inv),
        u = enc(name)
    );
    body.push_str(&tags(services, &e.record.arn).await);
    body.push_str(&details(&d));
    page(name, "endpoints", &body)
}

/// The endpoint's members as its Describe shows them, with the live variants (else the last
/// ones saved) in the ProductionVariants shape the variant table reads.
fn endpoint_members(e: &Endpoint, status: &str) -> Map<String, Value> {
    let mut d = view(&e.record, Some(status), "EndpointName");
    if let Some(variants) = &e.variants {
        let live = variants
            .iter()
            .map(|v| {
                json!({
                    "VariantName": v.variant_name,
                    "DeployedImages": v.deployed_images,
                    "CurrentWeight": v.weight,
                    "DesiredWeight": v.weight,
                    "CurrentInstanceCount": v.current_instance_count,
                    "DesiredInstanceCount": v.desired_instance_count,
                })
            })
            .collect();
        d.insert("ProductionVariants".into(), Value::Array(live));
    }
    d
}

pub async fn endpoint(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    endpoint_page(&state.services, &name, None).await
}

/// The test-invoke form without JavaScript: the page again, with the result.
pub async fn invoke_form(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let (_, f) = match form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let ct = f
        .get("ContentType")
        .cloned()
        .unwrap_or_else(|| "text/csv".into());
    let input = f.get("Body").cloned().unwrap_or_default();
    let inv = invoke(&state.services, &name, &ct, input.clone()).await;
    endpoint_page(&state.services, &name, Some((&ct, &input, inv))).await
}

/// The test-invoke form's script: `{"ContentType", "Body"}` in, `{"status", "millis", "body"}` out.
pub async fn invoke_json(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(r) = same_origin(&parts.headers) {
        return *r;
    }
    let bytes = axum::body::to_bytes(body, 8 << 20)
        .await
        .unwrap_or_default();
    let input: Map<String, Value> = serde_json::from_slice(&bytes).unwrap_or_default();
    let ct = input
        .get("ContentType")
        .and_then(Value::as_str)
        .unwrap_or("text/csv");
    let text = input
        .get("Body")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let inv = invoke(&state.services, &name, ct, text).await;
    (
        StatusCode::OK,
        axum::Json(json!({
            "status": inv.status,
            "millis": inv.millis,
            "contentType": inv.content_type,
            "body": inv.body,
        })),
    )
        .into_response()
}

pub async fn transforms(State(state): State<AppState>) -> Response {
    let items = all(&state.services, ResourceKind::TransformJob).await;
    let table = resource_table("transform-jobs", &items, true).replace(
        "<table id=\"list\">",
        "<table id=\"list\" data-live=\"transform-jobs\">",
    );
    page(
        "Batch transform jobs",
        "transform-jobs",
        &format!(
            "<p class=\"actions\"><a id=\"create-transform-job-link\" class=\"button\" href=\"{ROOT}create/transform-job\">Create batch transform job</a></p>{table}"
        ),
    )
}

pub async fn transform(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Ok(job) = state.services.describe_transform_job(&name).await else {
        return not_found("transform-jobs", &format!("No transform job named {name}."));
    };
    let status = job
        .status
        .unwrap_or(crate::aws::model::typed::sagemaker::TransformJobStatus::InProgress)
        .as_str();
    let d = view(&job.record, Some(status), "TransformJobName");
    let text = |p: &str| {
        job.record
            .request
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let mut body = format!(
        "<p>{}</p><p>Input <code class=\"input\">{}</code> → output <code class=\"output\">{}</code></p>",
        status_badge(status),
        esc(text("/TransformInput/DataSource/S3DataSource/S3Uri")),
        esc(text("/TransformOutput/S3OutputPath"))
    );
    if let Some((bucket, prefix)) = text("/TransformOutput/S3OutputPath")
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/').or(Some((rest, ""))))
        .filter(|(b, _)| !b.is_empty())
    {
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        put!(
            body,
            "<p class=\"actions\"><a id=\"browse-output\" class=\"button\" href=\"{ROOT}s3/{}?prefix={}\">Browse the output in S3</a></p>",
            enc(bucket),
            enc(&prefix)
        );
    }
    if let Some(r) = d.get("FailureReason").and_then(Value::as_str) {
        put!(body, "<p class=\"error\">{}</p>", esc(r));
    }
    body.push_str(&details(&d));
    page(&name, "transform-jobs", &body)
}
