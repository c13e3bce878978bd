//! Notebook instances: a Jupyter server (the `jupyter` emulator image) per instance, with a
//! persistent volume at /home/ec2-user/SageMaker, the lifecycle configuration's scripts, and
//! boto3 / the SageMaker SDK inside wired to sagebox. Browsers reach Jupyter only through
//! sagebox (`api::notebooks`), with a presigned URL (`access`).
//!
//! Status: Pending → InService; Stopping → Stopped; Updating → Stopped; Deleting → gone;
//! Failed (with FailureReason) when the container or a lifecycle script fails.

pub mod access;
mod instance;
pub mod lifecycle;
pub mod samples;
mod supervise;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Map, Value, json};

use crate::aws::time::now_epoch;
use crate::service::described::{NotebookInstance, Record};
use crate::service::resources::{ListParams, Page};
use crate::service::{Request, ServiceError, ServiceResult, Services, required_str, str_member};
use crate::store::resources::{Resource, ResourceKind};

pub use instance::JUPYTER_PORT;

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

/// Describe members filled in when the request leaves them out (AWS's defaults).
const DEFAULTS: &[(&str, &str)] = &[
    ("DirectInternetAccess", "Enabled"),
    ("RootAccess", "Enabled"),
    ("PlatformIdentifier", "notebook-al2-v3"),
    ("IpAddressType", "ipv4"),
];

/// The members of DescribeNotebookInstance that come from Create/UpdateNotebookInstance.
fn settings_from(req: &Request) -> Map<String, Value> {
    let mut s = Map::new();
    for m in [
        "InstanceType",
        "SubnetId",
        "RoleArn",
        "KmsKeyId",
        "DirectInternetAccess",
        "VolumeSizeInGB",
        "AcceleratorTypes",
        "DefaultCodeRepository",
        "AdditionalCodeRepositories",
        "RootAccess",
        "PlatformIdentifier",
        "IpAddressType",
        "InstanceMetadataServiceConfiguration",
    ] {
        if let Some(v) = req.get(m) {
            s.insert(m.into(), v.clone());
        }
    }
    if let Some(v) = req.get("SecurityGroupIds") {
        s.insert("SecurityGroups".into(), v.clone());
    }
    if let Some(v) = req.get("LifecycleConfigName") {
        s.insert("NotebookInstanceLifecycleConfigName".into(), v.clone());
    }
    s
}

/// AWS's message for an operation the instance's status does not allow.
fn bad_transition(arn: &str, status: &str, allowed: &[&str], to: &str) -> ServiceError {
    ServiceError::Validation(format!(
        "Status ({status}) not in ([{}]). Unable to transition to ({to}) for Notebook Instance ({arn}).",
        allowed.join(", ")
    ))
}

impl Services {
    pub async fn create_notebook_instance(&self, req: Request) -> ServiceResult<Arc<Resource>> {
        let name = required_str(&req, "NotebookInstanceName")?.to_string();
        if let Some(lc) = str_member(&req, "LifecycleConfigName") {
            self.notebook_lifecycle_config(lc).await?;
        }
        let mut derived = settings_from(&req);
        for (m, v) in DEFAULTS {
            derived.entry(*m).or_insert(json!(v));
        }
        derived.entry("VolumeSizeInGB").or_insert(json!(5));
        derived
            .entry("InstanceMetadataServiceConfiguration")
            .or_insert(json!({"MinimumInstanceMetadataServiceVersion": "1"}));
        if derived.contains_key("SubnetId") {
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
            .create_resource(KIND, &name, req, Value::Object(derived), Some("Pending"))
            .await
        {
            Err(ServiceError::Validation(m)) if m.starts_with("Cannot create already existing") => {
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

    async fn notebook(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        self.store
            .resource(KIND, name)
            .await?
            .ok_or_else(|| ServiceError::Validation("RecordNotFound".into()))
    }

    pub async fn describe_notebook_instance(&self, name: &str) -> ServiceResult<NotebookInstance> {
        let nb = self.notebook(name).await?;
        Ok(NotebookInstance {
            record: Record::from(&*nb),
            status: nb.status.clone(),
        })
    }

    /// ListNotebookInstances: the common filters, then the two only this operation has.
    pub async fn list_notebook_instances(
        &self,
        params: ListParams,
        req: &Request,
    ) -> ServiceResult<Page<NotebookInstance>> {
        let lc_contains = str_member(req, "NotebookInstanceLifecycleConfigNameContains");
        let repo_contains = str_member(req, "DefaultCodeRepositoryContains");
        let Page { items, next_token } = self.list_resources(KIND, params).await?;
        let items = items
            .into_iter()
            .filter(|r| {
                let field = |m: &str| r.derived.get(m).and_then(Value::as_str).unwrap_or("");
                lc_contains.is_none_or(|c| field("NotebookInstanceLifecycleConfigName").contains(c))
                    && repo_contains.is_none_or(|c| field("DefaultCodeRepository").contains(c))
            })
            .map(|r| NotebookInstance {
                record: Record::from(&r),
                status: r.status,
            })
            .collect();
        Ok(Page { items, next_token })
    }

    /// Moves an instance whose status is one of `from` to `to` (holding its lock), or gives
    /// AWS's transition error.
    async fn transition(
        &self,
        name: &str,
        from: &[&str],
        to: &str,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> ServiceResult<String> {
        let lock = self.notebooks.lock(name);
        let _turn = lock.lock().await;
        let nb = self.notebook(name).await?;
        let status = nb.status.as_deref().unwrap_or("Pending");
        if !from.contains(&status) {
            return Err(bad_transition(&nb.arn, status, from, to));
        }
        self.save_notebook(&nb.name, to, edit).await?;
        Ok(nb.name.clone())
    }

    pub async fn start_notebook_instance(&self, name: &str) -> ServiceResult<()> {
        let name = self
            .transition(name, &["Stopped", "Failed"], "Pending", |d| {
                d.remove("FailureReason");
            })
            .await?;
        self.spawn_notebook_start(&name);
        Ok(())
    }

    pub async fn stop_notebook_instance(&self, name: &str) -> ServiceResult<()> {
        let name = self
            .transition(name, &["InService"], "Stopping", |_| {})
            .await?;
        tokio::spawn(supervise::run_stop(self.clone(), name));
        Ok(())
    }

    pub async fn delete_notebook_instance(&self, name: &str) -> ServiceResult<()> {
        let name = self
            .transition(name, &["Stopped", "Failed"], "Deleting", |_| {})
            .await?;
        tokio::spawn(supervise::run_delete(self.clone(), name));
        Ok(())
    }

    pub async fn update_notebook_instance(&self, req: Request) -> ServiceResult<()> {
        let name = required_str(&req, "NotebookInstanceName")?;
        let lock = self.notebooks.lock(name);
        let _turn = lock.lock().await;
        let nb = self.notebook(name).await?;
        let status = nb.status.as_deref().unwrap_or("Pending");
        if !matches!(status, "Stopped" | "Failed") {
            return Err(bad_transition(
                &nb.arn,
                status,
                &["Stopped", "Failed"],
                "Updating",
            ));
        }
        if let Some(lc) = str_member(&req, "LifecycleConfigName") {
            self.notebook_lifecycle_config(lc).await?;
        }
        let current = nb
            .derived
            .get("VolumeSizeInGB")
            .and_then(Value::as_u64)
            .unwrap_or(5);
        if let Some(size) = req.get("VolumeSizeInGB").and_then(Value::as_u64)
            && size < current
        {
            return Err(ServiceError::Validation(format!(
                "Volume size can only be increased. The current volume size is {current} GB; {size} GB was requested."
            )));
        }
        let changes = settings_from(&req);
        let flag = |m: &str| req.get(m).and_then(Value::as_bool).unwrap_or(false);
        let mut cleared = Vec::new();
        for (f, m) in [
            (
                "DisassociateLifecycleConfig",
                "NotebookInstanceLifecycleConfigName",
            ),
            ("DisassociateAcceleratorTypes", "AcceleratorTypes"),
            ("DisassociateDefaultCodeRepository", "DefaultCodeRepository"),
            (
                "DisassociateAdditionalCodeRepositories",
                "AdditionalCodeRepositories",
            ),
        ] {
            if flag(f) {
                cleared.push(m);
            }
        }
        self.save_notebook(&nb.name, "Stopped", |d| {
            d.extend(changes);
            for m in cleared {
                d.remove(m);
            }
        })
        .await
    }

    pub async fn create_presigned_notebook_url(
        &self,
        name: &str,
        session_secs: Option<u64>,
    ) -> ServiceResult<String> {
        let nb = self.notebook(name).await?;
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

    pub(crate) async fn save_notebook(
        &self,
        name: &str,
        status: &str,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> ServiceResult<()> {
        self.update_status(KIND, name, status, edit).await
    }

    fn spawn_notebook_start(&self, name: &str) {
        let (services, name) = (self.clone(), name.to_string());
        tokio::spawn(async move { instance::run_start(services, name).await });
    }
}
