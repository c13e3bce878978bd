//! Notebook instances: a Jupyter server (the `jupyter` emulator image) per instance, with a
//! persistent volume at /home/ec2-user/SageMaker, the lifecycle configuration's scripts, and
//! boto3 / the SageMaker SDK inside wired to sagebox. Browsers reach Jupyter only through
//! sagebox (`api::notebooks`), with a presigned URL (`access`).
//!
//! Status: Pending → InService; Stopping → Stopped; Updating → Stopped; Deleting → gone;
//! Failed (with FailureReason) when the container or a lifecycle script fails. Every move is in
//! `state::NOTEBOOK_STATUS`, which each status save checks first (`save_notebook`,
//! `supervise::save_logged`).

pub mod access;
mod instance;
pub mod lifecycle;
pub mod samples;
pub mod state;
mod supervise;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Map, Value, json};

use crate::aws::model::typed::sagemaker::{
    CreateNotebookInstanceInput, CreatePresignedNotebookInstanceUrlInput,
    ListNotebookInstancesInput, NotebookInstanceStatus as S, UpdateNotebookInstanceInput,
};
use crate::aws::time::now_epoch;
use crate::service::described::{NotebookInstance, Record};
use crate::service::resources::{ListParams, Page};
use crate::service::{Input, ServiceError, ServiceResult, Services};
use crate::store::resources::{Resource, ResourceKind};

pub use instance::{JUPYTER_IMAGE, JUPYTER_PORT};
pub(crate) use instance::{NotReady, jupyter_answers_within, wait_ready};

/// How long a re-adopted Jupyter (notebook instance or Studio app) may take to answer.
pub(crate) const READOPT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);
use state::{Derived, NOTEBOOK_STATUS, Settings, parse_status};

const KIND: ResourceKind = ResourceKind::NotebookInstance;
pub const LOG_GROUP: &str = "/aws/sagemaker/NotebookInstances";

/// The path under which sagebox serves an instance's Jupyter (Jupyter's base_url).
pub fn base_path(name: &str) -> String {
    format!("/_sagebox/notebooks/{}/", name.to_ascii_lowercase())
}

fn lifecycle_kind() -> ResourceKind {
    ResourceKind::NotebookLifecycleConfig
}

/// A running Jupyter server: where it listens and the token sagebox adds to every request.
#[derive(Debug)]
pub struct Server {
    pub port: u16,
    pub token: String,
    pub container_id: String,
}

/// In-memory notebook state: the servers the proxy may reach and one lock per instance.
#[derive(Clone, Default)]
pub struct Notebooks {
    servers: Arc<RwLock<HashMap<String, Arc<Server>>>>,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    signer: Arc<Mutex<Option<access::Signer>>>,
}

impl Notebooks {
    pub fn server(&self, name: &str) -> Option<Arc<Server>> {
        self.servers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    fn set_server(&self, name: &str, server: Option<Arc<Server>>) {
        let mut map = self.servers.write().unwrap_or_else(|e| e.into_inner());
        match server {
            Some(s) => map.insert(name.to_ascii_lowercase(), s),
            None => map.remove(&name.to_ascii_lowercase()),
        };
    }

    fn lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_ascii_lowercase())
            .or_default()
            .clone()
    }
}

/// AWS's message for an operation the instance's status does not allow.
fn bad_transition(arn: &str, status: S, allowed: &[S], to: S) -> ServiceError {
    let allowed: Vec<&str> = allowed.iter().map(S::as_str).collect();
    ServiceError::Validation(format!(
        "Status ({status}) not in ([{}]). Unable to transition to ({to}) for Notebook Instance ({arn}).",
        allowed.join(", ")
    ))
}

/// The member a validated request always has: the validator requires it, so its absence is the
/// validator's message.
fn required(member: &str, value: &Option<String>) -> ServiceResult<String> {
    value.clone().ok_or_else(|| {
        ServiceError::Validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            crate::service::lower_first(member)
        ))
    })
}

/// An instance's status as stored; one not saved yet is Pending.
fn status_of(nb: &Resource) -> S {
    parse_status(nb.status.as_deref()).unwrap_or(S::Pending)
}

impl Services {
    pub async fn create_notebook_instance(
        &self,
        input: Input<CreateNotebookInstanceInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = &input.members;
        let name = required("NotebookInstanceName", &req.notebook_instance_name)?;
        if let Some(lc) = &req.lifecycle_config_name {
            self.notebook_lifecycle_config(lc).await?;
        }
        let mut derived = Settings::from_create(req).with_defaults().into_members();
        if req.subnet_id.is_some() {
            derived.insert(
                "NetworkInterfaceId".into(),
                json!(format!(
                    "eni-{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..17]
                )),
            );
        }
        derived.insert("LastModifiedTime".into(), json!(now_epoch()));
        // Like AWS's `<name>.notebook.<region>.sagemaker.aws`, known from the start.
        derived.insert("Url".into(), json!(self.notebook_url(&name)));
        let res = match self
            .create_resource(
                KIND,
                &name,
                input.raw,
                Value::Object(derived),
                Some(S::Pending.as_str()),
            )
            .await
        {
            Err(ServiceError::Duplicate(_)) => {
                return Err(ServiceError::Validation(format!(
                    "Cannot create a duplicate Notebook Instance ({})",
                    self.sagemaker_arn(KIND.arn_type(), &name)
                )));
            }
            other => other?,
        };
        self.spawn_notebook_start(&res.name);
        Ok(res)
    }

    /// The instance's row, with a terminal state its supervisor could not save yet laid over it
    /// (see `saving`).
    async fn notebook(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        let row = self
            .store
            .resource(KIND, name)
            .await?
            .ok_or_else(|| ServiceError::Validation("RecordNotFound".into()))?;
        Ok(self.unsaved.overlay(KIND, row))
    }

    pub async fn describe_notebook_instance(&self, name: &str) -> ServiceResult<NotebookInstance> {
        let nb = self.notebook(name).await?;
        Ok(NotebookInstance {
            record: Record::from(&*nb),
            status: parse_status(nb.status.as_deref()),
        })
    }

    /// ListNotebookInstances: the common filters, then the two only this operation has.
    pub async fn list_notebook_instances(
        &self,
        params: ListParams,
        filters: &ListNotebookInstancesInput,
    ) -> ServiceResult<Page<NotebookInstance>> {
        let lc_contains = filters
            .notebook_instance_lifecycle_config_name_contains
            .as_deref();
        let repo_contains = filters.default_code_repository_contains.as_deref();
        let Page { items, next_token } = self.list_resources(KIND, params).await?;
        let items = items
            .into_iter()
            .filter(|r| {
                let d = Derived::of(&r.name, &r.derived);
                let lc = d.lifecycle_config_name.unwrap_or_default();
                let repo = d.default_code_repository.unwrap_or_default();
                lc_contains.is_none_or(|c| lc.contains(c))
                    && repo_contains.is_none_or(|c| repo.contains(c))
            })
            .map(|r| NotebookInstance {
                record: Record::from(&r),
                status: parse_status(r.status.as_deref()),
            })
            .collect();
        Ok(Page { items, next_token })
    }

    /// Moves an instance whose status is one of `from` to `to` (holding its lock), or gives
    /// AWS's transition error.
    async fn transition(
        &self,
        name: &str,
        from: &[S],
        to: S,
        edit: impl Fn(&mut Map<String, Value>),
    ) -> ServiceResult<String> {
        let lock = self.notebooks.lock(name);
        let _turn = lock.lock().await;
        let nb = self.notebook(name).await?;
        let status = status_of(&nb);
        if !from.contains(&status) {
            return Err(bad_transition(&nb.arn, status, from, to));
        }
        self.save_notebook(&nb.name, to, edit).await?;
        Ok(nb.name.clone())
    }

    pub async fn start_notebook_instance(&self, name: &str) -> ServiceResult<()> {
        let name = self
            .transition(name, &[S::Stopped, S::Failed], S::Pending, |d| {
                d.remove("FailureReason");
            })
            .await?;
        self.spawn_notebook_start(&name);
        Ok(())
    }

    pub async fn stop_notebook_instance(&self, name: &str) -> ServiceResult<()> {
        let name = self
            .transition(name, &[S::InService], S::Stopping, |_| {})
            .await?;
        tokio::spawn(supervise::run_stop(self.clone(), name));
        Ok(())
    }

    pub async fn delete_notebook_instance(&self, name: &str) -> ServiceResult<()> {
        let name = self
            .transition(name, &[S::Stopped, S::Failed], S::Deleting, |_| {})
            .await?;
        tokio::spawn(supervise::run_delete(self.clone(), name));
        Ok(())
    }

    /// UpdateNotebookInstance: the request is not stored, only the settings it changes.
    pub async fn update_notebook_instance(
        &self,
        req: UpdateNotebookInstanceInput,
    ) -> ServiceResult<()> {
        let name = required("NotebookInstanceName", &req.notebook_instance_name)?;
        let lock = self.notebooks.lock(&name);
        let _turn = lock.lock().await;
        let nb = self.notebook(&name).await?;
        let status = status_of(&nb);
        let from = [S::Stopped, S::Failed];
        if !from.contains(&status) {
            return Err(bad_transition(&nb.arn, status, &from, S::Updating));
        }
        if let Some(lc) = &req.lifecycle_config_name {
            self.notebook_lifecycle_config(lc).await?;
        }
        let current = Derived::of(&nb.name, &nb.derived)
            .volume_size_in_gb
            .filter(|n| *n >= 0)
            .unwrap_or(5);
        if let Some(size) = req.volume_size_in_gb.filter(|n| *n >= 0)
            && size < current
        {
            return Err(ServiceError::Validation(format!(
                "Volume size can only be increased. The current volume size is {current} GB; {size} GB was requested."
            )));
        }
        let changes = Settings::from_update(&req).into_members();
        let mut cleared = Vec::new();
        for (flag, m) in [
            (
                req.disassociate_lifecycle_config,
                "NotebookInstanceLifecycleConfigName",
            ),
            (req.disassociate_accelerator_types, "AcceleratorTypes"),
            (
                req.disassociate_default_code_repository,
                "DefaultCodeRepository",
            ),
            (
                req.disassociate_additional_code_repositories,
                "AdditionalCodeRepositories",
            ),
        ] {
            if flag == Some(true) {
                cleared.push(m);
            }
        }
        self.save_notebook(&nb.name, S::Stopped, |d| {
            d.extend(changes.clone());
            for m in &cleared {
                d.remove(*m);
            }
        })
        .await
    }

    pub async fn create_presigned_notebook_url(
        &self,
        req: &CreatePresignedNotebookInstanceUrlInput,
    ) -> ServiceResult<String> {
        let name = required("NotebookInstanceName", &req.notebook_instance_name)?;
        let session_secs = req
            .session_expiration_duration_in_seconds
            .and_then(|s| u64::try_from(s).ok());
        let nb = self.notebook(&name).await?;
        let signer = self.notebook_signer()?;
        let now = now_epoch() as u64;
        let token = signer.issue(
            &nb.name,
            access::Grant::Url {
                session_secs: session_secs.unwrap_or(43_200),
            },
            now + self.config.notebook_url_ttl,
        );
        Ok(format!(
            "{}{}?authToken={token}",
            self.public_url(),
            base_path(&nb.name).trim_end_matches('/')
        ))
    }

    /// The signing key for notebook URLs and sessions (read from the data directory once).
    pub fn notebook_signer(&self) -> ServiceResult<access::Signer> {
        let mut slot = self
            .notebooks
            .signer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let s = access::Signer::open(&self.config.data_dir.join("notebooks")).map_err(|e| {
            ServiceError::Internal(format!("cannot read the notebook URL key: {e}"))
        })?;
        *slot = Some(s.clone());
        Ok(s)
    }

    /// Where an instance's Jupyter is reached, without the scheme (as DescribeNotebookInstance
    /// reports it).
    pub fn notebook_url(&self, name: &str) -> String {
        format!(
            "{}{}",
            self.public_url().trim_start_matches("http://"),
            base_path(name).trim_end_matches('/')
        )
    }

    /// How browsers reach this sagebox (`http://127.0.0.1:PORT` unless bound elsewhere).
    pub fn public_url(&self) -> String {
        let ip = self.config.bind.ip();
        let host = if ip.is_unspecified() {
            "127.0.0.1".to_string()
        } else if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!("http://{host}:{}", self.runtime.api_port())
    }

    /// Writes instance `name`'s status `to` and what `edit` changes, if NOTEBOOK_STATUS allows
    /// the move from the stored status; an illegal move is refused as an internal error.
    pub(crate) async fn save_notebook(
        &self,
        name: &str,
        to: S,
        edit: impl Fn(&mut Map<String, Value>),
    ) -> ServiceResult<()> {
        if let Some(refused) = self.notebook_move_refused(name, to).await {
            return Err(ServiceError::Internal(refused.to_string()));
        }
        self.update_status(KIND, name, to.as_str(), edit).await
    }

    /// The refusal (logged) when NOTEBOOK_STATUS has no move from `name`'s stored status to `to`.
    /// A row that is gone or cannot be read is left to the save itself, which skips the one
    /// and retries or reports the other.
    pub(super) async fn notebook_move_refused(
        &self,
        name: &str,
        to: S,
    ) -> Option<crate::service::lifecycle::IllegalMove> {
        let Ok(Some(nb)) = self.store.resource(KIND, name).await else {
            return None;
        };
        let refused = NOTEBOOK_STATUS.check(&nb.name, status_of(&nb), to).err()?;
        tracing::error!("{refused}; the status is left as it is");
        Some(refused)
    }

    fn spawn_notebook_start(&self, name: &str) {
        let (services, name) = (self.clone(), name.to_string());
        tokio::spawn(async move { instance::run_start(services, name).await });
    }
}
