//! Pipelines: the list, a pipeline's executions and definition versions, and an execution's
//! page: its parameters, the definition drawn as a graph whose nodes take their step's status
//! (layered by dependency depth, server-rendered SVG), and ListPipelineExecutionSteps as a
//! table. An execution still running refreshes itself every two seconds and can be stopped.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::Value;

use super::{ROOT, enc, error_page, esc, form, not_found, page, see_other, status_badge, when};
use crate::AppState;
use crate::aws::model::typed::sagemaker::{PipelineExecutionStatus, StepStatus};
use crate::service::pipelines::definition::Definition;
use crate::service::pipelines::resources::{
    ExecutionListParams, PipelineExecution, PipelineListParams,
};
use crate::service::pipelines::state::{ExecutionState, StepRun};

const SECTION: &str = "pipelines";
/// More than a console page ever lists.
const EVERY: usize = 10_000;

/// Epoch seconds as the console shows them.
fn at(t: Option<f64>) -> String {
    when(t.map(|t| serde_json::json!(t)).as_ref())
}

/// The execution id: the last path part of its ARN.
fn execution_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn execution_url(pipeline: &str, arn: &str) -> String {
    format!(
        "{ROOT}{SECTION}/{}/executions/{}",
        enc(pipeline),
        enc(execution_id(arn))
    )
}

pub async fn list(State(state): State<AppState>) -> Response {
    let params = PipelineListParams {
        descending: true,
        max_results: EVERY,
        ..Default::default()
    };
    let pipelines = match state.services.list_pipelines(params).await {
        Ok(p) => p.items,
        Err(e) => return error_page(SECTION, &e.to_string()),
    };
    if pipelines.is_empty() {
        return page(
            "Pipelines",
            SECTION,
            "<p class=\"empty\">None yet.</p><table id=\"list\" data-live=\"pipelines\"></table>",
        );
    }
    let mut t = String::from(
        "<table id=\"list\" data-live=\"pipelines\"><thead><tr><th>Name</th><th>Description</th><th>Created</th><th>Last execution</th></tr></thead><tbody>",
    );
    for p in &pipelines {
        let r = &p.record;
        let description = r
            .derived
            .get("PipelineDescription")
            .or_else(|| r.request.get("PipelineDescription"))
            .and_then(Value::as_str)
            .unwrap_or("");
        put!(
            t,
            "<tr data-name=\"{n}\"><td><a href=\"{ROOT}{SECTION}/{u}\">{n}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(description),
            at(Some(r.created)),
            at(p.last_run()),
            n = esc(&r.name),
            u = enc(&r.name)
        );
    }
    t.push_str("</tbody></table>");
    page("Pipelines", SECTION, &t)
}

pub async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let s = &state.services;
    let Ok((pipeline, _)) = s.describe_pipeline(&name, None).await else {
        return not_found(SECTION, &format!("No pipeline named {name}."));
    };
    let params = ExecutionListParams {
        descending: true,
        max_results: EVERY,
        ..Default::default()
    };
    let executions = match s.list_pipeline_executions(&name, params).await {
        Ok(p) => p.items,
        Err(e) => return error_page(SECTION, &e.to_string()),
    };
    let r = &pipeline.record;
    let mut body = String::new();
    if let Some(d) = r
        .derived
        .get("PipelineDescription")
        .or_else(|| r.request.get("PipelineDescription"))
        .and_then(Value::as_str)
    {
        put!(body, "<p class=\"description\">{}</p>", esc(d));
    }
    body.push_str("<h2>Executions</h2>");
    if executions.is_empty() {
        body.push_str("<p class=\"empty\">No executions yet.</p>");
    }
    body.push_str("<table id=\"executions\"><thead><tr><th>Execution</th><th>Status</th><th>Started</th><th>Version</th></tr></thead><tbody>");
    for e in &executions {
        put!(
            body,
            "<tr data-name=\"{id}\"><td><a href=\"{}\">{id}</a></td><td class=\"status\">{}</td><td>{}</td><td>{}</td></tr>",
            execution_url(&r.name, &e.record.arn),
            status_badge(e.status.as_str()),
            at(Some(e.record.created)),
            e.state.version_id,
            id = esc(execution_id(&e.record.arn))
        );
    }
    body.push_str("</tbody></table><h2>Definition versions</h2><table id=\"versions\"><thead><tr><th>Version</th><th>Created</th><th>Last execution</th><th>Definition</th></tr></thead><tbody>");
    for v in pipeline.versions.iter().rev() {
        let last = v
            .last_execution
            .as_deref()
            .map(|a| {
                format!(
                    "<a href=\"{}\">{}</a>",
                    execution_url(&r.name, a),
                    esc(execution_id(a))
                )
            })
            .unwrap_or_default();
        let pretty = serde_json::from_str::<Value>(&v.definition)
            .ok()
            .and_then(|d| serde_json::to_string_pretty(&d).ok())
            .unwrap_or_else(|| v.definition.clone());
        put!(
            body,
            "<tr data-version=\"{id}\"><td>{id}</td><td>{}</td><td>{last}</td><td><details><summary>show</summary><pre>{}</pre></details></td></tr>",
            at(Some(v.created)),
            esc(&pretty),
            id = v.id
        );
    }
    body.push_str("</tbody></table>");
    page(&r.name, SECTION, &body)
}

/// The execution `id` of pipeline `name`.
async fn load(state: &AppState, name: &str, id: &str) -> Result<PipelineExecution, Response> {
    let missing = || not_found(SECTION, &format!("No execution {id} of pipeline {name}."));
    let Ok((pipeline, _)) = state.services.describe_pipeline(name, None).await else {
        return Err(missing());
    };
    let arn = format!("{}/execution/{id}", pipeline.record.arn);
    state
        .services
        .describe_pipeline_execution(&arn)
        .await
        .map_err(|_| missing())
}

pub async fn execution(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let e = match load(&state, &name, &id).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let running = e.status == PipelineExecutionStatus::Executing;
    let mut body = format!("<p id=\"status\">{}", status_badge(e.status.as_str()));
    if running {
        body.push_str(" <small class=\"live\">refreshing every 2 seconds</small>");
    }
    body.push_str("</p>");
    if running {
        put!(
            body,
            "<form method=\"post\" action=\"{}/stop\"><button class=\"stop\" type=\"submit\">Stop</button></form>",
            execution_url(&name, &e.record.arn)
        );
    }
    if let Some(r) = &e.state.failure_reason {
        put!(body, "<p class=\"error\" id=\"failure\">{}</p>", esc(r));
    }
    put!(
        body,
        "<p><a href=\"{ROOT}{SECTION}/{}\">Pipeline {}</a>, version {}, started {}</p>",
        enc(&name),
        esc(&name),
        e.state.version_id,
        at(Some(e.record.created))
    );
    body.push_str(
        "<h2>Parameters</h2><table id=\"parameters\"><tr><th>Name</th><th>Value</th></tr>",
    );
    for (k, v) in &e.state.parameters {
        put!(
            body,
            "<tr data-key=\"{k}\"><td>{k}</td><td>{}</td></tr>",
            esc(&match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            k = esc(k)
        );
    }
    body.push_str("</table><h2>Graph</h2>");
    match Definition::parse(&e.state.definition) {
        Ok(d) => body.push_str(&graph(&d, &e.state)),
        Err(err) => put!(
            body,
            "<p class=\"error\">The definition does not parse: {}</p>",
            esc(&err)
        ),
    }
    body.push_str("<h2>Steps</h2>");
    body.push_str(&steps_table(&e.state.steps));
    let mut r = page(&format!("{name} · {id}"), SECTION, &body);
    if running {
        r.headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static("2"));
    }
    r
}

pub async fn stop(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    if let Err(r) = form(req).await {
        return *r;
    }
    let e = match load(&state, &name, &id).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    match state.services.stop_pipeline_execution(&e.record.arn).await {
        Ok(()) => see_other(&execution_url(&name, &e.record.arn)),
        Err(err) => error_page(SECTION, &err.to_string()),
    }
}

/// The console page of the resource a step's metadata names (`{"TrainingJob": {"Arn": …}}`).
fn resource_link(metadata: &Value) -> Option<String> {
    let m = metadata.as_object()?;
    for (kind, v) in m {
        let Some(arn) = v.get("Arn").and_then(Value::as_str) else {
            continue;
        };
        let resource = arn.split_once('/').map(|(_, r)| r).unwrap_or("");
        let last = resource.rsplit('/').next().unwrap_or(resource);
        let url = match kind.as_str() {
            "TrainingJob" => format!("{ROOT}training-jobs/{}", enc(last)),
            "TransformJob" => format!("{ROOT}transform-jobs/{}", enc(last)),
            "Model" => format!("{ROOT}models/{}", enc(last)),
            "EndpointConfig" => format!("{ROOT}endpoint-configs/{}", enc(last)),
            "Endpoint" => format!("{ROOT}endpoints/{}", enc(last)),
            // …:model-package/<group>/<version>
            "RegisterModel" => {
                let group = resource.split('/').next().unwrap_or("");
                format!("{ROOT}model-registry/{}", enc(group))
            }
            _ => continue,
        };
        return Some(url);
    }
    None
}

/// The class a node takes: its step's status, `not-started`, or `not-taken` for a step in a
/// branch its condition did not choose (or downstream of one).
fn node_class(
    d: &Definition,
    state: &ExecutionState,
    name: &str,
    seen: &mut BTreeSet<String>,
) -> String {
    if let Some(run) = state.step(name) {
        return status_class(run.status).into();
    }
    if !seen.insert(name.to_string()) {
        return "not-started".into();
    }
    if let Some((condition, branch)) = d.step(name).and_then(|s| s.branch_of.as_ref()) {
        let outcome = state
            .step(condition)
            .and_then(|c| c.metadata.pointer("/Condition/Outcome"))
            .and_then(Value::as_str);
        if let Some(o) = outcome
            && o.eq_ignore_ascii_case("true") != *branch
        {
            return "not-taken".into();
        }
    }
    if d.upstream(name)
        .iter()
        .any(|u| node_class(d, state, u, seen) == "not-taken")
    {
        return "not-taken".into();
    }
    "not-started".into()
}

fn status_class(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Starting | StepStatus::Executing | StepStatus::Stopping => "executing",
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Stopped => "stopped",
    }
}

fn fill(class: &str) -> &'static str {
    match class {
        "executing" => "#cfe2ff",
        "succeeded" => "#dafbe1",
        "failed" => "#ffebe9",
        "stopped" => "#fff8c5",
        "not-taken" => "#f2f2f2",
        _ => "#ffffff",
    }
}

/// Each step's depth: 0 for a step that waits on none, else one more than its deepest upstream.
fn depths(d: &Definition) -> BTreeMap<String, usize> {
    fn depth(
        d: &Definition,
        name: &str,
        memo: &mut BTreeMap<String, usize>,
        guard: usize,
    ) -> usize {
        if let Some(v) = memo.get(name) {
            return *v;
        }
        // The definition's graph is checked acyclic; the guard keeps a bad one finite.
        let v = if guard > d.steps.len() {
            0
        } else {
            d.upstream(name)
                .iter()
                .filter(|u| d.step(u).is_some())
                .map(|u| depth(d, u, memo, guard + 1) + 1)
                .max()
                .unwrap_or(0)
        };
        memo.insert(name.to_string(), v);
        v
    }
    let mut memo = BTreeMap::new();
    for s in &d.steps {
        depth(d, &s.name, &mut memo, 0);
    }
    memo
}

/// The definition as an SVG graph: a row per dependency depth, an edge per upstream step.
fn graph(d: &Definition, state: &ExecutionState) -> String {
    const W: f64 = 180.0;
    const H: f64 = 44.0;
    const GAP_X: f64 = 24.0;
    const GAP_Y: f64 = 48.0;
    let depth = depths(d);
    let mut layers: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for s in &d.steps {
        layers
            .entry(depth.get(&s.name).copied().unwrap_or(0))
            .or_default()
            .push(&s.name);
    }
    let widest = layers.values().map(Vec::len).max().unwrap_or(1).max(1) as f64;
    let width = widest * (W + GAP_X) + GAP_X;
    let height = layers.len().max(1) as f64 * (H + GAP_Y) + GAP_Y / 2.0;
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (row, names) in layers.values().enumerate() {
        let offset = (width - names.len() as f64 * (W + GAP_X) + GAP_X) / 2.0;
        for (i, n) in names.iter().enumerate() {
            let x = offset + i as f64 * (W + GAP_X);
            let y = GAP_Y / 2.0 + row as f64 * (H + GAP_Y);
            pos.insert(n, (x, y));
        }
    }
    let mut edges = String::new();
    for s in &d.steps {
        let Some(&(x, y)) = pos.get(s.name.as_str()) else {
            continue;
        };
        for u in d.upstream(&s.name) {
            if let Some(&(ux, uy)) = pos.get(u.as_str()) {
                put!(
                    edges,
                    "<line class=\"edge\" data-from=\"{}\" data-to=\"{}\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#8c959f\" marker-end=\"url(#arrow)\"/>",
                    esc(&u),
                    esc(&s.name),
                    ux + W / 2.0,
                    uy + H,
                    x + W / 2.0,
                    y
                );
            }
        }
    }
    let mut nodes = String::new();
    for s in &d.steps {
        let Some(&(x, y)) = pos.get(s.name.as_str()) else {
            continue;
        };
        let class = node_class(d, state, &s.name, &mut BTreeSet::new());
        let run = state.step(&s.name);
        let status = run.map(|r| r.status.as_str()).unwrap_or("");
        let label = s.display_name.as_deref().unwrap_or(&s.name);
        // A node holds about 24 characters; its title shows the whole label.
        let short: String = if label.chars().count() > 24 {
            label.chars().take(23).chain(['…']).collect()
        } else {
            label.to_string()
        };
        let dashed = if class == "not-taken" {
            " stroke-dasharray=\"4 3\" opacity=\"0.6\""
        } else {
            ""
        };
        let node = format!(
            "<g class=\"node {class}\" data-step=\"{n}\" data-status=\"{status}\"><title>{full} ({k}){st}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{W}\" height=\"{H}\" rx=\"6\" fill=\"{f}\" stroke=\"#57606a\"{dashed}/><text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" font-size=\"13\">{l}</text><text x=\"{tx:.1}\" y=\"{sy:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#57606a\">{k}</text></g>",
            n = esc(&s.name),
            k = esc(&s.kind),
            st = if status.is_empty() {
                String::new()
            } else {
                format!(": {status}")
            },
            f = fill(&class),
            tx = x + W / 2.0,
            ty = y + 19.0,
            sy = y + 35.0,
            full = esc(label),
            l = esc(&short),
        );
        match run.and_then(|r| resource_link(&r.metadata)) {
            Some(url) => put!(nodes, "<a href=\"{}\">{node}</a>", esc(&url)),
            None => nodes.push_str(&node),
        }
    }
    format!(
        "<figure id=\"graph\"><svg class=\"dag\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"Pipeline graph\"><defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#8c959f\"/></marker></defs>{edges}{nodes}</svg><figcaption>Not started: white; executing: blue; succeeded: green; failed: red; stopped: yellow; in a branch not taken: grey, dashed.</figcaption></figure>"
    )
}

/// ListPipelineExecutionSteps as a table, in the order the steps started.
fn steps_table(steps: &[StepRun]) -> String {
    let mut ordered: Vec<&StepRun> = steps.iter().collect();
    ordered.sort_by(|a, b| {
        a.start
            .unwrap_or(f64::MAX)
            .total_cmp(&b.start.unwrap_or(f64::MAX))
    });
    let mut t = String::from(
        "<table id=\"steps\"><thead><tr><th>Step</th><th>Type</th><th>Status</th><th>Started</th><th>Ended</th><th>Failure reason</th><th>Cache hit</th><th>Callback token</th><th>Resource</th></tr></thead><tbody>",
    );
    for s in ordered {
        let link = resource_link(&s.metadata)
            .map(|u| format!("<a href=\"{}\">open</a>", esc(&u)))
            .unwrap_or_default();
        put!(
            t,
            "<tr data-step=\"{n}\"><td>{n}</td><td>{}</td><td class=\"status\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{link}</td></tr>",
            esc(&s.kind),
            status_badge(s.status.as_str()),
            at(s.start),
            at(s.end),
            esc(s.failure_reason.as_deref().unwrap_or("")),
            esc(s.cache_source.as_deref().unwrap_or("")),
            esc(s.callback_token.as_deref().unwrap_or("")),
            n = esc(&s.name)
        );
    }
    t.push_str("</tbody></table>");
    t
}
