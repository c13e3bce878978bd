//! A started notebook instance: watched while InService, stopped (the volume stays), deleted
//! (everything goes), and taken back after a restart of sagebox.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::instance::{
    HOME, HookState, JUPYTER_PORT, instance_dir, jupyter_answers_within, pump, resource_name,
};
use super::state::{Derived, parse_status};
use super::{KIND, READOPT_PATIENCE, Server};
use crate::aws::model::typed::sagemaker::NotebookInstanceStatus as S;
use crate::runtime::engine::{ARN_LABEL, Engine, OWNER_LABEL};
use crate::service::Services;
use crate::service::saving;
use crate::store::resources::ListQuery;

/// While the instance is InService: if its container exits (not by StopNotebookInstance), the
/// instance fails with the container's last words.
pub(super) fn watch(services: &Services, name: &str, id: &str) {
    let (services, name, id) = (services.clone(), name.to_string(), id.to_string());
    tokio::spawn(async move {
        let Ok(engine) = services.runtime.engine().await else {
            return;
        };
        let code = engine.wait(&id).await.unwrap_or(-1);
        let lock = services.notebooks.lock(&name);
        let _turn = lock.lock().await;
        let Ok(Some(nb)) = services.store.resource(KIND, &name).await else {
            return;
        };
        let current = Derived::of(&nb.name, &nb.derived).container;
        if parse_status(nb.status.as_deref()) != Some(S::InService)
            || current.as_deref() != Some(id.as_str())
        {
            return;
        }
        let last = engine.last_lines(&id, 8).await;
        services.notebooks.set_server(&name, None);
        if let Err(e) = engine.remove(&id).await {
            // best effort: the startup sweep removes containers nothing claims
            tracing::debug!(notebook = %name, "cannot remove exited container {id}: {e}");
        }
        save_logged(&services, &name, S::Failed, |d| {
            d.insert(
                "FailureReason".into(),
                json!(format!(
                    "The notebook instance's Jupyter server exited with code {code}. Last log lines: {}. Start the instance again; its files under {HOME} are kept.",
                    last.join(" | ")
                )),
            );
            d.remove("_Container");
        })
        .await;
    });
}

/// Stopping → Stopped: the container goes, the volume stays.
pub(super) async fn run_stop(services: Services, name: String) {
    let lock = services.notebooks.lock(&name);
    let _turn = lock.lock().await;
    services.notebooks.set_server(&name, None);
    if let Ok(engine) = services.runtime.engine().await {
        remove_containers(&services, &engine, &name).await;
    }
    save_logged(&services, &name, S::Stopped, |d| {
        d.remove("_Container");
    })
    .await;
}

/// `save_notebook` for the background tasks, which have no caller to hand an error to: a
/// terminal status is retried, a failure logged with the instance's name (see `saving`). A
/// move NOTEBOOK_STATUS does not allow is logged and not written; returns whether it was.
pub(super) async fn save_logged(
    services: &Services,
    name: &str,
    to: S,
    edit: impl Fn(&mut serde_json::Map<String, Value>),
) -> bool {
    if services.notebook_move_refused(name, to).await.is_some() {
        return false;
    }
    services.persist_state(KIND, name, to.as_str(), &edit).await
}

async fn remove_containers(services: &Services, engine: &Engine, name: &str) {
    let arn = services.sagemaker_arn(KIND.arn_type(), name);
    for (id, _, labels) in engine
        .containers_labelled(ARN_LABEL, &arn)
        .await
        .unwrap_or_default()
    {
        if labels.get(OWNER_LABEL) == Some(&services.runtime.owner) {
            // stop is only the polite half: whatever it answers, remove follows
            engine.stop(&id, Duration::from_secs(5)).await.ok();
            if let Err(e) = engine.remove(&id).await {
                tracing::warn!(notebook = %name, "cannot remove container {id}: {e}");
            }
        }
    }
}

/// Deleting → gone: container, volume and the instance's files.
pub(super) async fn run_delete(services: Services, name: String) {
    let lock = services.notebooks.lock(&name);
    let _turn = lock.lock().await;
    services.notebooks.set_server(&name, None);
    if let Ok(engine) = services.runtime.engine().await {
        remove_containers(&services, &engine, &name).await;
        if let Err(e) = engine.remove_volume(&resource_name(&services, &name)).await {
            tracing::warn!(notebook = %name, "cannot remove the notebook's volume: {e}");
        }
    }
    let dir = instance_dir(&services, &name);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("cannot remove {}: {e}", dir.display());
    }
    let what = format!("notebook instance {name}");
    saving::persist(&what, saving::DELETED, || async {
        // whether it was still there does not matter: gone is the state wanted
        services
            .store
            .delete_resource(KIND, &name)
            .await
            .map(|_existed| ())
    })
    .await;
}

impl Services {
    /// At startup: serving instances get their container back (or start again), unfinished
    /// stops and deletes finish. Returns the ARNs whose containers are kept.
    pub async fn recover_notebooks(&self) -> std::collections::HashSet<String> {
        let mut keep = std::collections::HashSet::new();
        let all = self
            .store
            .list_resources(KIND, ListQuery::every(None))
            .await
            .unwrap_or_default();
        let engine = self.runtime.engine().await.ok();
        for nb in all {
            match parse_status(nb.status.as_deref()) {
                Some(S::InService) => {
                    keep.insert(nb.arn.clone());
                    let d = Derived::of(&nb.name, &nb.derived);
                    let adopted = match (&engine, d.container.as_deref(), d.token.as_deref()) {
                        (Some(engine), Some(id), Some(token)) => {
                            readopt(self, engine, &nb.name, id, token).await
                        }
                        _ => false,
                    };
                    if !adopted {
                        save_logged(self, &nb.name, S::Pending, |_| {}).await;
                        self.spawn_notebook_start(&nb.name);
                    }
                }
                Some(S::Pending) => {
                    keep.insert(nb.arn.clone());
                    self.spawn_notebook_start(&nb.name);
                }
                Some(S::Stopping) => {
                    tokio::spawn(run_stop(self.clone(), nb.name.clone()));
                }
                Some(S::Deleting) => {
                    tokio::spawn(run_delete(self.clone(), nb.name.clone()));
                }
                Some(S::Updating) => {
                    save_logged(self, &nb.name, S::Stopped, |_| {}).await;
                }
                _ => {}
            }
        }
        keep
    }
}

/// Takes back a container that kept running while sagebox was down.
async fn readopt(services: &Services, engine: &Engine, name: &str, id: &str, token: &str) -> bool {
    if engine.running(id).await.ok().flatten() != Some(true) {
        return false;
    }
    let Some(port) = engine.published_port(id, JUPYTER_PORT).await.ok().flatten() else {
        return false;
    };
    if !jupyter_answers_within(
        services,
        port,
        &super::base_path(name),
        token,
        READOPT_PATIENCE,
    )
    .await
    {
        return false;
    }
    let hooks = Arc::new(Mutex::new(HookState::default()));
    pump(services, engine, id, name, true, hooks);
    services.notebooks.set_server(
        name,
        Some(Arc::new(Server {
            port,
            token: token.to_string(),
            container_id: id.to_string(),
        })),
    );
    watch(services, name, id);
    true
}
