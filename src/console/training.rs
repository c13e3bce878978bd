//! Training jobs: list with filters, and a detail page with hyperparameters, channels, the
//! status timeline, metric plots from the job's log lines and its logs, streamed live.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::Response;
use serde_json::{Value, json};

use super::stopped;
use super::{ROOT, all, details, enc, esc, not_found, page, status_badge, view, when};
use crate::AppState;
use crate::aws::model::typed::sagemaker::TrainingJobStatus;
use crate::service::Services;
use crate::service::logs::FilterLogEvents;
use crate::service::training::LOG_GROUP;
use crate::service::training::state::TRAINING_JOB;
use crate::store::logs::LogEvent;
use crate::store::resources::ResourceKind;

const SECTION: &str = "training-jobs";
/// The statuses a job can be in, for the list's filter.
const STATUSES: [TrainingJobStatus; 5] = {
    use TrainingJobStatus::*;
    [InProgress, Completed, Failed, Stopping, Stopped]
};

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let status = q.get("status").filter(|s| !s.is_empty());
    let name = q.get("name").filter(|s| !s.is_empty());
    let items: Vec<_> = all(&state.services, ResourceKind::TrainingJob)
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
    for s in STATUSES.map(|s| s.as_str()) {
        let selected = if status.map(String::as_str) == Some(s) {
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
    let mut table = super::resource_table(SECTION, &items, true);
    table = table.replace(
        "<table id=\"list\">",
        "<table id=\"list\" data-live=\"training-jobs\">",
    );
    let create = format!(
        "<p><a id=\"create-training-job\" class=\"button\" href=\"{ROOT}create/training-job\">Create training job</a></p>"
    );
    page(
        "Training jobs",
        SECTION,
        &format!("{create}{filter}{table}"),
    )
}

/// Every event of the job's streams (`<job>/...`) from `start_ms`, oldest first.
async fn events(services: &Services, job: &str, start_ms: Option<i64>) -> Vec<LogEvent> {
    group_events(services, LOG_GROUP, job, start_ms).await
}

/// Every event of a job's streams (`<job>/...`) in log group `group` from `start_ms`, oldest
/// first; processing jobs log the same way under their own group.
pub(super) async fn group_events(
    services: &Services,
    group: &str,
    job: &str,
    start_ms: Option<i64>,
) -> Vec<LogEvent> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = services
            .filter_log_events(FilterLogEvents {
                group: group.into(),
                stream_names: None,
                stream_prefix: Some(format!("{job}/")),
                start: start_ms,
                end: None,
                pattern: None,
                limit: None,
                next_token: token,
            })
            .await;
        let Ok(page) = page else { break };
        out.extend(page.items);
        match page.next_token {
            Some(t) if out.len() < 50_000 => token = Some(t),
            _ => break,
        }
    }
    out
}

/// An inline SVG line plot of one metric.
fn plot(name: &str, points: &[(f64, f64)]) -> String {
    let (w, h, pad) = (480.0, 160.0, 8.0);
    let (t0, t1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (v0, v1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let n = points.len().max(2) as f64 - 1.0;
    let span_t = if t1 > t0 { t1 - t0 } else { 0.0 };
    let span_v = if v1 > v0 { v1 - v0 } else { 1.0 };
    let mut coords = String::new();
    for (i, (t, v)) in points.iter().enumerate() {
        // Values logged within the same second spread evenly; otherwise by time.
        let x = if span_t > 0.0 {
            (t - t0) / span_t
        } else {
            i as f64 / n
        };
        let y = (v - v0) / span_v;
        put!(
            coords,
            "{:.1},{:.1} ",
            pad + x * (w - 2.0 * pad),
            h - pad - y * (h - 2.0 * pad)
        );
    }
    let last = points.last().map(|p| p.1).unwrap_or_default();
    format!(
        "<figure><figcaption>{n} <small>last {last}, min {v0}, max {v1}, {count} values</small></figcaption><svg class=\"metric\" data-metric=\"{n}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\"><rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" class=\"frame\"/><polyline fill=\"none\" points=\"{coords}\"/></svg></figure>",
        n = esc(name),
        count = points.len()
    )
}

/// The `section#logs` of a job's page: a `pre.log` per stream, and where the live script reads
/// what follows (`events_url`) while the job is `live`.
pub(super) fn logs_section(events_url: &str, evs: &[LogEvent], live: bool) -> String {
    let mut streams: BTreeMap<&str, String> = BTreeMap::new();
    let mut last_id = 0;
    let mut last_ts = 0;
    for e in evs {
        let text = streams.entry(e.stream.as_str()).or_default();
        text.push_str(&esc(&e.message));
        text.push('\n');
        last_id = last_id.max(e.id);
        last_ts = last_ts.max(e.timestamp);
    }
    let live = if live { " data-live=\"1\"" } else { "" };
    let mut body = format!(
        "<section id=\"logs\" data-events=\"{events_url}?after={last_id}&amp;since={last_ts}\"{live}><h2>Logs</h2>"
    );
    if streams.is_empty() {
        body.push_str("<p class=\"empty\">No log lines yet.</p>");
    }
    for (stream, text) in &streams {
        put!(
            body,
            "<h3>{st}</h3><pre class=\"log\" data-stream=\"{st}\">{text}</pre>",
            st = esc(stream)
        );
    }
    body.push_str("</section>");
    body
}

pub async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let s = &state.services;
    let Ok(job) = s.describe_training_job(&name).await else {
        return not_found(SECTION, &format!("No training job named {name}."));
    };
    let status = job.status.unwrap_or(TrainingJobStatus::InProgress);
    let mut body = format!(
        "<p>{} {}</p>",
        status_badge(status.as_str()),
        esc(job
            .record
            .derived
            .get("SecondaryStatus")
            .and_then(Value::as_str)
            .unwrap_or(""))
    );
    // actions: clone into the create form; a completed job's model
    let u = enc(&job.record.name);
    body.push_str("<p class=\"actions\">");
    put!(
        body,
        "<a id=\"clone\" class=\"button\" href=\"{ROOT}create/training-job?clone={u}\">Clone</a>"
    );
    if status == TrainingJobStatus::Completed {
        put!(
            body,
            "<a id=\"create-model\" class=\"button\" href=\"{ROOT}create/model?training_job={u}\">Create model</a>"
        );
    }
    body.push_str("</p>");
    if status == TrainingJobStatus::InProgress {
        put!(
            body,
            "<form method=\"post\" action=\"{ROOT}{SECTION}/{}/stop\"><button class=\"stop\" type=\"submit\">Stop</button></form>",
            enc(&job.record.name)
        );
    }
    if let Some(r) = job
        .record
        .derived
        .get("FailureReason")
        .and_then(Value::as_str)
    {
        put!(body, "<p class=\"error\">{}</p>", esc(r));
    }
    // hyperparameters
    body.push_str("<h2>Hyperparameters</h2><table id=\"hyperparameters\"><tr><th>Name</th><th>Value</th></tr>");
    if let Some(hp) = job
        .record
        .request
        .get("HyperParameters")
        .and_then(Value::as_object)
    {
        for (k, v) in hp {
            put!(
                body,
                "<tr data-key=\"{k}\"><td>{k}</td><td>{}</td></tr>",
                esc(v.as_str().unwrap_or(&v.to_string())),
                k = esc(k)
            );
        }
    }
    body.push_str("</table>");
    // channels
    body.push_str("<h2>Input channels</h2><table id=\"channels\"><tr><th>Channel</th><th>Source</th><th>Content type</th><th>Input mode</th></tr>");
    for c in job
        .record
        .request
        .get("InputDataConfig")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let source = c
            .pointer("/DataSource/S3DataSource/S3Uri")
            .or_else(|| c.pointer("/DataSource/FileSystemDataSource/DirectoryPath"))
            .and_then(Value::as_str)
            .unwrap_or("");
        put!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(c.get("ChannelName").and_then(Value::as_str).unwrap_or("")),
            esc(source),
            esc(c.get("ContentType").and_then(Value::as_str).unwrap_or("")),
            esc(c.get("InputMode").and_then(Value::as_str).unwrap_or("File"))
        );
    }
    body.push_str("</table>");
    // timeline
    body.push_str("<h2>Status timeline</h2><ol id=\"timeline\">");
    for t in job
        .record
        .derived
        .get("SecondaryStatusTransitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        put!(
            body,
            "<li><b>{}</b> <time>{}</time> {}</li>",
            esc(t.get("Status").and_then(Value::as_str).unwrap_or("")),
            when(t.get("StartTime")),
            esc(t.get("StatusMessage").and_then(Value::as_str).unwrap_or(""))
        );
    }
    body.push_str("</ol>");
    // metrics and logs
    let evs = events(s, &job.record.name, None).await;
    let series = crate::service::training::metric_series(
        &job.record.request,
        evs.iter().map(|e| (e.timestamp, e.message.clone())),
    );
    body.push_str("<section id=\"metrics\"><h2>Metrics</h2>");
    if series.is_empty() {
        body.push_str("<p class=\"empty\">This job has logged no metric values (MetricDefinitions, or a built-in algorithm's own).</p>");
    }
    for (metric, points) in &series {
        body.push_str(&plot(metric, points));
    }
    body.push_str("</section>");
    let live = !TRAINING_JOB.is_terminal(status);
    body.push_str(&logs_section(
        &format!("{ROOT}{SECTION}/{}/logs/events", enc(&job.record.name)),
        &evs,
        live,
    ));
    body.push_str("<h2>Description</h2>");
    body.push_str(&details(&view(
        &job.record,
        job.status.map(|s| s.as_str()),
        "TrainingJobName",
    )));
    page(&job.record.name, SECTION, &body)
}

/// The stop button (the guard has checked the form's origin and token).
pub async fn stop(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    stopped(
        SECTION,
        &name,
        state.services.stop_training_job(&name).await,
    )
}

/// Server-sent events of a training job's log lines (see `stream_logs`).
pub async fn log_events(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    stream_logs(state.services.clone(), LOG_GROUP, name, &q, |s, name| {
        Box::pin(async move {
            s.describe_training_job(&name)
                .await
                .ok()
                .and_then(|j| j.status)
                .is_none_or(|st| TRAINING_JOB.is_terminal(st))
        })
    })
}

/// Whether a job is over (or gone), asked once a second while its logs stream.
pub(super) type Finished = fn(Services, String) -> futures_util::future::BoxFuture<'static, bool>;

/// Server-sent events: `log` events (`{"stream", "message", "timestamp"}`) for the lines of
/// job `name`'s streams in `group` after event id `after` (query), polled once a second; `end`
/// when `finished` says the job is over and nothing is left.
pub(super) fn stream_logs(
    services: Services,
    group: &'static str,
    name: String,
    q: &std::collections::HashMap<String, String>,
    finished: Finished,
) -> Response {
    let after: i64 = q.get("after").and_then(|v| v.parse().ok()).unwrap_or(0);
    let since: i64 = q.get("since").and_then(|v| v.parse().ok()).unwrap_or(0);
    struct Cursor {
        after: i64,
        since: i64,
        quiet: u32,
        done: bool,
    }
    let start = Cursor {
        after,
        since,
        quiet: 0,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, move |mut c| {
        let services = services.clone();
        let name = name.clone();
        async move {
            if c.done {
                return None;
            }
            // Container clocks and arrival order differ a little: look back a minute, keep ids.
            let evs = group_events(&services, group, &name, Some((c.since - 60_000).max(0))).await;
            let mut chunk = String::new();
            let seen = c.after;
            for e in evs.into_iter().filter(|e| e.id > seen) {
                c.after = c.after.max(e.id);
                c.since = c.since.max(e.timestamp);
                let data =
                    json!({"stream": e.stream, "message": e.message, "timestamp": e.timestamp});
                put!(chunk, "event: log\ndata: {data}\n\n");
            }
            let finished = finished(services.clone(), name.clone()).await;
            if chunk.is_empty() {
                c.quiet = if finished { c.quiet + 1 } else { 0 };
                if c.quiet >= 2 {
                    c.done = true;
                    chunk.push_str("event: end\ndata: {}\n\n");
                } else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    chunk.push_str(": keep-alive\n\n");
                }
            }
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), c))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}
