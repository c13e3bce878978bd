//! The model registry: model package groups, and a group's versions with their approval, image
//! and model data; Approve and Reject buttons change a version's approval through
//! UpdateModelPackage's service method.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{
    ROOT, all, enc, error_page, esc, form, not_found, page, resource_table, see_other,
    status_badge, when,
};
use crate::AppState;
use crate::service::registry::{ModelPackage, ModelPackageListParams};
use crate::store::resources::ResourceKind;

const SECTION: &str = "model-registry";

pub async fn groups(State(state): State<AppState>) -> Response {
    let items = all(&state.services, ResourceKind::ModelPackageGroup).await;
    page(
        "Model registry",
        SECTION,
        &resource_table(SECTION, &items, false),
    )
}

/// A string inside member `member` of what DescribeModelPackage shows (`pointer` "" for itself).
fn text<'a>(p: &'a ModelPackage, member: &str, pointer: &str) -> &'a str {
    p.member(member)
        .and_then(|v| v.pointer(pointer))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub async fn group(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let s = &state.services;
    let Ok(g) = s.describe_model_package_group(&name).await else {
        return not_found(SECTION, &format!("No model package group named {name}."));
    };
    let params = ModelPackageListParams {
        group: Some(g.record.name.clone()),
        approval: None,
        package_type: None,
        name_contains: None,
        created_after: None,
        created_before: None,
        by_name: false,
        descending: true,
        limit: 10_000,
        next_token: None,
    };
    let versions = match s.list_model_packages(params).await {
        Ok(p) => p.items,
        Err(e) => return error_page(SECTION, &e.to_string()),
    };
    let mut body = String::new();
    if let Some(d) = g
        .record
        .request
        .get("ModelPackageGroupDescription")
        .and_then(Value::as_str)
    {
        put!(body, "<p class=\"description\">{}</p>", esc(d));
    }
    body.push_str("<h2>Versions</h2>");
    if versions.is_empty() {
        body.push_str("<p class=\"empty\">No versions yet.</p>");
    }
    body.push_str("<table id=\"versions\"><thead><tr><th>Version</th><th>Status</th><th>Approval</th><th>Created</th><th>Image</th><th>Model data</th><th>Description</th><th></th></tr></thead><tbody>");
    for p in &versions {
        let version = p.version().unwrap_or_default();
        let approval = p.approval().map(|a| a.as_str()).unwrap_or("");
        let action = format!(
            "{ROOT}{SECTION}/{}/versions/{version}/approval",
            enc(&g.record.name)
        );
        let mut buttons = String::new();
        for (value, label) in [("Approved", "Approve"), ("Rejected", "Reject")] {
            if approval != value {
                put!(
                    buttons,
                    "<form method=\"post\" action=\"{action}\" class=\"inline\"><input type=\"hidden\" name=\"ModelApprovalStatus\" value=\"{value}\"><button type=\"submit\" class=\"{}\">{label}</button></form>",
                    label.to_ascii_lowercase()
                );
            }
        }
        put!(
            body,
            "<tr data-version=\"{version}\"><td>{version}</td><td>{}</td><td class=\"approval\">{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{buttons}</td></tr>",
            esc(&p.status),
            status_badge(approval),
            when(Some(&json!(p.record.created))),
            esc(text(p, "InferenceSpecification", "/Containers/0/Image")),
            esc(text(
                p,
                "InferenceSpecification",
                "/Containers/0/ModelDataUrl"
            )),
            esc(text(p, "ModelPackageDescription", "")),
        );
    }
    body.push_str("</tbody></table>");
    page(&g.record.name, SECTION, &body)
}

pub async fn approval(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
    req: Request,
) -> Response {
    let (_, f) = match form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let s = &state.services;
    let Ok(p) = s.describe_model_package(&format!("{name}/{version}")).await else {
        return not_found(SECTION, &format!("No version {version} in group {name}."));
    };
    let mut request = Map::new();
    request.insert("ModelPackageArn".into(), json!(p.record.arn));
    if let Some(v) = f.get("ModelApprovalStatus") {
        request.insert("ModelApprovalStatus".into(), json!(v));
    }
    // The same validation as the API: the botocore model's constraints, then the service's.
    if let Err(e) = crate::aws::model::sagemaker::MODEL
        .validate_named("UpdateModelPackage", &Value::Object(request.clone()))
    {
        return error_page(SECTION, &e);
    }
    let input = match crate::service::Input::decode(request) {
        Ok(input) => input,
        Err(e) => return error_page(SECTION, &e.to_string()),
    };
    let group = p.group().unwrap_or(&name).to_string();
    match s.update_model_package(input).await {
        Ok(_) => see_other(&format!("{ROOT}{SECTION}/{}", enc(&group))),
        Err(e) => error_page(SECTION, &e.to_string()),
    }
}
