//! Notebook instances: list with live status, create, start, stop, delete (with a confirmation
//! step), and "Open Jupyter" / "Open JupyterLab" (a presigned URL made on the spot).

use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{
    ROOT, all, details, enc, error_page, esc, form, not_found, page, see_other, status_badge, view,
};
use crate::AppState;
use crate::aws::model::typed::sagemaker::{
    CreatePresignedNotebookInstanceUrlInput, NotebookInstanceStatus as S,
};
use crate::service::notebooks::state::{Derived, parse_status};
use crate::store::resources::ResourceKind;

const SECTION: &str = "notebook-instances";
const TYPES: &[&str] = &[
    "ml.t3.medium",
    "ml.t3.large",
    "ml.t3.xlarge",
    "ml.t2.medium",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.c5.xlarge",
    "ml.g4dn.xlarge",
];

pub async fn list(State(state): State<AppState>) -> Response {
    let s = &state.services;
    let items = all(s, ResourceKind::NotebookInstance).await;
    let mut t = String::from(
        "<table id=\"list\" data-live=\"notebook-instances\"><thead><tr><th>Name</th><th>Status</th><th>Instance type</th><th>Actions</th></tr></thead><tbody>",
    );
    for item in &items {
        let r = &item.record;
        let status = parse_status(item.status.as_deref()).unwrap_or(S::Pending);
        let u = enc(&r.name);
        let mut actions = String::new();
        if status == S::InService {
            actions.push_str(&open_links(&r.name));
        }
        for (action, allowed) in [
            ("start", matches!(status, S::Stopped | S::Failed)),
            ("stop", status == S::InService),
            ("delete", matches!(status, S::Stopped | S::Failed)),
        ] {
            if allowed {
                let ask = if action == "delete" {
                    format!(
                        " data-confirm=\"Delete notebook instance {}? This cannot be undone.\"",
                        esc(&r.name)
                    )
                } else {
                    String::new()
                };
                put!(
                    actions,
                    "<form method=\"post\" action=\"{ROOT}{SECTION}/{u}/{action}\"{ask}><button class=\"{action}\" type=\"submit\">{}</button></form>",
                    capitalized(action)
                );
            }
        }
        put!(
            t,
            "<tr data-name=\"{n}\"><td><a href=\"{ROOT}{SECTION}/{u}\">{n}</a></td><td class=\"status\">{}</td><td>{}</td><td class=\"actions\">{actions}</td></tr>",
            status.as_str(),
            esc(&Derived::of(&r.name, &r.derived)
                .instance_type
                .unwrap_or_default()),
            n = esc(&r.name)
        );
    }
    t.push_str("</tbody></table>");
    if items.is_empty() {
        t.push_str("<p class=\"empty\">No notebook instances yet.</p>");
    }
    let mut types = String::new();
    for ty in TYPES {
        put!(types, "<option>{ty}</option>");
    }
    let mut configs = String::from("<option value=\"\"></option>");
    for c in all(s, ResourceKind::NotebookLifecycleConfig).await {
        put!(configs, "<option>{}</option>", esc(&c.record.name));
    }
    let role = format!("arn:aws:iam::{}:role/SageMakerRole", s.config().account_id);
    let create = format!(
        "<form id=\"create\" method=\"post\" action=\"{ROOT}{SECTION}\" class=\"panel\"><h2>Create notebook instance</h2>\
<label>Name <input name=\"NotebookInstanceName\" required pattern=\"[a-zA-Z0-9](-*[a-zA-Z0-9])*\" maxlength=\"63\"></label>\
<label>Instance type <select name=\"InstanceType\">{types}</select></label>\
<label>Lifecycle configuration <select name=\"LifecycleConfigName\">{configs}</select></label><p class=\"help\"><a id=\"lifecycle-configs-link\" href=\"{ROOT}lifecycle-configs\">Manage lifecycle configurations</a> (scripts run when an instance is created or starts)</p>\
<label>IAM role <input name=\"RoleArn\" value=\"{}\" required></label>\
<button id=\"create-submit\" type=\"submit\">Create</button></form>",
        esc(&role)
    );
    page("Notebook instances", SECTION, &format!("{t}{create}"))
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub async fn create(State(state): State<AppState>, req: Request) -> Response {
    let (_, f) = match form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut request = Map::new();
    for m in [
        "NotebookInstanceName",
        "InstanceType",
        "RoleArn",
        "LifecycleConfigName",
    ] {
        if let Some(v) = f.get(m).filter(|v| !v.is_empty()) {
            request.insert(m.into(), json!(v));
        }
    }
    // The same validation as the API: the botocore model's constraints, then the service's.
    if let Err(e) = crate::aws::model::sagemaker::MODEL
        .validate_named("CreateNotebookInstance", &Value::Object(request.clone()))
    {
        return error_page(SECTION, &e);
    }
    let input = match crate::service::Input::decode(request) {
        Ok(input) => input,
        Err(e) => return error_page(SECTION, &e.to_string()),
    };
    match state.services.create_notebook_instance(input).await {
        Ok(_) => see_other(&format!("{ROOT}{SECTION}")),
        Err(e) => error_page(SECTION, &e.to_string()),
    }
}

pub async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.services.describe_notebook_instance(&name).await {
        Ok(nb) => {
            let status = nb.status.unwrap_or(S::Pending);
            let d = view(&nb.record, Some(status.as_str()), "NotebookInstanceName");
            let u = enc(&name);
            let mut actions = String::new();
            if status == S::InService {
                actions.push_str(&open_links(&name));
            }
            if matches!(status, S::Stopped | S::Failed) {
                put!(
                    actions,
                    "<a id=\"delete-notebook-instance\" class=\"button delete\" href=\"{ROOT}{SECTION}/{u}/delete\">Delete</a>"
                );
            }
            let open = format!("<p class=\"actions\">{actions}</p>");
            page(
                &name,
                SECTION,
                &format!(
                    "<p>{}</p>{open}{}",
                    status_badge(status.as_str()),
                    details(&d)
                ),
            )
        }
        Err(_) => not_found(SECTION, &format!("No notebook instance named {name}.")),
    }
}

/// The "Open Jupyter" and "Open JupyterLab" links of an InService instance.
fn open_links(name: &str) -> String {
    let u = enc(name);
    format!(
        "<a class=\"open-jupyter button\" href=\"{ROOT}{SECTION}/{u}/open\" target=\"_blank\" rel=\"noopener\">Open Jupyter</a> <a class=\"open-jupyterlab button\" href=\"{ROOT}{SECTION}/{u}/lab\" target=\"_blank\" rel=\"noopener\">Open JupyterLab</a>"
    )
}

/// "Open Jupyter" (`open`) and "Open JupyterLab" (`lab`): a presigned URL, made on the spot and
/// followed at once. As in SageMaker's console, JupyterLab is the same URL with `&view=lab`:
/// exchanging the token then lands in `/lab` rather than the file browser at `/tree`. `delete`
/// is the confirmation step of a delete.
pub async fn open(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let view = match action.as_str() {
        "open" => "",
        "lab" => "&view=lab",
        "delete" => return confirm_delete(&state, &name).await,
        _ => return not_found(SECTION, "No such page."),
    };
    let req = CreatePresignedNotebookInstanceUrlInput {
        notebook_instance_name: Some(name),
        ..Default::default()
    };
    match state.services.create_presigned_notebook_url(&req).await {
        Ok(url) => see_other(&format!("{url}{view}")),
        Err(e) => error_page(SECTION, &e.to_string()),
    }
}

async fn confirm_delete(state: &AppState, name: &str) -> Response {
    if state
        .services
        .describe_notebook_instance(name)
        .await
        .is_err()
    {
        return not_found(SECTION, &format!("No notebook instance named {name}."));
    }
    let u = enc(name);
    super::forms::confirm_delete(
        SECTION,
        "notebook instance",
        name,
        &format!("{ROOT}{SECTION}/{u}/delete"),
        &format!("{ROOT}{SECTION}/{u}"),
    )
}

pub async fn act(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    if let Err(r) = form(req).await {
        return *r;
    }
    let s = &state.services;
    let done = match action.as_str() {
        "start" => s.start_notebook_instance(&name).await,
        "stop" => s.stop_notebook_instance(&name).await,
        "delete" => s.delete_notebook_instance(&name).await,
        _ => return not_found(SECTION, "No such action."),
    };
    match done {
        Ok(()) => see_other(&format!("{ROOT}{SECTION}")),
        Err(e) => error_page(SECTION, &e.to_string()),
    }
}
