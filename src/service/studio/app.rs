//! A Studio app's container: the `jupyter` image with the user's (or space's) home volume,
//! sagebox's callback environment and Jupyter's base_url under the Studio path; waited for
//! until Jupyter answers, watched while InService, removed on DeleteApp, and taken back (or
//! failed with a reason) after a restart of sagebox.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{AppId, JUPYTER_TYPES, app_family};
use crate::runtime::engine::{ARN_LABEL, Bind, ContainerSpec, Engine, OWNER_LABEL};
use crate::service::Services;
use crate::service::notebooks::{
    JUPYTER_PORT, NotReady, READOPT_PATIENCE, Server, jupyter_answers_within, wait_ready,
};
use crate::store::stored::StoredRow;

/// Where a Studio user's files live, as in SageMaker Studio's images.
const HOME: &str = "/home/sagemaker-user";
/// How long Jupyter may take to answer before the app fails.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Why an app that served before a restart of sagebox is Failed now.
const RECOVER_REASON: &str = "sagebox restarted and the app's Jupyter container was no longer running. Delete the app and create it again; the files in its home volume are kept.";

/// The container's (and the home volume's) name: the owner's sagebox plus the app's path.
fn container_name(services: &Services, id: &AppId) -> String {
    format!(
        "{}-{}-{}",
        volume_name(services, id),
        id.app_type.to_ascii_lowercase(),
        id.app_name.to_ascii_lowercase()
    )
}

/// The home volume, shared by every app of one user profile (or space) in a domain.
fn volume_name(services: &Services, id: &AppId) -> String {
    format!(
        "sagebox-{}-studio-{}-{}",
        services.runtime.owner,
        id.domain.to_ascii_lowercase(),
        id.owner
    )
}

/// The ARN of the user profile (or space) whose home the app mounts.
fn owner_arn(services: &Services, row: &StoredRow) -> String {
    let domain = row.request["DomainId"].as_str().unwrap_or_default();
    match row.request["SpaceName"].as_str().filter(|s| !s.is_empty()) {
        Some(space) => services.sagemaker_arn("space", &format!("{domain}/{space}")),
        None => {
            let user = row.request["UserProfileName"].as_str().unwrap_or_default();
            services.sagemaker_arn("user-profile", &format!("{domain}/{user}"))
        }
    }
}

async fn app_row(services: &Services, key: &str) -> Option<StoredRow> {
    let store_as = &app_family().store_as;
    services
        .store
        .stored_get(store_as, key)
        .await
        .ok()
        .flatten()
}

/// Writes the app's status (and what `edit` changes), unless the row is gone or no longer in
/// the status `from` expects; a failed save is logged with the app's ARN.
async fn save(
    services: &Services,
    key: &str,
    from: &[&str],
    to: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> bool {
    let Some(mut row) = app_row(services, key).await else {
        return false;
    };
    if !from.contains(&row.status.as_deref().unwrap_or_default()) {
        return false;
    }
    row.status = Some(to.to_string());
    row.next_status = None;
    row.next_at = None;
    row.modified = crate::aws::time::now_epoch();
    edit(&mut row.derived);
    let arn = row.arn.clone();
    match services.store.stored_put(row).await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(app = %arn, "cannot save the app's status {to}: {e}");
            false
        }
    }
}

/// Pending → InService (or Failed): image, home volume, container, until Jupyter answers.
pub(super) async fn run_start(services: Services, key: String) {
    let lock = services.studio.lock(&key);
    let _turn = lock.lock().await;
    let Some(row) = app_row(&services, &key).await else {
        return;
    };
    if row.status.as_deref() != Some("Pending") {
        return;
    }
    let id = AppId::of(&row);
    match start(&services, &row, &id).await {
        Ok(server) => {
            let server = Arc::new(server);
            services.studio.set_server(&id.key(), Some(server.clone()));
            let saved = save(&services, &key, &["Pending"], "InService", |d| {
                d["_Container"] = json!(server.container_id);
                d["_Token"] = json!(server.token);
            })
            .await;
            if saved {
                watch(&services, &key, &server.container_id);
            }
        }
        Err(reason) => {
            tracing::warn!(app = %row.arn, "studio app failed: {reason}");
            save(&services, &key, &["Pending"], "Failed", |d| {
                d["FailureReason"] = json!(reason);
            })
            .await;
        }
    }
}

async fn start(services: &Services, row: &StoredRow, id: &AppId) -> Result<Server, String> {
    let engine = services
        .runtime
        .engine()
        .await
        .map_err(|e| format!("Docker is not available: {e}"))?;
    let progress: crate::runtime::images::Progress = Arc::new(|line: &str| {
        tracing::debug!("jupyter image: {line}");
    });
    let image = engine
        .image_for(&crate::service::notebooks::JUPYTER_IMAGE, &progress)
        .await
        .map_err(|e| format!("The Jupyter image could not be built: {e}"))?;
    let labels = HashMap::from([
        (OWNER_LABEL.to_string(), services.runtime.owner.clone()),
        (ARN_LABEL.to_string(), row.arn.clone()),
    ]);
    let volume = volume_name(services, id);
    // the home belongs to the user profile (or space), not to this one app
    let mut volume_labels = labels.clone();
    volume_labels.insert(ARN_LABEL.to_string(), owner_arn(services, row));
    engine
        .create_volume(&volume, volume_labels)
        .await
        .map_err(|e| format!("Cannot create the app's home volume: {e}"))?;
    remove_containers(services, &engine, &row.arn).await;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let base = id.base_path();
    let mut env = services.callback_env();
    env.extend([
        ("JUPYTER_TOKEN".to_string(), token.clone()),
        ("JUPYTER_BASE_URL".to_string(), base.clone()),
        (
            "JUPYTER_ARGS".to_string(),
            "--ServerApp.allow_origin=* --ServerApp.terminals_enabled=True".to_string(),
        ),
        ("NOTEBOOK_DIR".to_string(), HOME.to_string()),
        ("HOME".to_string(), HOME.to_string()),
    ]);
    let spec = ContainerSpec {
        name: container_name(services, id),
        image,
        entrypoint: Some(vec![
            "/usr/bin/tini".into(),
            "--".into(),
            "/usr/bin/python3".into(),
            "-m".into(),
            "sagebox_container.cli".into(),
        ]),
        env,
        binds: vec![Bind {
            host: volume,
            container: HOME.into(),
            read_only: false,
        }],
        labels,
        hostname: Some(format!("{}-{}", id.app_type, id.app_name).to_ascii_lowercase()),
        publish: vec![JUPYTER_PORT],
        host_gateway: true,
        ..Default::default()
    };
    let cid = engine
        .run(&spec)
        .await
        .map_err(|e| format!("Cannot start the app's container: {e}"))?;
    match wait_ready(services, &engine, &cid, &base, &token, READY_TIMEOUT).await {
        Ok(port) => Ok(Server {
            port,
            token,
            container_id: cid,
        }),
        Err(NotReady { code, last }) => Err(match code {
            Some(code) => format!(
                "Jupyter exited with code {code} before it was ready. Last log lines: {}",
                last.join(" | ")
            ),
            None => format!(
                "Jupyter did not answer within {} seconds. Last log lines: {}",
                READY_TIMEOUT.as_secs(),
                last.join(" | ")
            ),
        }),
    }
}

/// While InService: a container that exits on its own fails the app with its last words.
fn watch(services: &Services, key: &str, cid: &str) {
    let (services, key, cid) = (services.clone(), key.to_string(), cid.to_string());
    tokio::spawn(async move {
        let Ok(engine) = services.runtime.engine().await else {
            return;
        };
        let code = engine.wait(&cid).await.unwrap_or(-1);
        let lock = services.studio.lock(&key);
        let _turn = lock.lock().await;
        let Some(row) = app_row(&services, &key).await else {
            return;
        };
        if row.derived["_Container"].as_str() != Some(cid.as_str()) {
            return;
        }
        let last = engine.last_lines(&cid, 8).await;
        let reason = format!(
            "The app's Jupyter server exited with code {code}. Last log lines: {}. Delete the app and create it again; its home volume is kept.",
            last.join(" | ")
        );
        if save(&services, &key, &["InService"], "Failed", |d| {
            d["FailureReason"] = json!(reason);
        })
        .await
        {
            services.studio.set_server(&AppId::of(&row).key(), None);
            engine.remove(&cid).await.ok();
        }
    });
}

async fn remove_containers(services: &Services, engine: &Engine, arn: &str) {
    for (cid, _, labels) in engine
        .containers_labelled(ARN_LABEL, arn)
        .await
        .unwrap_or_default()
    {
        if labels.get(OWNER_LABEL) == Some(&services.runtime.owner) {
            // stop is only the polite half: whatever it answers, remove follows
            engine.stop(&cid, Duration::from_secs(5)).await.ok();
            if let Err(e) = engine.remove(&cid).await {
                tracing::warn!(app = %arn, "cannot remove container {cid}: {e}");
            }
        }
    }
}

/// Deleting → Deleted: the container goes, the home volume stays.
pub(super) async fn run_delete(services: Services, key: String) {
    let lock = services.studio.lock(&key);
    let _turn = lock.lock().await;
    let Some(row) = app_row(&services, &key).await else {
        return;
    };
    services.studio.set_server(&AppId::of(&row).key(), None);
    if let Ok(engine) = services.runtime.engine().await {
        remove_containers(&services, &engine, &row.arn).await;
    }
    save(&services, &key, &["Deleting"], "Deleted", |d| {
        if let Some(d) = d.as_object_mut() {
            d.remove("_Container");
            d.remove("_Token");
        }
    })
    .await;
}

impl Services {
    /// At startup: Jupyter apps whose container still serves are taken back; the others that
    /// were starting or serving fail with a reason; unfinished deletes finish. Returns the
    /// ARNs whose containers are kept.
    pub async fn recover_studio_apps(&self) -> HashSet<String> {
        let mut keep = HashSet::new();
        let rows = self.stored_rows(app_family()).await.unwrap_or_default();
        let engine = self.runtime.engine().await.ok();
        for row in rows {
            if !JUPYTER_TYPES.contains(&row.request["AppType"].as_str().unwrap_or_default()) {
                continue;
            }
            match row.status.as_deref() {
                Some("InService") | Some("Pending") => {
                    let (cid, token) = (
                        row.derived["_Container"].as_str(),
                        row.derived["_Token"].as_str(),
                    );
                    let adopted = match (&engine, cid, token) {
                        (Some(engine), Some(cid), Some(token)) => {
                            readopt(self, engine, &row, cid, token).await
                        }
                        _ => false,
                    };
                    if adopted {
                        keep.insert(row.arn.clone());
                    } else {
                        save(self, &row.key, &["InService", "Pending"], "Failed", |d| {
                            d["FailureReason"] = json!(RECOVER_REASON);
                        })
                        .await;
                    }
                }
                Some("Deleting") => {
                    tokio::spawn(run_delete(self.clone(), row.key.clone()));
                }
                _ => {}
            }
        }
        keep
    }
}

/// Takes back an app container that kept running while sagebox was down.
async fn readopt(
    services: &Services,
    engine: &Engine,
    row: &StoredRow,
    cid: &str,
    token: &str,
) -> bool {
    if engine.running(cid).await.ok().flatten() != Some(true) {
        return false;
    }
    let Some(port) = engine
        .published_port(cid, JUPYTER_PORT)
        .await
        .ok()
        .flatten()
    else {
        return false;
    };
    let id = AppId::of(row);
    if !jupyter_answers_within(services, port, &id.base_path(), token, READOPT_PATIENCE).await {
        return false;
    }
    let server = Server {
        port,
        token: token.to_string(),
        container_id: cid.to_string(),
    };
    services
        .studio
        .set_server(&id.key(), Some(Arc::new(server)));
    watch(services, &row.key, cid);
    true
}
