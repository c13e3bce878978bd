//! Processing jobs: list with filters, and a detail page with the container it runs, its
//! cluster, inputs and outputs (linked into the S3 view), how it ended, and its logs, streamed
//! live as training jobs' are.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::Value;

use super::stopped;
use super::training::{group_events, logs_section, stream_logs};
use super::{ROOT, all, details, enc, esc, not_found, page, status_badge, view, when};
use crate::AppState;
use crate::aws::model::typed::sagemaker::ProcessingJobStatus;
use crate::service::processing::{LOG_GROUP, PROCESSING_STATUS};
use crate::store::resources::ResourceKind;

const SECTION: &str = "processing-jobs";
const STATUSES: [ProcessingJobStatus; 5] = {
    use ProcessingJobStatus::*;
    [InProgress, Completed, Failed, Stopping, Stopped]
};

/// A list page's filter form (status and name) and the resources of `kind` it lets through.
pub(super) async fn filtered_list(
    state: &AppState,
    kind: ResourceKind,
    section: &str,
    statuses: &[&str],
    q: &HashMap<String, String>,
) -> String {
    let status = q.get("status").filter(|s| !s.is_empty());
    let name = q.get("name").filter(|s| !s.is_empty());
    let items: Vec<_> = all(&state.services, kind)
        .await
        .into_iter()
        .filter(|r| status.is_none_or(|s| r.status.as_deref() == Some(s.as_str())))
        .filter(|r| {
            name.is_none_or(|n| {
                r.record
                    .name
                    .to_ascii_lowercase()
                    .contains(&n.to_ascii_lowercase())
            })
        })
        .collect();
    let mut options = String::from("<option value=\"\">any</option>");
    for s in statuses {
        let selected = if status.map(String::as_str) == Some(*s) {
            " selected"
        } else {
            ""
        };
        put!(options, "<option{selected}>{s}</option>");
    }
    let filter = format!(
        "<form id=\"filter\" method=\"get\" class=\"inline\"><label>Status <select name=\"status\">{options}</select></label><label>Name contains <input name=\"name\" value=\"{}\"></label><button type=\"submit\">Filter</button></form>",
        esc(name.map(String::as_str).unwrap_or(""))
    );
    let mut table = super::resource_table(section, &items, true);
    // Live statuses for the whole list only: a filtered list has fewer rows than the kind has
    // resources, which the live script would take for a change on every poll.
    if status.is_none() && name.is_none() {
        table = table.replacen(
            "<table id=\"list\"",
            &format!("<table id=\"list\" data-live=\"{section}\""),
            1,
        );
    }
    format!("{filter}{table}")
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let statuses = STATUSES.map(|s| s.as_str());
    let body = filtered_list(&state, ResourceKind::ProcessingJob, SECTION, &statuses, &q).await;
    page("Processing jobs", SECTION, &body)
}

/// An `s3://bucket/key` as a link to that place in the console's S3 view; other text as text.
pub(super) fn s3_link(uri: &str) -> String {
    match uri.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
        Some((bucket, key)) if !bucket.is_empty() => format!(
            "<a class=\"s3\" href=\"{ROOT}s3/{}?prefix={}\">{}</a>",
            enc(bucket),
            enc(key),
            esc(uri)
        ),
        _ => match uri.strip_prefix("s3://") {
            Some(bucket) if !bucket.is_empty() => format!(
                "<a class=\"s3\" href=\"{ROOT}s3/{}\">{}</a>",
                enc(bucket),
                esc(uri)
            ),
            _ => esc(uri),
        },
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// AppSpecification and ClusterConfig as a small table.
fn container(request: &Value) -> String {
    let list = |p: &str| {
        request
            .pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| format!("<code>{}</code>", esc(v.as_str().unwrap_or_default())))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let cluster = "/ProcessingResources/ClusterConfig";
    let count = request
        .pointer(&format!("{cluster}/InstanceCount"))
        .map(Value::to_string)
        .unwrap_or_default();
    let volume = request
        .pointer(&format!("{cluster}/VolumeSizeInGB"))
        .map(Value::to_string)
        .unwrap_or_default();
    format!(
        "<h2>Container</h2><table id=\"app\"><tr><th>Image</th><td><code>{}</code></td></tr><tr><th>Entrypoint</th><td id=\"entrypoint\">{}</td></tr><tr><th>Arguments</th><td id=\"arguments\">{}</td></tr></table><h2>Cluster</h2><table id=\"cluster\"><tr><th>Instance type</th><td>{}</td></tr><tr><th>Instance count</th><td>{}</td></tr><tr><th>Volume (GB)</th><td>{}</td></tr></table>",
        esc(text(request, "/AppSpecification/ImageUri")),
        list("/AppSpecification/ContainerEntrypoint"),
        list("/AppSpecification/ContainerArguments"),
        esc(text(request, &format!("{cluster}/InstanceType"))),
        esc(&count),
        esc(&volume)
    )
}

/// ProcessingInputs and ProcessingOutputConfig.Outputs, each with its S3 place linked.
fn inputs_outputs(request: &Value) -> String {
    let mut out = String::from(
        "<h2>Inputs</h2><table id=\"inputs\"><tr><th>Name</th><th>Source</th><th>Local path</th><th>Mode</th></tr>",
    );
    for i in request
        .get("ProcessingInputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        put!(
            out,
            "<tr data-name=\"{n}\"><td>{n}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s3_link(text(i, "/S3Input/S3Uri")),
            esc(text(i, "/S3Input/LocalPath")),
            esc(text(i, "/S3Input/S3InputMode")),
            n = esc(text(i, "/InputName"))
        );
    }
    out.push_str("</table><h2>Outputs</h2><table id=\"outputs\"><tr><th>Name</th><th>Destination</th><th>Local path</th><th>Upload</th></tr>");
    for o in request
        .pointer("/ProcessingOutputConfig/Outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        put!(
            out,
            "<tr data-name=\"{n}\"><td>{n}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s3_link(text(o, "/S3Output/S3Uri")),
            esc(text(o, "/S3Output/LocalPath")),
            esc(text(o, "/S3Output/S3UploadMode")),
            n = esc(text(o, "/OutputName"))
        );
    }
    out.push_str("</table>");
    out
}

pub async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let s = &state.services;
    let Ok(job) = s.describe_processing_job(&name).await else {
        return not_found(SECTION, &format!("No processing job named {name}."));
    };
    let status = job.status.unwrap_or(ProcessingJobStatus::InProgress);
    let (request, derived) = (&job.record.request, &job.record.derived);
    let mut body = format!("<p>{}</p>", status_badge(status.as_str()));
    if status == ProcessingJobStatus::InProgress {
        put!(
            body,
            "<form method=\"post\" action=\"{ROOT}{SECTION}/{}/stop\"><button class=\"stop\" type=\"submit\">Stop</button></form>",
            enc(&job.record.name)
        );
    }
    for (member, class) in [("FailureReason", "error"), ("ExitMessage", "exit")] {
        if let Some(r) = derived.get(member).and_then(Value::as_str) {
            put!(
                body,
                "<p class=\"{class}\" id=\"{member}\"><b>{member}</b> {}</p>",
                esc(r)
            );
        }
    }
    body.push_str("<h2>Times</h2><dl id=\"times\">");
    let created = serde_json::json!(job.record.created);
    for (label, v) in [
        ("Created", Some(&created)),
        ("Started", derived.get("ProcessingStartTime")),
        ("Ended", derived.get("ProcessingEndTime")),
        ("Last modified", derived.get("LastModifiedTime")),
    ] {
        put!(body, "<dt>{label}</dt><dd>{}</dd>", when(v));
    }
    body.push_str("</dl>");
    body.push_str(&container(request));
    body.push_str(&inputs_outputs(request));
    let evs = group_events(s, LOG_GROUP, &job.record.name, None).await;
    body.push_str(&logs_section(
        &format!("{ROOT}{SECTION}/{}/logs/events", enc(&job.record.name)),
        &evs,
        !PROCESSING_STATUS.is_terminal(status),
    ));
    body.push_str("<h2>Description</h2>");
    body.push_str(&details(&view(
        &job.record,
        job.status.map(|s| s.as_str()),
        "ProcessingJobName",
    )));
    page(&job.record.name, SECTION, &body)
}

/// The stop button (the guard has checked the form's origin and token).
pub async fn stop(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    stopped(
        SECTION,
        &name,
        state.services.stop_processing_job(&name).await,
    )
}

pub async fn log_events(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    stream_logs(state.services.clone(), LOG_GROUP, name, &q, |s, name| {
        Box::pin(async move {
            s.describe_processing_job(&name)
                .await
                .ok()
                .and_then(|j| j.status)
                .is_none_or(|st| PROCESSING_STATUS.is_terminal(st))
        })
    })
}
