//! Notebook instance lifecycle configurations: list, create, edit, delete. The scripts are typed
//! as text (the API takes each base64-encoded in a one-element `[{Content}]` list: the form does
//! the encoding) and every change goes through the SageMaker API's own entry point, so a bad name
//! or an over-long script gets AWS's message next to its field and nothing is created.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::forms::{self, Field, Form, field, form_page};
use super::{ROOT, all, details, enc, error_page, esc, not_found, see_other, when};
use crate::AppState;
use crate::store::resources::ResourceKind;

const SECTION: &str = "lifecycle-configs";
const NAME: &str = "NotebookInstanceLifecycleConfigName";
const HOOKS: [(&str, &str); 2] = [
    (
        "OnCreate",
        "Runs once, as root, when the notebook instance is created (on its first start).",
    ),
    (
        "OnStart",
        "Runs as root on every start of the notebook instance, the first one included.",
    ),
];
const FIELDS: &[Field] = &[
    field(NAME, "notebookInstanceLifecycleConfigName"),
    field("OnCreate", "onCreate"),
    field("OnStart", "onStart"),
];

/// A script as the API takes it: `[{"Content": base64}]`, or None when the textarea is empty.
/// Browsers send a textarea's line breaks as CRLF; shell scripts need LF.
fn hook(script: &str) -> Option<Value> {
    let script = script.replace("\r\n", "\n");
    if script.trim().is_empty() {
        return None;
    }
    Some(json!([{ "Content": STANDARD.encode(script.as_bytes()) }]))
}

/// The script in a described hook list, decoded (empty when there is none).
fn script(described: &Value, member: &str) -> String {
    described
        .get(member)
        .and_then(|l| l.get(0))
        .and_then(|h| h.get("Content"))
        .and_then(Value::as_str)
        .and_then(|c| STANDARD.decode(c.trim()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The members of a Create/Update request from the form.
fn members(name: &str, f: &Form) -> Value {
    let mut m = Map::new();
    m.insert(NAME.into(), json!(name));
    for (hook_name, _) in HOOKS {
        if let Some(h) = hook(f.value(hook_name)) {
            m.insert(hook_name.into(), h);
        }
    }
    Value::Object(m)
}

fn script_fields(f: &Form) -> String {
    let mut out = String::new();
    for (name, help) in HOOKS {
        put!(
            out,
            "{}<p class=\"help\">{}</p>",
            f.textarea(
                &format!("{name} script"),
                name,
                "class=\"script\" rows=\"10\" spellcheck=\"false\" placeholder=\"#!/bin/bash\""
            ),
            esc(help)
        );
    }
    out
}

async fn list_page(state: &AppState, f: &Form) -> Response {
    let items = all(&state.services, ResourceKind::NotebookLifecycleConfig).await;
    let mut t = String::new();
    if items.is_empty() {
        t.push_str(
            "<p class=\"empty\">No lifecycle configurations yet.</p><table id=\"list\"></table>",
        );
    } else {
        t.push_str("<table id=\"list\"><thead><tr><th>Name</th><th>Created</th><th>Last modified</th><th>Actions</th></tr></thead><tbody>");
        for item in &items {
            let r = &item.record;
            let modified = r
                .derived
                .get("LastModifiedTime")
                .cloned()
                .unwrap_or_else(|| json!(r.modified));
            put!(
                t,
                "<tr data-name=\"{n}\"><td><a href=\"{ROOT}{SECTION}/{u}\">{n}</a></td><td>{}</td><td>{}</td><td class=\"actions\"><a class=\"edit button\" href=\"{ROOT}{SECTION}/{u}\">Edit</a> <a class=\"delete button\" href=\"{ROOT}{SECTION}/{u}/delete\">Delete</a></td></tr>",
                when(Some(&json!(r.created))),
                when(Some(&modified)),
                n = esc(&r.name),
                u = enc(&r.name)
            );
        }
        t.push_str("</tbody></table>");
    }
    let body = format!(
        "<p>Shell scripts a notebook instance runs when it is created and each time it starts. Choose one when you <a href=\"{ROOT}notebook-instances\">create a notebook instance</a>.</p>{t}\
<form id=\"create-lifecycle-config\" method=\"post\" action=\"{ROOT}{SECTION}\" class=\"panel\"><h2>Create lifecycle configuration</h2>{}{}{}\
<button id=\"create-submit\" type=\"submit\">Create configuration</button></form>",
        f.form_errors(),
        f.input(
            "Name",
            NAME,
            // no `pattern`: a name SageMaker refuses gets SageMaker's own words, next to the field
            "required maxlength=\"63\" autocomplete=\"off\""
        ),
        script_fields(f)
    );
    form_page("Lifecycle configurations", SECTION, f, &body)
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut values = HashMap::new();
    if let Some(n) = q.get("name") {
        values.insert(NAME.to_string(), n.clone());
    }
    list_page(&state, &Form::new(values)).await
}

pub async fn create(State(state): State<AppState>, req: Request) -> Response {
    let (_, values) = match super::form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut f = Form::new(values);
    let name = f.value(NAME).trim().to_string();
    match forms::sagemaker(
        &state.services,
        "CreateNotebookInstanceLifecycleConfig",
        members(&name, &f),
    )
    .await
    {
        Ok(_) => see_other(&format!("{ROOT}{SECTION}/{}", enc(&name))),
        Err(e) => {
            f.problems = forms::problems(&e, FIELDS);
            list_page(&state, &f).await
        }
    }
}

async fn describe(state: &AppState, name: &str) -> Option<Value> {
    forms::sagemaker(
        &state.services,
        "DescribeNotebookInstanceLifecycleConfig",
        json!({ NAME: name }),
    )
    .await
    .ok()
}

/// The notebook instances that name configuration `name`.
async fn used_by(state: &AppState, name: &str) -> Vec<String> {
    all(&state.services, ResourceKind::NotebookInstance)
        .await
        .into_iter()
        .filter(|nb| {
            [&nb.record.derived, &nb.record.request].iter().any(|v| {
                v.get("NotebookInstanceLifecycleConfigName")
                    .or_else(|| v.get("LifecycleConfigName"))
                    .and_then(Value::as_str)
                    == Some(name)
            })
        })
        .map(|nb| nb.record.name)
        .collect()
}

async fn detail_page(state: &AppState, name: &str, described: &Value, f: &Form) -> Response {
    let mut shown = Map::new();
    for m in [
        "NotebookInstanceLifecycleConfigName",
        "NotebookInstanceLifecycleConfigArn",
        "CreationTime",
        "LastModifiedTime",
    ] {
        if let Some(v) = described.get(m) {
            shown.insert(m.into(), v.clone());
        }
    }
    let users = used_by(state, name).await;
    let mut used = String::from("<section id=\"used-by\"><h2>Notebook instances using it</h2>");
    if users.is_empty() {
        used.push_str("<p class=\"empty\">None.</p>");
    } else {
        used.push_str("<ul>");
        for u in users {
            put!(
                used,
                "<li><a href=\"{ROOT}notebook-instances/{}\">{}</a></li>",
                enc(&u),
                esc(&u)
            );
        }
        used.push_str("</ul>");
    }
    used.push_str("</section>");
    let u = enc(name);
    let body = format!(
        "<p class=\"crumbs\"><a href=\"{ROOT}{SECTION}\">Lifecycle configurations</a> / {n}</p>{}\
<form id=\"update-lifecycle-config\" method=\"post\" action=\"{ROOT}{SECTION}/{u}\" class=\"panel\"><h2>Scripts</h2>{}{}\
<p class=\"help\">Saving replaces both scripts; an empty box removes its script. Running instances use the new scripts from their next start.</p>\
<button id=\"update-submit\" type=\"submit\">Save changes</button></form>{used}\
<p><a id=\"delete-lifecycle-config\" class=\"button delete\" href=\"{ROOT}{SECTION}/{u}/delete\">Delete configuration</a></p>",
        details(&shown),
        f.form_errors(),
        script_fields(f),
        n = esc(name)
    );
    form_page(name, SECTION, f, &body)
}

pub async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(d) = describe(&state, &name).await else {
        return not_found(
            SECTION,
            &format!("No notebook instance lifecycle configuration named {name}."),
        );
    };
    let mut values = HashMap::new();
    for (hook_name, _) in HOOKS {
        values.insert(hook_name.to_string(), script(&d, hook_name));
    }
    detail_page(&state, &name, &d, &Form::new(values)).await
}

pub async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let (_, values) = match super::form(req).await {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let mut f = Form::new(values);
    match forms::sagemaker(
        &state.services,
        "UpdateNotebookInstanceLifecycleConfig",
        members(&name, &f),
    )
    .await
    {
        Ok(_) => see_other(&format!("{ROOT}{SECTION}/{}", enc(&name))),
        Err(e) => {
            f.problems = forms::problems(&e, FIELDS);
            match describe(&state, &name).await {
                Some(d) => detail_page(&state, &name, &d, &f).await,
                None => error_page(SECTION, &format!("{}: {}", e.code, e.message)),
            }
        }
    }
}

pub async fn confirm_delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if describe(&state, &name).await.is_none() {
        return not_found(
            SECTION,
            &format!("No notebook instance lifecycle configuration named {name}."),
        );
    }
    let u = enc(&name);
    forms::confirm_delete(
        SECTION,
        "lifecycle configuration",
        &name,
        &format!("{ROOT}{SECTION}/{u}/delete"),
        &format!("{ROOT}{SECTION}/{u}"),
    )
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    if let Err(r) = super::form(req).await {
        return *r;
    }
    match forms::sagemaker(
        &state.services,
        "DeleteNotebookInstanceLifecycleConfig",
        json!({ NAME: name }),
    )
    .await
    {
        Ok(_) => see_other(&format!("{ROOT}{SECTION}")),
        Err(e) => error_page(SECTION, &format!("{}: {}", e.code, e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_go_out_base64_with_unix_line_ends_and_come_back_as_text() {
        let h = hook("#!/bin/bash\r\necho hi\r\n").expect("a script");
        assert_eq!(
            h,
            json!([{ "Content": STANDARD.encode("#!/bin/bash\necho hi\n") }])
        );
        assert_eq!(hook("  \r\n"), None);
        let described = json!({ "OnStart": h });
        assert_eq!(script(&described, "OnStart"), "#!/bin/bash\necho hi\n");
        assert_eq!(script(&described, "OnCreate"), "");
    }

    #[test]
    fn an_empty_box_leaves_its_hook_out() {
        let f = Form::new(HashMap::from([
            ("OnCreate".to_string(), "".to_string()),
            ("OnStart".to_string(), "echo x".to_string()),
        ]));
        let m = members("cfg", &f);
        assert_eq!(m[NAME], "cfg");
        assert!(m.get("OnCreate").is_none());
        assert!(m.get("OnStart").is_some());
    }
}
