//! The Docker Swarm engine (`sagebox serve --engine swarm`): each container a service asks for
//! becomes a one-replica service on the swarm, scheduled on any node; per-job networks are
//! attachable overlays; images are resolved on this machine's engine and pushed to the
//! cluster's registry with the in-task agent laid over them; binds become the agent's plan (the
//! content travels over HTTP from and to sagebox, as no node but this one has its files); a
//! published port is reached through a loopback forwarder that follows the task; a named volume
//! is a directory on sagebox's disk that the agent carries like a bind (see `volumes`).

pub mod forward;
mod gpus;
pub mod images;
pub mod node;
pub mod service;
pub mod tasks;
pub mod volumes;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::RuntimeError;
use super::docker::DockerEngine;
use super::engine::{
    ContainerSpec, EngineError, EngineInfo, ExecutionEngine, Keep, Listed, LogLine, OWNER_LABEL,
};
use super::images::{BuildError, Progress};
use super::uris::ImageChoice;
pub use gpus::gpu_count;
use tasks::Progress as TaskProgress;

/// How sagebox reaches the swarm and how the swarm's tasks reach sagebox.
#[derive(Debug, Clone)]
pub struct SwarmSettings {
    /// The manager's engine (`unix:///…` or `tcp://host:port`).
    pub manager: String,
    /// The registry every node pulls from (`host:port`, plain HTTP).
    pub registry: String,
    /// The address every node reaches sagebox at.
    pub sagebox: IpAddr,
    /// Where named volumes live (`<data-dir>/swarm-volumes`); None where there is no data
    /// directory (a volume is then refused).
    pub volumes: Option<std::path::PathBuf>,
}

/// The swarm engine. Cheap to clone.
#[derive(Clone)]
pub struct SwarmEngine {
    manager: Docker,
    settings: SwarmSettings,
    /// This machine's engine: images are built, pulled and exported there.
    local: DockerEngine,
    /// The key the agent's tokens are made with.
    agent_key: Arc<Vec<u8>>,
    /// sagebox's API port, known once bound (the agent's URL names it).
    api_port: Arc<AtomicU16>,
    pushed: Arc<tokio::sync::Mutex<images::Pushed>>,
    forwards: Arc<std::sync::Mutex<HashMap<(String, u16), forward::Forward>>>,
}

/// Connects to an engine at `host` (`unix://…`, `tcp://…` or `http://…`).
pub fn docker_at(host: &str) -> Result<Docker, EngineError> {
    let unreachable = |e: bollard::errors::Error| EngineError::Unreachable {
        host: host.to_string(),
        detail: e.to_string(),
    };
    if let Some(path) = host.strip_prefix("unix://") {
        Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION).map_err(unreachable)
    } else {
        let address = host.replacen("tcp://", "http://", 1);
        Docker::connect_with_http(&address, 120, bollard::API_DEFAULT_VERSION).map_err(unreachable)
    }
}

impl SwarmEngine {
    /// Reaches the manager and checks that it is one; `local` builds and exports the images.
    pub async fn connect(
        settings: SwarmSettings,
        local: DockerEngine,
        agent_key: Vec<u8>,
        api_port: Arc<AtomicU16>,
    ) -> Result<SwarmEngine, EngineError> {
        let docker = docker_at(&settings.manager)?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| EngineError::Unreachable {
                host: settings.manager.clone(),
                detail: "no answer within 10 s".into(),
            })?
            .map_err(|e| EngineError::Unreachable {
                host: settings.manager.clone(),
                detail: e.to_string(),
            })?;
        let info = docker.info().await?;
        let manager = info
            .swarm
            .as_ref()
            .is_some_and(|s| s.control_available == Some(true));
        if !manager {
            return Err(EngineError::Other(format!(
                "--engine swarm: the engine at {} is not a swarm manager; run sagebox against a manager (`docker swarm init` makes this engine one, `docker node promote` another)",
                settings.manager
            )));
        }
        Ok(SwarmEngine {
            manager: docker,
            settings,
            local,
            agent_key: Arc::new(agent_key),
            api_port,
            pushed: Arc::default(),
            forwards: Arc::default(),
        })
    }

    fn plan_env(&self, spec: &ContainerSpec) -> Option<(&'static str, String)> {
        if spec.binds.is_empty() && spec.pipes.is_empty() {
            return None;
        }
        let url = format!(
            "http://host.docker.internal:{}",
            self.api_port.load(Ordering::Relaxed)
        );
        let plan = crate::agent::plan_for(spec, &url, &self.agent_key);
        Some((
            crate::agent::PLAN_ENV,
            serde_json::to_string(&plan).unwrap_or_default(),
        ))
    }

    async fn progress(&self, id: &str) -> Result<Option<TaskProgress>, EngineError> {
        tasks::progress(&self.manager, id).await
    }

    /// Waits until the service's task has ended (or the service is gone).
    async fn ended(&self, id: &str) -> Result<Option<TaskProgress>, EngineError> {
        loop {
            match self.progress(id).await? {
                Some(p) if !p.ended() => tokio::time::sleep(Duration::from_millis(300)).await,
                other => return Ok(other),
            }
        }
    }

    async fn remove_service(&self, id: &str) -> Result<(), EngineError> {
        if let Ok(mut f) = self.forwards.lock() {
            f.retain(|(service, _), _| service != id);
        }
        match self.manager.delete_service(id).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Updates the service to `replicas` (0 stops its task, 1 with a forced update runs a new
    /// one), with `tweak` applied to its task template.
    async fn scale(
        &self,
        id: &str,
        service: bollard::models::Service,
        replicas: i64,
        tweak: impl FnOnce(&mut bollard::models::TaskSpec),
    ) -> Result<(), EngineError> {
        let mut spec = service.spec.unwrap_or_default();
        if let Some(task) = spec.task_template.as_mut() {
            tweak(task);
        }
        spec.mode = Some(bollard::models::ServiceSpecMode {
            replicated: Some(bollard::models::ServiceSpecModeReplicated {
                replicas: Some(replicas),
            }),
            ..Default::default()
        });
        let version = service.version.and_then(|v| v.index).unwrap_or_default();
        let options = bollard::query_parameters::UpdateServiceOptionsBuilder::default()
            .version(i32::try_from(version).unwrap_or(i32::MAX))
            .build();
        self.manager.update_service(id, spec, options, None).await?;
        Ok(())
    }

    /// Where named volumes live, or why there is no such place.
    fn volumes_root(&self, name: &str) -> Result<&std::path::Path, EngineError> {
        self.settings.volumes.as_deref().ok_or_else(|| {
            EngineError::Other(format!(
                "the volume {name}: this sagebox has no data directory to keep the swarm's volumes in"
            ))
        })
    }

    async fn labelled_services(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<bollard::models::Service>, EngineError> {
        let options = bollard::query_parameters::ListServicesOptionsBuilder::default()
            .filters(&HashMap::from([(
                "label",
                vec![format!("{label}={value}")],
            )]))
            .build();
        Ok(self.manager.list_services(Some(options)).await?)
    }
}

fn spec_labels(s: &bollard::models::Service) -> HashMap<String, String> {
    s.spec
        .as_ref()
        .and_then(|sp| sp.labels.clone())
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl ExecutionEngine for SwarmEngine {
    fn host(&self) -> &str {
        &self.settings.manager
    }

    fn shares_host_files(&self) -> bool {
        false
    }

    async fn info(&self) -> Result<EngineInfo, EngineError> {
        let version = self.manager.version().await?;
        let info = self.manager.info().await?;
        Ok(EngineInfo {
            host: self.settings.manager.clone(),
            server_version: version.version.unwrap_or_default(),
            api_version: self.manager.client_version().to_string(),
            rootless: false,
            cpus: info.ncpu.unwrap_or(0),
            memory_bytes: info.mem_total.unwrap_or(0),
            nvidia_runtime: info
                .runtimes
                .map(|r| r.contains_key("nvidia"))
                .unwrap_or(false),
            swarm: info.swarm.and_then(|sw| {
                Some(super::engine::SwarmMembership {
                    role: "manager".into(),
                    nodes: sw.nodes?,
                    managers: sw.managers.unwrap_or(0),
                    node_id: sw.node_id.unwrap_or_default(),
                })
            }),
        })
    }

    async fn image_for(
        &self,
        choice: &ImageChoice,
        progress: &Progress,
    ) -> Result<String, RuntimeError> {
        let local = self.local.image_for(choice, progress).await?;
        let mut pushed = self.pushed.lock().await;
        pushed
            .reference(&self.local, &local, &self.settings.registry, progress)
            .await
            .map_err(|detail| {
                RuntimeError::Build(BuildError::Failed {
                    image: local.clone(),
                    detail: format!(
                        "pushing it to the swarm's registry {} failed: {detail}",
                        self.settings.registry
                    ),
                })
            })
    }

    async fn bridge_gateway(&self) -> Option<IpAddr> {
        Some(self.settings.sagebox)
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let resp = self
            .manager
            .create_network(bollard::models::NetworkCreateRequest {
                name: name.into(),
                driver: Some("overlay".into()),
                attachable: Some(true),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await?;
        Ok(resp.id)
    }

    async fn ensure_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), EngineError> {
        let there = self
            .manager
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .is_ok();
        if there {
            return Ok(());
        }
        match self.create_network(name, labels).await {
            Ok(_)
            | Err(EngineError::Api {
                status: Some(409), ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        // the overlay goes once the tasks on it are gone: a service removed a moment ago may
        // still hold an endpoint on it
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.manager.remove_network(name).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("overlay {name} not removable yet: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        volumes::create(self.volumes_root(name)?, name, &labels)
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        volumes::remove(self.volumes_root(name)?, name).await
    }

    async fn run(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let spec = &volumes::map_binds(spec, self.settings.volumes.as_deref())?;
        if let Some(root) = &self.settings.volumes {
            volumes::ensure_dirs(spec, root)?;
        }
        let gpus = u32::try_from(spec.gpus.devices.len()).unwrap_or(u32::MAX);
        if gpus > 0 {
            self.check_gpus(gpus).await?;
        }
        let plan = self.plan_env(spec);
        let agent = self
            .pushed
            .lock()
            .await
            .agent_command()
            .unwrap_or_else(service::agent_prefix);
        let placement = service::Placement {
            sagebox: self.settings.sagebox,
            plan: plan.as_ref().map(|(k, v)| (*k, v.clone())),
            gpus,
            agent,
        };
        let service = service::service_spec(spec, &placement);
        let created = self.manager.create_service(service, None).await?;
        created
            .id
            .ok_or_else(|| EngineError::Other("the swarm created a service without an id".into()))
    }

    /// Runs the service's task again (a new task, on whichever node the swarm picks: the one
    /// it ran on may be gone).
    async fn start(&self, id: &str) -> Result<(), EngineError> {
        let service = self.manager.inspect_service(id, None).await?;
        self.scale(id, service, 1, |task| {
            task.force_update = Some(task.force_update.unwrap_or(0) + 1);
        })
        .await
    }

    async fn start_if_created(&self, _id: &str) -> Result<(), EngineError> {
        Ok(())
    }

    async fn running(&self, id: &str) -> Result<Option<bool>, EngineError> {
        // scheduled, pulling or starting counts as running: it has not ended
        Ok(self.progress(id).await?.map(|p| !p.ended()))
    }

    async fn wait(&self, id: &str) -> Result<i64, EngineError> {
        match self.ended(id).await? {
            Some(TaskProgress::Exited(code)) => Ok(code),
            Some(TaskProgress::Lost(why)) => Err(EngineError::Other(why)),
            Some(TaskProgress::NodeLost(why)) => Err(EngineError::NodeLost(why)),
            Some(_) => Ok(-1),
            None => Err(EngineError::Api {
                status: Some(404),
                message: format!("the service {id} is gone"),
            }),
        }
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<(), EngineError> {
        let service = match self.manager.inspect_service(id, None).await {
            Ok(s) => s,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if self.progress(id).await?.is_some_and(|p| p.ended()) {
            return Ok(());
        }
        // a synced bind (a notebook's home) gets at least a minute to come back
        let mut grace = grace;
        self.scale(id, service, 0, |task| {
            grace = service::set_stop_grace(task, grace);
        })
        .await?;
        let deadline = Instant::now() + grace + Duration::from_secs(15);
        while Instant::now() < deadline {
            match self.progress(id).await? {
                Some(p) if !p.ended() => tokio::time::sleep(Duration::from_millis(300)).await,
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), EngineError> {
        self.remove_service(id).await
    }

    async fn published_port(&self, id: &str, port: u16) -> Result<Option<u16>, EngineError> {
        if let Some(f) = self
            .forwards
            .lock()
            .ok()
            .and_then(|f| f.get(&(id.to_string(), port)).map(|f| f.port))
        {
            return Ok(Some(f));
        }
        if tasks::published(&self.manager, id, port).await?.is_none() {
            return Ok(None);
        }
        let (manager, service) = (self.manager.clone(), id.to_string());
        let resolve: forward::Resolve = Arc::new(move || {
            let (manager, service) = (manager.clone(), service.clone());
            Box::pin(async move {
                tasks::published(&manager, &service, port)
                    .await
                    .ok()
                    .flatten()
            })
        });
        let started = forward::Forward::start(resolve)
            .await
            .map_err(|e| EngineError::Other(format!("cannot listen on loopback: {e}")))?;
        let local = started.port;
        if let Ok(mut f) = self.forwards.lock() {
            f.insert((id.to_string(), port), started);
        }
        Ok(Some(local))
    }

    async fn containers_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<Listed>, EngineError> {
        Ok(self
            .labelled_services(label, value)
            .await?
            .into_iter()
            .filter_map(|s| {
                let labels = spec_labels(&s);
                let name = s.spec.as_ref().and_then(|sp| sp.name.clone())?;
                Some((s.id?, name, labels))
            })
            .collect())
    }

    async fn sweep(&self, owner: &str, keep: Keep<'_>) -> Result<usize, EngineError> {
        let mut removed = 0;
        for s in self.labelled_services(OWNER_LABEL, owner).await? {
            if keep(&spec_labels(&s)) {
                continue;
            }
            if let Some(id) = &s.id {
                self.remove_service(id).await?;
                removed += 1;
            }
        }
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
            .filters(&HashMap::from([(
                "label",
                vec![format!("{OWNER_LABEL}={owner}")],
            )]))
            .build();
        for net in self.manager.list_networks(Some(options)).await? {
            if keep(&net.labels.clone().unwrap_or_default()) {
                continue;
            }
            if let Some(name) = &net.name {
                self.remove_network(name).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Everything `owner` made, its named volumes (directories here) included.
    async fn purge(&self, owner: &str) -> Result<usize, EngineError> {
        let mut removed = self.sweep(owner, &|_| false).await?;
        if let Some(root) = &self.settings.volumes {
            for name in volumes::owned_by(root, owner)? {
                volumes::remove(root, &name).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn logs(&self, id: &str, follow: bool, since: i64) -> BoxStream<'static, LogLine> {
        let options = super::docker::log_options(follow, since);
        let lines = self
            .manager
            .service_logs(id, Some(options))
            .take_while(|r| std::future::ready(r.is_ok()))
            .filter_map(|r| std::future::ready(r.ok()))
            .flat_map(|out| {
                let stderr = matches!(out, bollard::container::LogOutput::StdErr { .. });
                futures_util::stream::iter(super::docker::parse_log_chunk(&out.to_string(), stderr))
            });
        if !follow {
            return lines.boxed();
        }
        // a service's log follow does not end with its task: end it once the task has ended
        // and what it wrote last has had a moment to arrive
        let (engine, service) = (self.clone(), id.to_string());
        let ended = async move {
            if let Err(e) = engine.ended(&service).await {
                tracing::debug!("following the logs of {service}: {e}");
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
        };
        lines.take_until(Box::pin(ended)).boxed()
    }
}
