//! Feature Store: the feature groups, and a group's feature definitions, its offline store's S3
//! location (linked to the S3 browser) and a "Get record" form: a record identifier value in,
//! the online record's features out (GetRecord's service method; a read, so the form is a GET).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{ROOT, enc, esc, not_found, page, status_badge, when};
use crate::AppState;
use crate::aws::model::typed::sagemaker_featurestore_runtime::GetRecordRequest;
use crate::service::Services;
use crate::service::featurestore::group::Group;

const SECTION: &str = "feature-groups";

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

pub async fn list(State(state): State<AppState>) -> Response {
    let groups = state.services.feature_groups().await.unwrap_or_default();
    if groups.is_empty() {
        return page(
            "Feature groups",
            SECTION,
            "<p class=\"empty\">No feature groups yet (CreateFeatureGroup makes one).</p><table id=\"list\"></table>",
        );
    }
    let mut t = String::from(
        "<table id=\"list\"><thead><tr><th>Name</th><th>Status</th><th>Record identifier</th><th>Event time feature</th><th>Online</th><th>Offline</th><th>Created</th></tr></thead><tbody>",
    );
    for g in &groups {
        put!(
            t,
            "<tr data-name=\"{n}\"><td><a href=\"{ROOT}{SECTION}/{u}\">{n}</a></td><td class=\"status\">{}</td><td class=\"record-identifier\">{}</td><td class=\"event-time\">{}</td><td class=\"online\">{}</td><td class=\"offline\">{}</td><td>{}</td></tr>",
            esc(g.status.as_deref().unwrap_or("")),
            esc(&g.record_identifier),
            esc(&g.event_time),
            yes_no(g.online),
            yes_no(g.offline.is_some()),
            when(Some(&json!(g.created))),
            n = esc(&g.name),
            u = enc(&g.name)
        );
    }
    t.push_str("</tbody></table>");
    page("Feature groups", SECTION, &t)
}

/// The offline store's location, linked to the S3 browser at that prefix.
fn offline_html(g: &Group) -> String {
    match &g.offline {
        Some((bucket, prefix)) => format!(
            "<a id=\"offline-store\" href=\"{ROOT}s3/{}?prefix={}\">{}</a>",
            enc(bucket),
            enc(&format!("{prefix}/")),
            esc(&format!("s3://{bucket}/{prefix}"))
        ),
        None => "<span class=\"empty\" id=\"offline-store\">none</span>".into(),
    }
}

pub async fn detail(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = &state.services;
    let Ok(g) = s.feature_group_named(&name).await else {
        return not_found(SECTION, &format!("No feature group named {name}."));
    };
    let status = g.status.as_deref().unwrap_or("");
    let mut body = format!(
        "<p>{}</p><dl id=\"details\"><dt>Status</dt><dd class=\"status\">{}</dd><dt>Record identifier</dt><dd class=\"record-identifier\">{}</dd><dt>Event time feature</dt><dd class=\"event-time\">{}</dd><dt>Online store</dt><dd class=\"online\">{}</dd><dt>Offline store</dt><dd>{}</dd><dt>ARN</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd></dl>",
        status_badge(status),
        esc(status),
        esc(&g.record_identifier),
        esc(&g.event_time),
        yes_no(g.online),
        offline_html(&g),
        esc(&g.arn),
        when(Some(&json!(g.created)))
    );
    body.push_str("<h2>Feature definitions</h2><table id=\"features\"><thead><tr><th>Name</th><th>Type</th><th>Collection</th></tr></thead><tbody>");
    for f in &g.features {
        put!(
            body,
            "<tr data-name=\"{n}\"><td class=\"name\">{n}</td><td class=\"type\">{}</td><td class=\"collection\">{}</td></tr>",
            esc(f.kind.as_str()),
            esc(f.collection.as_ref().map(|c| c.as_str()).unwrap_or("")),
            n = esc(&f.name)
        );
    }
    body.push_str("</tbody></table>");
    let wanted = q.get("record").filter(|v| !v.is_empty());
    put!(
        body,
        "<form id=\"get-record\" method=\"get\" action=\"{ROOT}{SECTION}/{}\" class=\"panel\"><h2>Get record</h2><label>{} <input id=\"field-record\" name=\"record\" required value=\"{}\"></label><button id=\"get-record-submit\" type=\"submit\">Get record</button></form>",
        enc(&g.name),
        esc(&g.record_identifier),
        esc(wanted.map(String::as_str).unwrap_or(""))
    );
    if let Some(id) = wanted {
        body.push_str(&record_html(s, &g, id).await);
    }
    page(&g.name, SECTION, &body)
}

/// The online record of `id`, or why there is none.
async fn record_html(s: &Services, g: &Group, id: &str) -> String {
    let req = GetRecordRequest {
        feature_group_name: Some(g.name.clone()),
        record_identifier_value_as_string: Some(id.to_string()),
        ..Default::default()
    };
    let found = match s.get_record(req).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return format!(
                "<section id=\"record\"><p class=\"empty\" id=\"no-record\">No record with {} {} in the online store.</p></section>",
                esc(&g.record_identifier),
                esc(id)
            );
        }
        Err(e) => {
            return format!(
                "<section id=\"record\"><p class=\"error\" id=\"record-error\">{}</p></section>",
                esc(&e.to_string())
            );
        }
    };
    let mut t = format!(
        "<section id=\"record\"><h2>Record {}</h2><table id=\"record-features\"><thead><tr><th>Feature</th><th>Value</th></tr></thead><tbody>",
        esc(id)
    );
    for v in &found.record {
        let value = match (&v.value_as_string, &v.value_as_string_list) {
            (Some(text), _) => text.clone(),
            (None, Some(list)) => serde_json::to_string(list).unwrap_or_default(),
            (None, None) => String::new(),
        };
        put!(
            t,
            "<tr data-name=\"{n}\"><td class=\"name\">{n}</td><td class=\"value\">{}</td></tr>",
            esc(&value),
            n = esc(v.feature_name.as_deref().unwrap_or(""))
        );
    }
    t.push_str("</tbody></table>");
    if let Some(at) = found.expires_at {
        put!(
            t,
            "<p class=\"note\" id=\"record-expires\">Expires {}</p>",
            when(Some(&json!(at)))
        );
    }
    t.push_str("</section>");
    t
}
