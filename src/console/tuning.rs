//! Hyperparameter tuning jobs: list with filters, and a detail page with the tuning config, the
//! counters, the best training job, every training job ranked by its objective (each linked to
//! its own page) and a plot of the objective against launch order.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::Value;

use super::processing::filtered_list;
use super::stopped;
use super::{ROOT, details, enc, esc, not_found, page, status_badge, view, when};
use crate::AppState;
use crate::aws::model::typed::sagemaker::HyperParameterTuningJobStatus as Status;
use crate::service::tuning::state::TrainingJobSummary;
use crate::service::tuning::{ChildrenQuery, ChildrenSort};
use crate::store::resources::ResourceKind;

const SECTION: &str = "hyper-parameter-tuning-jobs";
const STATUSES: [Status; 5] = {
    use Status::*;
    [InProgress, Completed, Failed, Stopping, Stopped]
};

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let statuses = STATUSES.map(|s| s.as_str());
    let body = filtered_list(
        &state,
        ResourceKind::HyperParameterTuningJob,
        SECTION,
        &statuses,
        &q,
    )
    .await;
    page("Hyperparameter tuning jobs", SECTION, &body)
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Strategy, objective, resource limits and parameter ranges.
fn config(request: &Value) -> String {
    let c = "/HyperParameterTuningJobConfig";
    let mut out = format!(
        "<h2>Configuration</h2><dl id=\"config\"><dt>Strategy</dt><dd>{}</dd><dt>Objective</dt><dd>{} <code>{}</code></dd>",
        esc(text(request, &format!("{c}/Strategy"))),
        esc(text(
            request,
            &format!("{c}/HyperParameterTuningJobObjective/Type")
        )),
        esc(text(
            request,
            &format!("{c}/HyperParameterTuningJobObjective/MetricName")
        ))
    );
    if let Some(limits) = request
        .pointer(&format!("{c}/ResourceLimits"))
        .and_then(Value::as_object)
    {
        for (k, v) in limits {
            put!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v.to_string()));
        }
    }
    out.push_str("</dl><h2>Parameter ranges</h2><table id=\"ranges\"><tr><th>Name</th><th>Type</th><th>Range</th><th>Scaling</th></tr>");
    for (member, kind) in [
        ("IntegerParameterRanges", "Integer"),
        ("ContinuousParameterRanges", "Continuous"),
        ("CategoricalParameterRanges", "Categorical"),
    ] {
        for r in request
            .pointer(&format!("{c}/ParameterRanges/{member}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let range = match r.get("Values").and_then(Value::as_array) {
                Some(values) => values
                    .iter()
                    .map(|v| esc(v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", "),
                None => format!(
                    "{} – {}",
                    esc(text(r, "/MinValue")),
                    esc(text(r, "/MaxValue"))
                ),
            };
            put!(
                out,
                "<tr data-name=\"{n}\"><td>{n}</td><td>{kind}</td><td>{range}</td><td>{}</td></tr>",
                esc(text(r, "/ScalingType")),
                n = esc(text(r, "/Name"))
            );
        }
    }
    out.push_str("</table>");
    out
}

/// TrainingJobStatusCounters and ObjectiveStatusCounters.
fn counters(derived: &Value) -> String {
    let mut out = String::from("<h2>Counters</h2><div id=\"counters\" class=\"cards\">");
    for (member, label) in [
        ("TrainingJobStatusCounters", "training jobs"),
        ("ObjectiveStatusCounters", "objectives"),
    ] {
        for (k, v) in derived
            .get(member)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            put!(
                out,
                "<span class=\"count\" data-counter=\"{m}.{k}\"><b>{}</b> {k} {label}</span>",
                v.as_i64().unwrap_or_default(),
                m = esc(member),
                k = esc(k)
            );
        }
    }
    out.push_str("</div>");
    out
}

fn job_link(name: &str) -> String {
    format!(
        "<a href=\"{ROOT}training-jobs/{}\">{}</a>",
        enc(name),
        esc(name)
    )
}

/// The training jobs ranked by objective (best first, those without a value last).
fn ranked(jobs: &[TrainingJobSummary], minimize: bool, best: Option<&str>) -> String {
    let mut order: Vec<&TrainingJobSummary> = jobs.iter().collect();
    order.sort_by(|a, b| match (a.value(), b.value()) {
        (Some(x), Some(y)) if minimize => x.total_cmp(&y),
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.created.total_cmp(&b.created),
    });
    let mut out = String::from(
        "<h2>Training jobs</h2><table id=\"trials\"><thead><tr><th>#</th><th>Training job</th><th>Status</th><th>Objective</th><th>Hyperparameters</th><th>Created</th></tr></thead><tbody>",
    );
    for (rank, j) in order.iter().enumerate() {
        let is_best = best == Some(j.name.as_str());
        let tuned = j
            .tuned
            .iter()
            .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
            .collect::<Vec<_>>()
            .join(" ");
        put!(
            out,
            "<tr data-name=\"{}\"{}><td>{}</td><td>{}</td><td class=\"status\">{}</td><td class=\"objective\">{}</td><td><code>{tuned}</code></td><td>{}</td></tr>",
            esc(&j.name),
            if is_best { " class=\"best\"" } else { "" },
            rank + 1,
            job_link(&j.name),
            esc(j.status.as_str()),
            j.value().map(|v| v.to_string()).unwrap_or_default(),
            when(Some(&serde_json::json!(j.created)))
        );
    }
    if order.is_empty() {
        out.push_str("<tr><td colspan=\"6\" class=\"empty\">None launched yet.</td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// An inline SVG of each objective value against launch order, the best point marked.
fn plot(jobs: &[TrainingJobSummary], best: Option<&str>) -> String {
    let mut launched: Vec<&TrainingJobSummary> = jobs.iter().collect();
    launched.sort_by(|a, b| {
        a.created
            .total_cmp(&b.created)
            .then_with(|| a.name.cmp(&b.name))
    });
    let points: Vec<(usize, &str, f64)> = launched
        .iter()
        .enumerate()
        .filter_map(|(i, j)| j.value().map(|v| (i, j.name.as_str(), v)))
        .collect();
    if points.is_empty() {
        return "<section id=\"plot\"><h2>Objective by launch</h2><p class=\"empty\">No objective values yet.</p></section>".into();
    }
    let (w, h, pad) = (480.0, 160.0, 10.0);
    let (v0, v1) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.2), b.max(p.2)));
    let span_v = if v1 > v0 { v1 - v0 } else { 1.0 };
    let n = (launched.len().max(2) - 1) as f64;
    let mut dots = String::new();
    for (i, name, v) in &points {
        let x = pad + (*i as f64 / n) * (w - 2.0 * pad);
        let y = h - pad - ((v - v0) / span_v) * (h - 2.0 * pad);
        let (class, r) = if best == Some(*name) {
            (" class=\"best\"", 6)
        } else {
            ("", 3)
        };
        put!(
            dots,
            "<circle{class} cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" data-job=\"{n}\" data-value=\"{v}\"><title>{n}: {v}</title></circle>",
            n = esc(name)
        );
    }
    format!(
        "<section id=\"plot\"><h2>Objective by launch</h2><figure><figcaption><small>min {v0}, max {v1}, {count} values; the best is the large point</small></figcaption><svg class=\"metric\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\"><rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" class=\"frame\"/>{dots}</svg></figure></section>",
        count = points.len()
    )
}

pub async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let s = &state.services;
    let Ok(job) = s.describe_hyper_parameter_tuning_job(&name).await else {
        return not_found(
            SECTION,
            &format!("No hyperparameter tuning job named {name}."),
        );
    };
    let (request, derived) = (&job.record.request, &job.record.derived);
    let mut body = format!("<p>{}</p>", status_badge(job.status.as_str()));
    if job.status == Status::InProgress {
        put!(
            body,
            "<form method=\"post\" action=\"{ROOT}{SECTION}/{}/stop\"><button class=\"stop\" type=\"submit\">Stop</button></form>",
            enc(&job.record.name)
        );
    }
    if let Some(r) = derived.get("FailureReason").and_then(Value::as_str) {
        put!(body, "<p class=\"error\">{}</p>", esc(r));
    }
    let best = derived
        .pointer("/BestTrainingJob/TrainingJobName")
        .and_then(Value::as_str);
    if let Some(b) = best {
        let value = derived
            .pointer("/BestTrainingJob/FinalHyperParameterTuningJobObjectiveMetric/Value")
            .map(Value::to_string)
            .unwrap_or_default();
        put!(
            body,
            "<p id=\"best\" class=\"ok\">Best training job: {} (objective {})</p>",
            job_link(b),
            esc(&value)
        );
    }
    body.push_str(&config(request));
    body.push_str(&counters(derived));
    let children = s
        .list_training_jobs_for_tuning_job(
            &job.record.name,
            ChildrenQuery {
                sort: ChildrenSort::CreationTime,
                max_results: 10_000,
                ..ChildrenQuery::default()
            },
        )
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let minimize = text(
        request,
        "/HyperParameterTuningJobConfig/HyperParameterTuningJobObjective/Type",
    ) == "Minimize";
    body.push_str(&plot(&children, best));
    body.push_str(&ranked(&children, minimize, best));
    body.push_str("<h2>Description</h2>");
    body.push_str(&details(&view(
        &job.record,
        Some(job.status.as_str()),
        "HyperParameterTuningJobName",
    )));
    page(&job.record.name, SECTION, &body)
}

/// The stop button (the guard has checked the form's origin and token).
pub async fn stop(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    stopped(
        SECTION,
        &name,
        state.services.stop_hyper_parameter_tuning_job(&name).await,
    )
}
