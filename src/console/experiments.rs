//! Experiments: the experiments, an experiment's trials, and a trial's components with their
//! parameters, metric summaries (Min, Max, Avg, Last, Count, as DescribeTrialComponent reports
//! them) and source (a training job links to its console page).

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::{ROOT, enc, esc, member_str, not_found, number, page, when};
use crate::AppState;
use crate::service::described::{Listed, Record};
use crate::service::experiments::{ComponentView, MetricSummary};

const SECTION: &str = "experiments";

fn created(item: &Listed) -> String {
    when(Some(&json!(item.record.created)))
}

pub async fn list(State(state): State<AppState>) -> Response {
    let items = state
        .services
        .stored_every("Experiment")
        .await
        .unwrap_or_default();
    if items.is_empty() {
        return page(
            "Experiments",
            SECTION,
            "<p class=\"empty\">No experiments yet (CreateExperiment, or the SDK's Run, makes one).</p><table id=\"list\"></table>",
        );
    }
    let mut t = String::from(
        "<table id=\"list\"><thead><tr><th>Name</th><th>Display name</th><th>Description</th><th>Created</th></tr></thead><tbody>",
    );
    for e in &items {
        put!(
            t,
            "<tr data-name=\"{n}\"><td><a href=\"{ROOT}{SECTION}/{u}\">{n}</a></td><td class=\"display-name\">{}</td><td class=\"description\">{}</td><td>{}</td></tr>",
            esc(member_str(&e.record, "DisplayName")),
            esc(member_str(&e.record, "Description")),
            created(e),
            n = esc(&e.record.name),
            u = enc(&e.record.name)
        );
    }
    t.push_str("</tbody></table>");
    page("Experiments", SECTION, &t)
}

/// A `<dl id="details">` of the named string members a record has, then its ARN and creation.
fn summary(item: &Listed, members: &[(&str, &str)], extra: &str) -> String {
    let mut d = String::from("<dl id=\"details\">");
    for (member, label) in members {
        let v = member_str(&item.record, member);
        if !v.is_empty() {
            put!(
                d,
                "<dt>{label}</dt><dd data-member=\"{member}\">{}</dd>",
                esc(v)
            );
        }
    }
    put!(
        d,
        "{extra}<dt>ARN</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd></dl>",
        esc(&item.record.arn),
        created(item)
    );
    d
}

pub async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let s = &state.services;
    let Ok(exp) = s
        .stored_one("Experiment", &[("ExperimentName", &name)])
        .await
    else {
        return not_found(SECTION, &format!("No experiment named {name}."));
    };
    let mut trials = s.stored_every("Trial").await.unwrap_or_default();
    trials.retain(|t| member_str(&t.record, "ExperimentName") == exp.record.name);
    let mut body = summary(
        &exp,
        &[
            ("DisplayName", "Display name"),
            ("Description", "Description"),
        ],
        "",
    );
    body.push_str("<h2>Trials</h2>");
    if trials.is_empty() {
        body.push_str("<p class=\"empty\" id=\"no-trials\">No trials yet.</p>");
    } else {
        body.push_str("<table id=\"trials\"><thead><tr><th>Name</th><th>Display name</th><th>Created</th></tr></thead><tbody>");
        for t in &trials {
            put!(
                body,
                "<tr data-name=\"{n}\"><td><a href=\"{ROOT}trials/{u}\">{n}</a></td><td class=\"display-name\">{}</td><td>{}</td></tr>",
                esc(member_str(&t.record, "DisplayName")),
                created(t),
                n = esc(&t.record.name),
                u = enc(&t.record.name)
            );
        }
        body.push_str("</tbody></table>");
    }
    page(&exp.record.name, SECTION, &body)
}

pub async fn trial(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let s = &state.services;
    let Ok(trial) = s.stored_one("Trial", &[("TrialName", &name)]).await else {
        return not_found(SECTION, &format!("No trial named {name}."));
    };
    let components = match s.trial_component_views(&trial.record.name).await {
        Ok(c) => c,
        Err(e) => return super::error_page(SECTION, &e.to_string()),
    };
    let experiment = member_str(&trial.record, "ExperimentName");
    let link = format!(
        "<dt>Experiment</dt><dd><a id=\"experiment-link\" href=\"{ROOT}{SECTION}/{}\">{}</a></dd>",
        enc(experiment),
        esc(experiment)
    );
    let mut body = summary(&trial, &[("DisplayName", "Display name")], &link);
    body.push_str("<h2>Trial components</h2>");
    if components.is_empty() {
        body.push_str("<p class=\"empty\" id=\"no-components\">No trial components yet.</p>");
    }
    for c in &components {
        body.push_str(&component_section(c));
    }
    page(&trial.record.name, SECTION, &body)
}

/// The console page of a trial component's source, where sagebox has one.
fn source_link(arn: &str, kind: &str) -> Option<String> {
    let section = match kind {
        "SageMakerTrainingJob" => "training-jobs",
        "SageMakerProcessingJob" => "processing-jobs",
        "SageMakerTransformJob" => "transform-jobs",
        _ => return None,
    };
    let name = arn.split_once('/').map(|(_, n)| n)?;
    Some(format!("{ROOT}{section}/{}", enc(name)))
}

fn source_html(r: &Record) -> String {
    let arn = r
        .request
        .pointer("/Source/SourceArn")
        .and_then(Value::as_str)
        .unwrap_or("");
    if arn.is_empty() {
        return "<span class=\"empty\">none</span>".into();
    }
    let kind = r
        .request
        .pointer("/Source/SourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let shown = format!("{} {}", esc(kind), esc(arn));
    match source_link(arn, kind) {
        Some(href) => format!("<a class=\"source\" href=\"{href}\">{shown}</a>"),
        None => format!("<span class=\"source\">{shown}</span>"),
    }
}

fn component_section(c: &ComponentView) -> String {
    let r = &c.component.record;
    let display = member_str(r, "DisplayName");
    let status = r
        .request
        .pointer("/Status/PrimaryStatus")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut out = format!(
        "<section class=\"component\" data-name=\"{n}\"><h3>{title}</h3><dl class=\"fields\"><dt>Name</dt><dd class=\"name\">{n}</dd><dt>Display name</dt><dd class=\"display-name\">{}</dd><dt>Status</dt><dd class=\"status\">{}</dd><dt>Source</dt><dd>{}</dd>",
        esc(display),
        esc(status),
        source_html(r),
        n = esc(&r.name),
        title = esc(if display.is_empty() { &r.name } else { display })
    );
    for (member, label) in [("StartTime", "Start"), ("EndTime", "End")] {
        let at = when(r.request.get(member));
        if !at.is_empty() {
            put!(out, "<dt>{label}</dt><dd>{at}</dd>");
        }
    }
    out.push_str("</dl>");
    out.push_str(&parameters_table(r));
    out.push_str(&metrics_table(&c.metrics));
    out.push_str("</section>");
    out
}

fn parameters_table(r: &Record) -> String {
    let params = r.request.get("Parameters").and_then(Value::as_object);
    let Some(params) = params.filter(|p| !p.is_empty()) else {
        return "<p class=\"empty no-parameters\">No parameters.</p>".into();
    };
    let mut t = String::from(
        "<table class=\"parameters\"><thead><tr><th>Parameter</th><th>Value</th></tr></thead><tbody>",
    );
    for (k, v) in params {
        let value = match (
            v.get("NumberValue").and_then(Value::as_f64),
            v.get("StringValue"),
        ) {
            (Some(n), _) => number(n),
            (None, Some(Value::String(text))) => text.clone(),
            (None, other) => other.map(Value::to_string).unwrap_or_default(),
        };
        put!(
            t,
            "<tr data-param=\"{k}\"><td class=\"name\">{k}</td><td class=\"value\">{}</td></tr>",
            esc(&value),
            k = esc(k)
        );
    }
    t.push_str("</tbody></table>");
    t
}

fn metrics_table(metrics: &[MetricSummary]) -> String {
    if metrics.is_empty() {
        return "<p class=\"empty no-metrics\">No metrics logged.</p>".into();
    }
    let mut t = String::from(
        "<table class=\"metrics\"><thead><tr><th>Metric</th><th>Min</th><th>Max</th><th>Avg</th><th>Last</th><th>Count</th></tr></thead><tbody>",
    );
    for m in metrics {
        put!(
            t,
            "<tr data-metric=\"{n}\"><td class=\"name\">{n}</td><td class=\"stat-min\">{}</td><td class=\"stat-max\">{}</td><td class=\"stat-avg\">{}</td><td class=\"stat-last\">{}</td><td class=\"stat-count\">{}</td></tr>",
            number(m.min),
            number(m.max),
            number(m.avg),
            number(m.last),
            m.count,
            n = esc(&m.name)
        );
    }
    t.push_str("</tbody></table>");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_training_job_source_links_to_its_page() {
        assert_eq!(
            source_link(
                "arn:aws:sagemaker:us-east-1:000000000000:training-job/my-job",
                "SageMakerTrainingJob"
            )
            .as_deref(),
            Some("/_sagebox/training-jobs/my-job")
        );
        assert_eq!(source_link("arn:x:y/z", "Other"), None);
    }

    #[test]
    fn parameters_and_metrics_are_escaped() {
        let r = Record {
            name: "tc".into(),
            arn: "arn".into(),
            created: 0.0,
            modified: 0.0,
            request: json!({"Parameters": {
                "<b>": {"StringValue": "<script>x</script>"},
                "lr": {"NumberValue": 0.1}
            }}),
            derived: json!({}),
        };
        let html = parameters_table(&r);
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
        assert!(html.contains("data-param=\"&lt;b&gt;\""), "{html}");
        assert!(html.contains("<td class=\"value\">0.1</td>"), "{html}");
        assert!(!html.contains("<script>"));
    }
}
