//! SageMaker Studio apps run for real: a JupyterLab (or JupyterServer) app is a Jupyter
//! container from the same `jupyter` emulator image notebook instances use, wired to sagebox
//! the same way, with a persistent home volume per user profile (or space). Browsers reach it
//! through `api::studio` with a CreatePresignedDomainUrl token, exchanged for a session cookie.
//!
//! Domains, user profiles, spaces and apps stay rows of the stored-resource engine; this
//! module drives an app's status from its container instead of the engine's timer: Pending
//! until Jupyter answers, then InService; Failed with a FailureReason; Deleting → Deleted, the
//! row kept (as SageMaker shows deleted apps for a while), the container gone, the volume kept.

mod app;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Value, json};

use crate::aws::time::now_epoch;
use crate::service::notebooks::Server;
use crate::service::stored::catalog::{Family, catalog};
use crate::service::{Request, ServiceError, ServiceResult, Services};
use crate::store::stored::StoredRow;

/// The app types sagebox runs as a Jupyter container.
const JUPYTER_TYPES: [&str; 2] = ["JupyterLab", "JupyterServer"];

/// Where Studio is served; a domain's `Url` is this plus its id.
pub const PREFIX: &str = "/_sagebox/studio/";

/// Whose apps: a user profile or a space, as the path segment that names it (`user-<name>`,
/// `space-<name>`, lower-cased like the rest of the path).
pub fn owner_segment(user: Option<&str>, space: Option<&str>) -> String {
    match (space.filter(|s| !s.is_empty()), user) {
        (Some(s), _) => format!("space-{}", s.to_ascii_lowercase()),
        (None, u) => format!("user-{}", u.unwrap_or_default().to_ascii_lowercase()),
    }
}

/// The session a presigned domain URL opens: one domain's user profile or space.
pub fn session_subject(domain: &str, owner: &str) -> String {
    format!("studio/{}/{owner}", domain.to_ascii_lowercase())
}

/// An app's Jupyter base_url: `/_sagebox/studio/<domain>/<owner>/<type>/<name>/`.
pub fn app_base_path(domain: &str, owner: &str, app_type: &str, app_name: &str) -> String {
    format!(
        "{PREFIX}{}/{owner}/{}/{}/",
        domain.to_ascii_lowercase(),
        app_type.to_ascii_lowercase(),
        app_name.to_ascii_lowercase()
    )
}

/// An app's identity, read from its stored Create request.
#[derive(Debug, Clone)]
pub(crate) struct AppId {
    pub domain: String,
    pub owner: String,
    pub app_type: String,
    pub app_name: String,
}

impl AppId {
    fn of(row: &StoredRow) -> AppId {
        let get = |m: &str| row.request[m].as_str().unwrap_or_default().to_string();
        AppId {
            domain: get("DomainId"),
            owner: owner_segment(
                row.request["UserProfileName"].as_str(),
                row.request["SpaceName"].as_str(),
            ),
            app_type: get("AppType"),
            app_name: get("AppName"),
        }
    }

    pub fn base_path(&self) -> String {
        app_base_path(&self.domain, &self.owner, &self.app_type, &self.app_name)
    }

    /// The key of the in-memory server table (the base path names an app uniquely).
    fn key(&self) -> String {
        self.base_path()
    }
}

/// In-memory Studio state: the Jupyter servers the proxy may reach, one lock per app.
#[derive(Clone, Default)]
pub struct Studio {
    servers: Arc<RwLock<HashMap<String, Arc<Server>>>>,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Studio {
    fn set_server(&self, key: &str, server: Option<Arc<Server>>) {
        let mut map = self.servers.write().unwrap_or_else(|e| e.into_inner());
        match server {
            Some(s) => map.insert(key.to_string(), s),
            None => map.remove(key),
        };
    }

    fn lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }
}

fn app_family() -> &'static Family {
    catalog().family("App").expect("the model defines App")
}

fn app_type_of(req: &Request) -> &str {
    req.get("AppType")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Services {
    /// The running Jupyter server whose base path is `base` (lower-cased), if any.
    pub fn studio_server(&self, base: &str) -> Option<Arc<Server>> {
        self.studio
            .servers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(base)
            .cloned()
    }

    /// The base path of a running JupyterLab (else JupyterServer) app of `domain`'s `owner`;
    /// with `app_type` (a LandingUri's `app:<type>:`), of a running app of that type only.
    pub fn studio_landing(
        &self,
        domain: &str,
        owner: &str,
        app_type: Option<&str>,
    ) -> Option<String> {
        let servers = self
            .studio
            .servers
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let wanted = |t: &&&str| app_type.is_none_or(|w| w.eq_ignore_ascii_case(t));
        JUPYTER_TYPES.iter().filter(wanted).find_map(|t| {
            let prefix = format!(
                "{PREFIX}{}/{owner}/{}/",
                domain.to_ascii_lowercase(),
                t.to_ascii_lowercase()
            );
            let mut keys: Vec<&String> =
                servers.keys().filter(|k| k.starts_with(&prefix)).collect();
            keys.sort();
            keys.first().map(|k| k.to_string())
        })
    }

    /// Before CreateApp: an app of the same identity that was deleted makes room for the new
    /// one (SageMaker lets a deleted app's name be used again).
    pub async fn studio_before_create_app(&self, req: &Request) -> ServiceResult<()> {
        if let Ok(row) = self.stored_find(app_family(), req, "Describe").await
            && row.status.as_deref() == Some("Deleted")
        {
            self.store.stored_delete(&row.family, &row.key).await?;
        }
        Ok(())
    }

    /// After the stored engine made the App row: a Jupyter app starts its container (Pending
    /// until Jupyter answers); CodeEditor fails at once, as no emulator image offers it; other
    /// app types keep the engine's stored behaviour.
    pub async fn studio_after_create_app(&self, req: &Request) -> ServiceResult<()> {
        let app_type = app_type_of(req);
        let jupyter = JUPYTER_TYPES.contains(&app_type);
        if !jupyter && app_type != "CodeEditor" {
            return Ok(());
        }
        let mut row = self.stored_find(app_family(), req, "Describe").await?;
        row.next_status = None;
        row.next_at = None;
        row.modified = now_epoch();
        if jupyter {
            row.status = Some("Pending".into());
        } else {
            row.status = Some("Failed".into());
            row.derived["FailureReason"] = json!(
                "The CodeEditor image is not available in sagebox: its emulator images offer Jupyter only. Create an app with AppType JupyterLab (or JupyterServer) instead."
            );
        }
        self.store.stored_put(row.clone()).await?;
        if jupyter {
            let services = self.clone();
            tokio::spawn(async move { app::run_start(services, row.key).await });
        }
        Ok(())
    }

    /// DeleteApp of a Jupyter app: Deleting now, then the container goes and the app is
    /// Deleted (its row stays). Ok(false) for the app types the stored engine handles alone.
    pub async fn studio_delete_app(&self, req: &Request) -> ServiceResult<bool> {
        let mut row = self.stored_find(app_family(), req, "Delete").await?;
        let app_type = row.request["AppType"].as_str().unwrap_or_default();
        if !JUPYTER_TYPES.contains(&app_type) && app_type != "CodeEditor" {
            return Ok(false);
        }
        match row.status.as_deref() {
            Some("Deleted") => {
                return Err(ServiceError::NotFound(format!(
                    "App \"{}\" does not exist (it was deleted).",
                    row.arn
                )));
            }
            Some("Deleting") => {
                return Err(ServiceError::InUse(format!(
                    "App \"{}\" is already being deleted.",
                    row.arn
                )));
            }
            _ => {}
        }
        row.status = Some("Deleting".into());
        row.next_status = None;
        row.next_at = None;
        row.modified = now_epoch();
        self.store.stored_put(row.clone()).await?;
        let services = self.clone();
        tokio::spawn(async move { app::run_delete(services, row.key).await });
        Ok(true)
    }

    /// DeleteDomain: the domain's deleted apps go with it (they only linger for show).
    pub async fn studio_forget_deleted_apps(&self, domain: &str) -> ServiceResult<()> {
        for row in self.stored_rows(app_family()).await? {
            if row.status.as_deref() == Some("Deleted")
                && row.request["DomainId"].as_str() == Some(domain)
            {
                self.store.stored_delete(&row.family, &row.key).await?;
            }
        }
        Ok(())
    }

    /// The Studio URL of a domain, as DescribeDomain's `Url` reports it.
    pub fn studio_domain_url(&self, domain: &str) -> String {
        format!(
            "{}{PREFIX}{}/",
            self.public_url(),
            domain.to_ascii_lowercase()
        )
    }

    /// CreateDomain's afterword: the domain's `Url` is sagebox's Studio path for it.
    pub async fn studio_set_domain_url(&self, domain: &str) -> ServiceResult<String> {
        let fam = catalog()
            .family("Domain")
            .expect("the model defines Domain");
        let mut req = Request::new();
        req.insert("DomainId".into(), json!(domain));
        let mut row = self.stored_find(fam, &req, "Describe").await?;
        let url = self.studio_domain_url(domain);
        row.derived["Url"] = json!(url);
        self.store.stored_put(row).await?;
        Ok(url)
    }

    /// CreatePresignedDomainUrl: a URL whose token opens a session for the user profile (or
    /// space) and lands on its running JupyterLab app.
    pub async fn create_presigned_domain_url(&self, req: &Request) -> ServiceResult<String> {
        let get = |m: &str| req.get(m).and_then(Value::as_str);
        let domain = crate::service::required_str(req, "DomainId")?;
        let user = crate::service::required_str(req, "UserProfileName")?;
        let family = |n: &str| catalog().family(n).expect("the model defines it");
        self.stored_find(family("Domain"), req, "Describe").await?;
        self.stored_find(family("UserProfile"), req, "Describe")
            .await?;
        if get("SpaceName").is_some() {
            self.stored_find(family("Space"), req, "Describe").await?;
        }
        let int = |m: &str| req.get(m).and_then(Value::as_u64);
        let session_secs = int("SessionExpirationDurationInSeconds").unwrap_or(43_200);
        let expires_in = int("ExpiresInSeconds").unwrap_or(300);
        let owner = owner_segment(Some(user), get("SpaceName"));
        let landing = match get("LandingUri").map(Landing::parse) {
            Some(Landing::App { app_type, path }) => format!(
                "&landing={}",
                form_urlencoded::byte_serialize(format!("app:{app_type}:{path}").as_bytes())
                    .collect::<String>()
            ),
            _ => String::new(),
        };
        let signer = self.notebook_signer()?;
        let now = now_epoch() as u64;
        let token = signer.issue(
            &session_subject(domain, &owner),
            crate::service::notebooks::access::Grant::Url { session_secs },
            now + expires_in,
        );
        Ok(format!(
            "{}{PREFIX}{}/{owner}/?authToken={token}{landing}",
            self.public_url(),
            domain.to_ascii_lowercase()
        ))
    }

    /// DeleteApp of any app type: a Jupyter app's container goes (Deleting, then Deleted); any
    /// other app is the stored engine's delete.
    pub async fn delete_studio_app(&self, req: &Request) -> ServiceResult<()> {
        if !self.studio_delete_app(req).await? {
            self.stored_delete(app_family(), req).await?;
        }
        Ok(())
    }
}

/// Where a presigned domain URL lands, from CreatePresignedDomainUrl's `LandingUri`:
/// `app:JupyterLab:<relative path>` (or JupyterServer) opens that app type's running app at the
/// path; `studio::` and anything else open the owner's landing (its JupyterLab, else its
/// JupyterServer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    App { app_type: String, path: String },
    Home,
}

impl Landing {
    pub fn parse(uri: &str) -> Landing {
        let mut parts = uri.splitn(3, ':');
        let (Some("app"), Some(t), path) = (parts.next(), parts.next(), parts.next()) else {
            return Landing::Home;
        };
        let Some(app_type) = JUPYTER_TYPES.iter().find(|j| j.eq_ignore_ascii_case(t)) else {
            return Landing::Home;
        };
        let path = path.unwrap_or_default().trim_start_matches('/');
        // only a plain relative path inside the app: no way out of its base path
        let plain = path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
            && !path.split('/').any(|seg| seg == ".." || seg == ".");
        Landing::App {
            app_type: app_type.to_string(),
            path: if plain {
                path.to_string()
            } else {
                String::new()
            },
        }
    }

    /// The path inside the app's base path a browser lands on.
    pub fn app_path(app_type: &str, path: &str) -> String {
        match (path.is_empty(), app_type.eq_ignore_ascii_case("JupyterLab")) {
            (false, _) => path.to_string(),
            (true, true) => "lab".into(),
            (true, false) => "tree".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Landing;

    #[test]
    fn landing_uri_names_an_app_type_and_a_path_inside_it() {
        let app = |t: &str, p: &str| Landing::App {
            app_type: t.into(),
            path: p.into(),
        };
        assert_eq!(Landing::parse("app:JupyterLab:"), app("JupyterLab", ""));
        assert_eq!(
            Landing::parse("app:jupyterserver:/tree/work"),
            app("JupyterServer", "tree/work")
        );
        assert_eq!(
            Landing::parse("app:JupyterLab:../../x"),
            app("JupyterLab", "")
        );
        assert_eq!(
            Landing::parse("app:JupyterLab:a//b?x"),
            app("JupyterLab", "")
        );
        assert_eq!(Landing::parse("studio::"), Landing::Home);
        assert_eq!(Landing::parse("app:RStudioServerPro:"), Landing::Home);
        assert_eq!(Landing::app_path("JupyterLab", ""), "lab");
        assert_eq!(Landing::app_path("JupyterServer", ""), "tree");
    }
}
