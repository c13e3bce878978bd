//! Studio: domains, and a domain's user profiles, spaces and apps. An InService JupyterLab (or
//! JupyterServer) app has "Open", a presigned domain URL made on the spot (the path
//! CreatePresignedDomainUrl gives clients, with a LandingUri naming the app's type), and every
//! live app has "Delete app" (a POST, like DeleteApp: a Jupyter app's container stops).

use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    ROOT, enc, error_page, esc, form, member_str, not_found, page, see_other, status_badge, when,
};
use crate::AppState;
use crate::service::described::Listed;
use crate::service::{Request as ServiceRequest, Services};

const SECTION: &str = "domains";
/// The app types that run as Jupyter and so can be opened.
const OPENABLE: [&str; 2] = ["JupyterLab", "JupyterServer"];

fn created(item: &Listed) -> String {
    when(Some(&json!(item.record.created)))
}

pub async fn list(State(state): State<AppState>) -> Response {
    let domains = state
        .services
        .stored_every("Domain")
        .await
        .unwrap_or_default();
    if domains.is_empty() {
        return page(
            "Studio domains",
            SECTION,
            "<p class=\"empty\">No Studio domains yet (CreateDomain makes one).</p><table id=\"list\"></table>",
        );
    }
    let mut t = String::from(
        "<table id=\"list\"><thead><tr><th>Name</th><th>Domain ID</th><th>Status</th><th>URL</th><th>Created</th></tr></thead><tbody>",
    );
    for d in &domains {
        let id = member_str(&d.record, "DomainId");
        put!(
            t,
            "<tr data-name=\"{n}\" data-id=\"{i}\"><td><a href=\"{ROOT}{SECTION}/{u}\">{n}</a></td><td class=\"id\"><code>{i}</code></td><td class=\"status\">{}</td><td class=\"url\"><code>{}</code></td><td>{}</td></tr>",
            esc(d.status.as_deref().unwrap_or("")),
            esc(member_str(&d.record, "Url")),
            created(d),
            n = esc(&d.record.name),
            i = esc(id),
            u = enc(id)
        );
    }
    t.push_str("</tbody></table>");
    page("Studio domains", SECTION, &t)
}

/// The stored resources of family `name` in domain `id`.
async fn in_domain(s: &Services, name: &str, id: &str) -> Vec<Listed> {
    let mut items = s.stored_every(name).await.unwrap_or_default();
    items.retain(|i| member_str(&i.record, "DomainId") == id);
    items
}

pub async fn detail(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let s = &state.services;
    let Ok(domain) = s.stored_one("Domain", &[("DomainId", &id)]).await else {
        return not_found(SECTION, &format!("No Studio domain with ID {id}."));
    };
    let id = member_str(&domain.record, "DomainId").to_string();
    let status = domain.status.as_deref().unwrap_or("");
    let mut body = format!(
        "<p>{}</p><dl id=\"details\"><dt>Name</dt><dd>{}</dd><dt>Domain ID</dt><dd>{}</dd><dt>Status</dt><dd class=\"status\">{}</dd><dt>URL</dt><dd><code>{}</code></dd><dt>Auth mode</dt><dd>{}</dd><dt>ARN</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd></dl>",
        status_badge(status),
        esc(&domain.record.name),
        esc(&id),
        esc(status),
        esc(member_str(&domain.record, "Url")),
        esc(member_str(&domain.record, "AuthMode")),
        esc(&domain.record.arn),
        created(&domain)
    );
    body.push_str(&profiles_table(&in_domain(s, "UserProfile", &id).await));
    body.push_str(&spaces_table(&in_domain(s, "Space", &id).await));
    body.push_str(&apps_table(&id, &in_domain(s, "App", &id).await));
    page(&domain.record.name, SECTION, &body)
}

fn profiles_table(profiles: &[Listed]) -> String {
    let mut t = String::from("<h2>User profiles</h2>");
    if profiles.is_empty() {
        t.push_str("<p class=\"empty\" id=\"no-user-profiles\">No user profiles yet.</p>");
        return t;
    }
    t.push_str("<table id=\"user-profiles\"><thead><tr><th>Name</th><th>Status</th><th>Created</th></tr></thead><tbody>");
    for p in profiles {
        put!(
            t,
            "<tr data-name=\"{n}\"><td>{n}</td><td class=\"status\">{}</td><td>{}</td></tr>",
            esc(p.status.as_deref().unwrap_or("")),
            created(p),
            n = esc(&p.record.name)
        );
    }
    t.push_str("</tbody></table>");
    t
}

fn spaces_table(spaces: &[Listed]) -> String {
    let mut t = String::from("<h2>Spaces</h2>");
    if spaces.is_empty() {
        t.push_str("<p class=\"empty\" id=\"no-spaces\">No spaces yet.</p>");
        return t;
    }
    t.push_str("<table id=\"spaces\"><thead><tr><th>Name</th><th>Owner</th><th>Status</th><th>Created</th></tr></thead><tbody>");
    for sp in spaces {
        let owner = sp
            .record
            .request
            .pointer("/OwnershipSettings/OwnerUserProfileName")
            .and_then(Value::as_str)
            .unwrap_or("");
        put!(
            t,
            "<tr data-name=\"{n}\"><td>{n}</td><td>{}</td><td class=\"status\">{}</td><td>{}</td></tr>",
            esc(owner),
            esc(sp.status.as_deref().unwrap_or("")),
            created(sp),
            n = esc(&sp.record.name)
        );
    }
    t.push_str("</tbody></table>");
    t
}

/// An app's name (the family lists apps under their user profile's name).
fn app_name(app: &Listed) -> &str {
    member_str(&app.record, "AppName")
}

/// Whose an app is: ("user", profile) or ("space", space).
fn owner_of(app: &Listed) -> (&'static str, &str) {
    match member_str(&app.record, "SpaceName") {
        "" => ("user", member_str(&app.record, "UserProfileName")),
        space => ("space", space),
    }
}

/// An app's console path: `domains/<id>/apps/<user|space>/<owner>/<type>/<name>`.
fn app_path(domain: &str, app: &Listed) -> String {
    let (kind, owner) = owner_of(app);
    format!(
        "{ROOT}{SECTION}/{}/apps/{kind}/{}/{}/{}",
        enc(domain),
        enc(owner),
        enc(member_str(&app.record, "AppType")),
        enc(app_name(app))
    )
}

/// The domain's apps, but those already Deleted (SageMaker lists them for a while; here they
/// are counted under the table).
fn apps_table(domain: &str, apps: &[Listed]) -> String {
    let mut t = String::from("<h2>Apps</h2>");
    let live: Vec<&Listed> = apps
        .iter()
        .filter(|a| a.status.as_deref() != Some("Deleted"))
        .collect();
    let deleted = apps.len() - live.len();
    if live.is_empty() {
        t.push_str("<p class=\"empty\" id=\"no-apps\">No apps running (CreateApp starts one).</p>");
    } else {
        t.push_str("<table id=\"apps\"><thead><tr><th>Type</th><th>Name</th><th>Owner</th><th>Status</th><th>Created</th><th>Actions</th></tr></thead><tbody>");
        for a in live {
            t.push_str(&app_row(domain, a));
        }
        t.push_str("</tbody></table>");
    }
    if deleted > 0 {
        put!(
            t,
            "<p class=\"note\" id=\"deleted-apps\">{deleted} deleted app{} not shown.</p>",
            if deleted == 1 { "" } else { "s" }
        );
    }
    t
}

fn app_row(domain: &str, a: &Listed) -> String {
    let app_type = member_str(&a.record, "AppType");
    let (kind, owner) = owner_of(a);
    let status = a.status.as_deref().unwrap_or("");
    let path = app_path(domain, a);
    let mut actions = String::new();
    if status == "InService" && OPENABLE.contains(&app_type) {
        put!(
            actions,
            "<a class=\"open-app button\" href=\"{path}/open\" target=\"_blank\" rel=\"noopener\">Open</a>"
        );
    }
    if status != "Deleting" {
        put!(
            actions,
            "<form method=\"post\" action=\"{path}/delete\" data-confirm=\"Delete app {n}? Its container stops; the home volume is kept.\"><button class=\"delete\" type=\"submit\">Delete app</button></form>",
            n = esc(app_name(a))
        );
    }
    let reason = member_str(&a.record, "FailureReason");
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!("<div class=\"error reason\">{}</div>", esc(reason))
    };
    format!(
        "<tr data-app=\"{key}\" data-name=\"{n}\"><td class=\"type\">{t}</td><td class=\"name\">{n}</td><td class=\"owner\">{o}</td><td class=\"status\">{st}{reason}</td><td>{c}</td><td class=\"actions\">{actions}</td></tr>",
        key = esc(&format!("{kind}/{owner}/{app_type}/{}", app_name(a))),
        t = esc(app_type),
        n = esc(app_name(a)),
        o = esc(&format!("{kind} {owner}")),
        st = esc(status),
        c = created(a)
    )
}

/// What names one app in the Describe/Delete requests, from its console path.
fn app_request(
    domain: &str,
    kind: &str,
    owner: &str,
    app_type: &str,
    name: &str,
) -> ServiceRequest {
    let mut req = ServiceRequest::new();
    req.insert("DomainId".into(), json!(domain));
    let member = if kind == "space" {
        "SpaceName"
    } else {
        "UserProfileName"
    };
    req.insert(member.into(), json!(owner));
    req.insert("AppType".into(), json!(app_type));
    req.insert("AppName".into(), json!(name));
    req
}

type AppPath = Path<(String, String, String, String, String, String)>;

fn known_owner_kind(kind: &str) -> bool {
    kind == "user" || kind == "space"
}

/// "Open": a presigned domain URL for the app's user profile (a space's owner, for a space's
/// app), landing on the app's type, followed at once.
pub async fn open(
    State(state): State<AppState>,
    Path((domain, kind, owner, app_type, name, action)): AppPath,
) -> Response {
    if action != "open" || !known_owner_kind(&kind) {
        return not_found(SECTION, "No such page.");
    }
    let s = &state.services;
    let req = app_request(&domain, &kind, &owner, &app_type, &name);
    let ids: Vec<(&str, &str)> = req
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    let Ok(app) = s.stored_one("App", &ids).await else {
        return not_found(SECTION, &format!("No {app_type} app named {name}."));
    };
    if app.status.as_deref() != Some("InService") || !OPENABLE.contains(&app_type.as_str()) {
        return error_page(
            SECTION,
            &format!(
                "The {app_type} app {name} is {}; only an InService JupyterLab or JupyterServer app opens.",
                app.status.as_deref().unwrap_or("not running")
            ),
        );
    }
    let user = if kind == "space" {
        match space_user(s, &domain, &owner).await {
            Some(u) => u,
            None => {
                return error_page(
                    SECTION,
                    "The space has no owner and the domain no user profile to open it as.",
                );
            }
        }
    } else {
        owner.clone()
    };
    let mut presign = ServiceRequest::new();
    presign.insert("DomainId".into(), json!(domain));
    presign.insert("UserProfileName".into(), json!(user));
    if kind == "space" {
        presign.insert("SpaceName".into(), json!(owner));
    }
    presign.insert("LandingUri".into(), json!(format!("app:{app_type}:")));
    match s.create_presigned_domain_url(&presign).await {
        Ok(url) => see_other(&url),
        Err(e) => error_page(SECTION, &e.to_string()),
    }
}

/// Whom a space's app opens as: the space's owner, else the domain's first user profile.
async fn space_user(s: &Services, domain: &str, space: &str) -> Option<String> {
    let sp = s
        .stored_one("Space", &[("DomainId", domain), ("SpaceName", space)])
        .await
        .ok()?;
    if let Some(owner) = sp
        .record
        .request
        .pointer("/OwnershipSettings/OwnerUserProfileName")
        .and_then(Value::as_str)
    {
        return Some(owner.to_string());
    }
    let profiles = in_domain(s, "UserProfile", domain).await;
    profiles.last().map(|p| p.record.name.clone())
}

/// "Delete app": DeleteApp's service method, then back to the domain's page.
pub async fn delete(
    State(state): State<AppState>,
    Path((domain, kind, owner, app_type, name, action)): AppPath,
    req: Request,
) -> Response {
    if let Err(r) = form(req).await {
        return *r;
    }
    if action != "delete" || !known_owner_kind(&kind) {
        return not_found(SECTION, "No such action.");
    }
    let request = app_request(&domain, &kind, &owner, &app_type, &name);
    match state.services.delete_studio_app(&request).await {
        Ok(()) => see_other(&format!("{ROOT}{SECTION}/{}", enc(&domain))),
        Err(e) => error_page(SECTION, &e.to_string()),
    }
}
