//! The web console: SageMaker's workflow in a browser, served by the binary at `/_sagebox/`.
//! Pages are rendered on the server from the same service calls the APIs make (no second source
//! of truth) and read without JavaScript; small hand-written scripts (`assets`) add live status,
//! log streaming, in-place test invocations and multipart uploads. Every user-controlled string
//! goes through `esc`. Forms POST and answer 303 back to the page; a POST whose Origin or Referer
//! is another site is refused.

/// `write!` into a page's `String`. Formatting into a `String` cannot fail (its `fmt::Write`
/// never errors), so the `fmt::Result` carries nothing to act on and is dropped here, once.
macro_rules! put {
    ($dst:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        $dst.write_fmt(format_args!($($arg)*)).ok();
    }};
}

mod algorithms;
mod assets;
mod experiments;
mod featurestore;
pub mod forms;
mod guard;
mod hosting;
mod hosting_forms;
mod lifecycle;
mod login;
mod notebooks;
mod pipelines;
mod processing;
mod registry;
mod s3;
mod studio;
mod training;
mod training_form;
mod tuning;

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

use crate::AppState;
pub use crate::html::esc;
use crate::runtime::images::ImageStatus;
use crate::service::Services;
use crate::service::described::{Listed, Record};
use crate::service::overview::{EngineState, GpuUse};
use crate::store::resources::ResourceKind;

pub const ROOT: &str = "/_sagebox/";

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/_sagebox/", get(dashboard))
        .route("/_sagebox", get(|| async { see_other(ROOT) }))
        .route("/_sagebox/assets/console.css", get(assets::css))
        .route("/_sagebox/assets/console.js", get(assets::js))
        .route(
            "/_sagebox/notebook-instances",
            get(notebooks::list).post(notebooks::create),
        )
        .route(
            "/_sagebox/notebook-instances/{name}",
            get(notebooks::detail),
        )
        .route(
            "/_sagebox/notebook-instances/{name}/{action}",
            get(notebooks::open).post(notebooks::act),
        )
        .route("/_sagebox/training-jobs", get(training::list))
        .route("/_sagebox/training-jobs/{name}", get(training::detail))
        .route("/_sagebox/training-jobs/{name}/stop", post(training::stop))
        .route(
            "/_sagebox/training-jobs/{name}/logs/events",
            get(training::log_events),
        )
        .route("/_sagebox/processing-jobs", get(processing::list))
        .route("/_sagebox/processing-jobs/{name}", get(processing::detail))
        .route(
            "/_sagebox/processing-jobs/{name}/stop",
            post(processing::stop),
        )
        .route(
            "/_sagebox/processing-jobs/{name}/logs/events",
            get(processing::log_events),
        )
        .route("/_sagebox/hyper-parameter-tuning-jobs", get(tuning::list))
        .route(
            "/_sagebox/hyper-parameter-tuning-jobs/{name}",
            get(tuning::detail),
        )
        .route(
            "/_sagebox/hyper-parameter-tuning-jobs/{name}/stop",
            post(tuning::stop),
        )
        .route(
            "/_sagebox/create/training-job",
            get(training_form::show).post(training_form::create),
        )
        .route(
            "/_sagebox/create/model",
            get(hosting_forms::model_form).post(hosting_forms::create_model),
        )
        .route(
            "/_sagebox/create/endpoint-config",
            get(hosting_forms::config_form).post(hosting_forms::create_config),
        )
        .route(
            "/_sagebox/create/endpoint",
            get(hosting_forms::endpoint_form).post(hosting_forms::create_endpoint),
        )
        .route(
            "/_sagebox/create/transform-job",
            get(hosting_forms::transform_form).post(hosting_forms::create_transform),
        )
        .route(
            "/_sagebox/endpoints/{name}/update",
            get(hosting_forms::update_form).post(hosting_forms::update_endpoint),
        )
        .route(
            "/_sagebox/models/{name}/delete",
            get(hosting_forms::confirm_model).post(hosting_forms::delete_model),
        )
        .route(
            "/_sagebox/endpoint-configs/{name}/delete",
            get(hosting_forms::confirm_config).post(hosting_forms::delete_config),
        )
        .route(
            "/_sagebox/endpoints/{name}/delete",
            get(hosting_forms::confirm_endpoint).post(hosting_forms::delete_endpoint),
        )
        .route(
            "/_sagebox/lifecycle-configs",
            get(lifecycle::list).post(lifecycle::create),
        )
        .route(
            "/_sagebox/lifecycle-configs/{name}",
            get(lifecycle::detail).post(lifecycle::update),
        )
        .route(
            "/_sagebox/lifecycle-configs/{name}/delete",
            get(lifecycle::confirm_delete).post(lifecycle::delete),
        )
        .route("/_sagebox/status", get(status_json))
        .route("/_sagebox/login", get(login::show).post(login::submit))
        .route("/_sagebox/logout", post(login::logout))
        .route("/_sagebox/models", get(hosting::models))
        .route("/_sagebox/models/{name}", get(hosting::model))
        .route("/_sagebox/endpoint-configs", get(hosting::configs))
        .route("/_sagebox/endpoint-configs/{name}", get(hosting::config))
        .route("/_sagebox/endpoints", get(hosting::endpoints))
        .route(
            "/_sagebox/endpoints/{name}",
            get(hosting::endpoint).post(hosting::invoke_form),
        )
        .route(
            "/_sagebox/endpoints/{name}/invoke",
            post(hosting::invoke_json),
        )
        .route("/_sagebox/transform-jobs", get(hosting::transforms))
        .route("/_sagebox/transform-jobs/{name}", get(hosting::transform))
        .route("/_sagebox/pipelines", get(pipelines::list))
        .route("/_sagebox/pipelines/{name}", get(pipelines::detail))
        .route(
            "/_sagebox/pipelines/{name}/executions/{id}",
            get(pipelines::execution),
        )
        .route(
            "/_sagebox/pipelines/{name}/executions/{id}/stop",
            post(pipelines::stop),
        )
        .route("/_sagebox/model-registry", get(registry::groups))
        .route("/_sagebox/model-registry/{name}", get(registry::group))
        .route(
            "/_sagebox/model-registry/{name}/versions/{version}/approval",
            post(registry::approval),
        )
        .route("/_sagebox/domains", get(studio::list))
        .route("/_sagebox/domains/{id}", get(studio::detail))
        .route(
            "/_sagebox/domains/{id}/apps/{kind}/{owner}/{app_type}/{name}/{action}",
            get(studio::open).post(studio::delete),
        )
        .route("/_sagebox/experiments", get(experiments::list))
        .route("/_sagebox/experiments/{name}", get(experiments::detail))
        .route("/_sagebox/trials/{name}", get(experiments::trial))
        .route("/_sagebox/feature-groups", get(featurestore::list))
        .route("/_sagebox/feature-groups/{name}", get(featurestore::detail))
        .route("/_sagebox/s3", get(s3::buckets).post(s3::create_bucket))
        .route("/_sagebox/s3/{bucket}", get(s3::listing))
        .route("/_sagebox/s3/{bucket}/object", get(s3::object))
        .route("/_sagebox/s3/{bucket}/download", get(s3::download))
        .route("/_sagebox/s3/{bucket}/delete", post(s3::delete))
        .route("/_sagebox/s3/{bucket}/uploads", post(s3::upload_start))
        .route(
            "/_sagebox/s3/{bucket}/uploads/{id}",
            axum::routing::put(s3::upload_part).post(s3::upload_complete),
        )
        .route_layer(axum::middleware::from_fn(guard::guard))
        .route_layer(axum::middleware::from_fn_with_state(state, only_when_open))
}

/// Under `--auth strict` the console asks for a configured access key pair first (`login`):
/// without a session a page request goes to the login and anything else is refused, so the
/// console is no way around the signatures. Open mode lets everything through.
async fn only_when_open(
    State(state): State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if state.services.config().auth == crate::config::AuthMode::Strict
        && let Some(refused) = login::gate(&req)
    {
        return refused;
    }
    next.run(req).await
}

/// A browser asking for `/` (HTML, no AWS signature) is sent to the console.
pub fn wants_console(
    method: &axum::http::Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> bool {
    method == axum::http::Method::GET
        && path == "/"
        && query.is_none_or(str::is_empty)
        && !headers.contains_key(header::AUTHORIZATION)
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .body(Body::empty())
        .unwrap_or_default()
}

const SECTIONS: &[(&str, &str)] = &[
    ("", "Dashboard"),
    ("notebook-instances", "Notebook instances"),
    ("lifecycle-configs", "Lifecycle configurations"),
    ("training-jobs", "Training jobs"),
    ("processing-jobs", "Processing jobs"),
    ("hyper-parameter-tuning-jobs", "Tuning jobs"),
    ("models", "Models"),
    ("endpoint-configs", "Endpoint configurations"),
    ("endpoints", "Endpoints"),
    ("transform-jobs", "Batch transform jobs"),
    ("pipelines", "Pipelines"),
    ("model-registry", "Model registry"),
    ("domains", "Studio"),
    ("experiments", "Experiments"),
    ("feature-groups", "Feature Store"),
    ("s3", "S3"),
];

/// A whole page: navigation, the section's title and `body`.
pub fn page(title: &str, section: &str, body: &str) -> Response {
    let mut nav = String::new();
    for (path, label) in SECTIONS {
        let current = if *path == section {
            " aria-current=\"page\""
        } else {
            ""
        };
        put!(nav, "<a href=\"{ROOT}{path}\"{current}>{label}</a>");
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t} · sagebox</title><meta name=\"csrf-token\" content=\"{token}\"><link rel=\"stylesheet\" href=\"{ROOT}assets/console.css\"></head><body><header><a class=\"brand\" href=\"{ROOT}\">sagebox</a><nav id=\"nav\">{nav}</nav></header><main><h1>{t}</h1>{body}</main><script src=\"{ROOT}assets/console.js\" defer></script></body></html>",
        t = esc(title),
        token = guard::token(),
        body = guard::with_tokens(body)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

pub fn not_found(section: &str, what: &str) -> Response {
    let mut r = page(
        "Not found",
        section,
        &format!("<p class=\"error\">{}</p>", esc(what)),
    );
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

pub fn error_page(section: &str, message: &str) -> Response {
    let mut r = page(
        "Error",
        section,
        &format!("<p class=\"error\">{}</p>", esc(message)),
    );
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

/// Refuses a form POST from another site (the browser says where it comes from). The guard
/// middleware has checked this already for every state-changing route; handlers that read their
/// body themselves check again.
pub fn same_origin(headers: &HeaderMap) -> Result<(), Box<Response>> {
    if guard::same_origin(headers) {
        return Ok(());
    }
    let mut r = page(
        "Refused",
        "",
        "<p class=\"error\">This form was sent from another site; the console only accepts its own.</p>",
    );
    *r.status_mut() = StatusCode::FORBIDDEN;
    Err(Box::new(r))
}

/// After a job's stop button: back to the job's page, or the refusal (a job already ended).
pub fn stopped(section: &str, name: &str, done: crate::service::ServiceResult<()>) -> Response {
    match done {
        Ok(()) => see_other(&format!("{ROOT}{section}/{}", enc(name))),
        Err(e) => error_page(section, &e.to_string()),
    }
}

/// A form body's fields.
pub async fn form(req: Request) -> Result<(HeaderMap, HashMap<String, String>), Box<Response>> {
    let (parts, body) = req.into_parts();
    same_origin(&parts.headers)?;
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| Box::new(error_page("", &format!("cannot read the form: {e}"))))?;
    Ok((
        parts.headers,
        form_urlencoded::parse(&bytes).into_owned().collect(),
    ))
}

/// Epoch seconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn when(v: Option<&Value>) -> String {
    let Some(secs) = v.and_then(Value::as_f64) else {
        return String::new();
    };
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// What Describe* shows for a stored resource: its request, the derived members over it (not
/// the private ones), name and creation time.
pub fn view(res: &Record, status: Option<&str>, name_member: &str) -> Map<String, Value> {
    let mut out: Map<String, Value> = res.request.as_object().cloned().unwrap_or_default();
    if let Some(d) = res.derived.as_object() {
        out.extend(
            d.iter()
                .filter(|(k, v)| !k.starts_with('_') && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    out.insert(name_member.into(), Value::String(res.name.clone()));
    out.insert("Arn".into(), Value::String(res.arn.clone()));
    out.insert("CreationTime".into(), serde_json::json!(res.created));
    if let Some(s) = status {
        out.insert("Status".into(), Value::String(s.to_string()));
    }
    out
}

/// A `<dl id="details">` of members: scalars as text, structures as indented JSON.
pub fn details(members: &Map<String, Value>) -> String {
    let mut out = String::from("<dl id=\"details\">");
    for (k, v) in members {
        let shown = match v {
            Value::String(s) => esc(s),
            Value::Number(_) | Value::Bool(_) if k.ends_with("Time") => esc(&when(Some(v))),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => format!(
                "<pre>{}</pre>",
                esc(&serde_json::to_string_pretty(other).unwrap_or_default())
            ),
        };
        put!(out, "<dt>{}</dt><dd>{shown}</dd>", esc(k));
    }
    out.push_str("</dl>");
    out
}

/// A string member of a resource: its request's, else one sagebox derived ("" when neither).
pub fn member_str<'a>(r: &'a Record, member: &str) -> &'a str {
    r.request
        .get(member)
        .or_else(|| r.derived.get(member))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A number as a page shows it: up to six decimals without trailing zeros, scientific when
/// smaller than that shows.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v != 0.0 && v.abs() < 1e-4 {
        return format!("{v:e}");
    }
    let fixed = format!("{v:.6}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".into()
    } else {
        trimmed.to_string()
    }
}

pub fn status_badge(status: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        esc(&status.to_ascii_lowercase()),
        esc(status)
    )
}

/// Every resource of a kind, newest first.
pub async fn all(services: &Services, kind: ResourceKind) -> Vec<Listed> {
    services.every(kind).await
}

/// A list page's table: a `tr[data-name]` per resource with a link, status and creation time.
pub fn resource_table(section: &str, items: &[Listed], with_status: bool) -> String {
    if items.is_empty() {
        return "<p class=\"empty\">None yet.</p><table id=\"list\"></table>".into();
    }
    let mut t = String::from("<table id=\"list\"><thead><tr><th>Name</th>");
    if with_status {
        t.push_str("<th>Status</th>");
    }
    t.push_str("<th>Created</th></tr></thead><tbody>");
    for item in items {
        let r = &item.record;
        put!(
            t,
            "<tr data-name=\"{n}\"><td><a href=\"{ROOT}{section}/{u}\">{n}</a></td>",
            n = esc(&r.name),
            u = enc(&r.name)
        );
        if with_status {
            put!(
                t,
                "<td class=\"status\">{}</td>",
                esc(item.status.as_deref().unwrap_or(""))
            );
        }
        put!(
            t,
            "<td>{}</td></tr>",
            when(Some(&serde_json::json!(r.created)))
        );
    }
    t.push_str("</tbody></table>");
    t
}

const KINDS: &[(ResourceKind, &str, &str)] = &[
    (
        ResourceKind::NotebookInstance,
        "notebook-instances",
        "Notebook instances",
    ),
    (ResourceKind::TrainingJob, "training-jobs", "Training jobs"),
    (ResourceKind::Model, "models", "Models"),
    (
        ResourceKind::EndpointConfig,
        "endpoint-configs",
        "Endpoint configurations",
    ),
    (ResourceKind::Endpoint, "endpoints", "Endpoints"),
    (
        ResourceKind::TransformJob,
        "transform-jobs",
        "Batch transform jobs",
    ),
    (
        ResourceKind::NotebookLifecycleConfig,
        "lifecycle-configs",
        "Lifecycle configurations",
    ),
    (
        ResourceKind::ProcessingJob,
        "processing-jobs",
        "Processing jobs",
    ),
    (
        ResourceKind::HyperParameterTuningJob,
        "hyper-parameter-tuning-jobs",
        "Tuning jobs",
    ),
    (ResourceKind::Pipeline, "pipelines", "Pipelines"),
    (
        ResourceKind::ModelPackageGroup,
        "model-registry",
        "Model package groups",
    ),
];

async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = &state.services;
    let mut counts = String::from("<section id=\"counts\"><h2>Resources</h2><div class=\"cards\">");
    let mut recent: Vec<(f64, &str, Listed)> = Vec::new();
    for (kind, path, label) in KINDS {
        let items = all(s, *kind).await;
        put!(
            counts,
            "<a class=\"count\" data-kind=\"{path}\" href=\"{ROOT}{path}\"><b>{}</b> {label}</a>",
            items.len()
        );
        recent.extend(
            items
                .into_iter()
                .take(10)
                .map(|r| (r.record.modified, *path, r)),
        );
    }
    let buckets = s.objects().list_buckets().await.unwrap_or_default();
    put!(
        counts,
        "<a class=\"count\" data-kind=\"buckets\" href=\"{ROOT}s3\"><b>{}</b> S3 buckets</a></div></section>",
        buckets.len()
    );
    recent.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut activity = String::from("<section id=\"activity\"><h2>Recent activity</h2><ul>");
    for (modified, path, r) in recent.iter().take(12) {
        put!(
            activity,
            "<li><a href=\"{ROOT}{path}/{u}\">{n}</a> <span class=\"kind\">{path}</span> {} <time>{}</time></li>",
            status_badge(r.status.as_deref().unwrap_or("")),
            when(Some(&serde_json::json!(modified))),
            u = enc(&r.record.name),
            n = esc(&r.record.name)
        );
    }
    if recent.is_empty() {
        activity.push_str("<li class=\"empty\">Nothing yet.</li>");
    }
    activity.push_str("</ul></section>");

    let docker = docker_html(s.engine_state().await);
    let gpus = gpus_html(&s.gpu_use());
    let images = images_html(s.emulator_images().await);
    let who = login::signed_in_as(&headers);
    let body = format!(
        "{who}{counts}<div class=\"columns\"><div>{activity}</div><div><section id=\"docker\"><h2>Docker</h2>{docker}</section><section id=\"gpus\"><h2>GPUs</h2>{gpus}</section></div></div><section id=\"images\"><h2>Emulator images</h2>{images}</section>"
    );
    page("Dashboard", "", &body)
}

fn docker_html(state: EngineState) -> String {
    match state {
        EngineState::Answering(info) => format!(
            "<p class=\"ok\">Docker engine {} answering at {} ({} CPUs, {} MiB)</p>",
            esc(&info.server_version),
            esc(&info.host),
            info.cpus,
            info.memory_bytes >> 20
        ),
        EngineState::NotAnswering(e) => format!(
            "<p class=\"error\">Docker engine not answering: {}</p>",
            esc(&e)
        ),
        EngineState::Absent(e) => format!("<p class=\"error\">No Docker engine: {}</p>", esc(&e)),
    }
}

fn gpus_html(gpus: &GpuUse) -> String {
    let report = &gpus.report;
    if report.devices.is_empty() {
        return format!(
            "<p>No GPU{}.</p>",
            report
                .unavailable_reason
                .as_deref()
                .map(|r| format!(": {}", esc(r)))
                .unwrap_or_default()
        );
    }
    let mut t =
        String::from("<table><tr><th>#</th><th>Name</th><th>Memory</th><th>In use by</th></tr>");
    for d in &report.devices {
        let holder = gpus.holders.get(&d.uuid).cloned().unwrap_or_default();
        put!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{} MiB</td><td>{}</td></tr>",
            d.index,
            esc(&d.name),
            d.memory_total >> 20,
            esc(&holder)
        );
    }
    t.push_str("</table>");
    t
}

fn images_html(images: Result<Vec<ImageStatus>, String>) -> String {
    let list = match images {
        Ok(list) => list,
        Err(e) => return format!("<p class=\"error\">{}</p>", esc(&e)),
    };
    let mut t = String::from("<table><tr><th>Image</th><th>Reference</th><th>Status</th></tr>");
    for i in list {
        let status = if i.present {
            "present"
        } else if i.outdated_present {
            "outdated (rebuilt on next use)"
        } else {
            "not built (built on first use)"
        };
        put!(
            t,
            "<tr><td>{}</td><td><code>{}</code></td><td>{status}</td></tr>",
            esc(&i.name),
            esc(&i.reference)
        );
    }
    t.push_str("</table>");
    t
}

/// `{name: status}` of one kind (`?kind=training-jobs`) for the live status script, which
/// polls it every two seconds.
async fn status_json(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let wanted = q.get("kind").map(String::as_str).unwrap_or_default();
    let Some((kind, _, _)) = KINDS.iter().find(|(_, path, _)| *path == wanted) else {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({}))).into_response();
    };
    let items: Map<String, Value> = all(&state.services, *kind)
        .await
        .into_iter()
        .map(|r| (r.record.name, Value::String(r.status.unwrap_or_default())))
        .collect();
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(Value::Object(items)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<img src=x onerror='a()'>\"&"),
            "&lt;img src=x onerror=&#39;a()&#39;&gt;&quot;&amp;"
        );
        assert_eq!(enc("a b/<c>"), "a%20b%2F%3Cc%3E");
    }

    #[test]
    fn numbers_show_without_float_noise() {
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(1.65 / 3.0), "0.55");
        assert_eq!(number(-0.0000001), "-1e-7");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(123456.5), "123456.5");
    }

    #[test]
    fn only_html_gets_to_the_console_from_the_root() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            "text/html,application/xhtml+xml".parse().unwrap(),
        );
        assert!(wants_console(&axum::http::Method::GET, "/", None, &h));
        assert!(!wants_console(
            &axum::http::Method::GET,
            "/bucket",
            None,
            &h
        ));
        h.insert(
            header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 ...".parse().unwrap(),
        );
        assert!(!wants_console(&axum::http::Method::GET, "/", None, &h));
    }
}
