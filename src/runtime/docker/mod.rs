//! The Docker engine, through bollard: connecting (DOCKER_HOST or the default socket, the API
//! version negotiated down to old engines), containers described by a `ContainerSpec`, per-job
//! networks, log streams and the label sweep. Every object sagebox creates carries the labels
//! `sagebox.owner` (this data directory's instance id) and `sagebox.resource-arn`, and is found
//! again by those labels, never by name.

mod containers;
mod logs;
pub use logs::{log_options, parse_chunk as parse_log_chunk};
mod networks;
pub mod paths;
mod spec;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::RuntimeError;
use super::engine::{
    ContainerSpec, EngineError, EngineInfo, ExecutionEngine, Keep, Listed, LogLine, SwarmMembership,
};
use super::images::{ImageBuilder, Progress};
use super::uris::ImageChoice;

/// One lock per image name, so that one image is built once at a time.
pub(super) type BuildLocks = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// A connected engine. Cheap to clone.
#[derive(Clone)]
pub struct DockerEngine {
    docker: Docker,
    host: String,
    builds: BuildLocks,
    /// How bind-mount sources map to the engine host's paths (sagebox may run in a container).
    paths: Arc<paths::HostPaths>,
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl DockerEngine {
    /// Connects and negotiates the API version; a clear error when nothing answers.
    pub async fn connect() -> Result<DockerEngine, EngineError> {
        let host = docker_host();
        let unreachable = |e: bollard::errors::Error| EngineError::Unreachable {
            host: host.clone(),
            detail: e.to_string(),
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| EngineError::Unreachable {
                host: host.clone(),
                detail: "no answer within 10 s".into(),
            })?
            .map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        let paths = Arc::new(paths::HostPaths::detect(&docker).await);
        Ok(DockerEngine {
            docker,
            host,
            builds: BuildLocks::default(),
            paths,
        })
    }

    /// Where the engine was reached (DOCKER_HOST or the default socket).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// How this process's paths map to the engine host's.
    pub fn host_paths(&self) -> &paths::HostPaths {
        &self.paths
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The image builder on this engine (sharing its per-image build locks).
    pub fn images(&self) -> ImageBuilder {
        ImageBuilder::new(self.clone())
    }

    pub(super) fn build_locks(&self) -> BuildLocks {
        self.builds.clone()
    }

    /// The same engine with a long timeout, for image imports and builds.
    pub fn long(&self) -> Docker {
        self.docker.clone().with_timeout(Duration::from_secs(3600))
    }

    pub async fn info(&self) -> Result<EngineInfo, EngineError> {
        let version = self.docker.version().await?;
        let info = self.docker.info().await?;
        let swarm = info.swarm.as_ref().and_then(|sw| {
            let active = sw.local_node_state == Some(bollard::models::LocalNodeState::ACTIVE);
            active.then(|| SwarmMembership {
                role: if sw.control_available == Some(true) {
                    "manager"
                } else {
                    "worker"
                }
                .into(),
                nodes: sw.nodes.unwrap_or(0),
                managers: sw.managers.unwrap_or(0),
                node_id: sw.node_id.clone().unwrap_or_default(),
            })
        });
        let rootless = info
            .security_options
            .unwrap_or_default()
            .iter()
            .any(|o| o.contains("name=rootless"));
        Ok(EngineInfo {
            host: self.host.clone(),
            server_version: version.version.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
            rootless,
            cpus: info.ncpu.unwrap_or(0),
            memory_bytes: info.mem_total.unwrap_or(0),
            nvidia_runtime: info
                .runtimes
                .map(|r| r.contains_key("nvidia"))
                .unwrap_or(false),
            swarm,
        })
    }

    /// The labels of the image `reference`, or None when the engine does not have it.
    pub async fn image_labels(
        &self,
        reference: &str,
    ) -> Result<Option<HashMap<String, String>>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(img) => Ok(Some(img.config.and_then(|c| c.labels).unwrap_or_default())),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls `reference` from its registry (where one is reachable).
    pub async fn pull(&self, reference: &str) -> Result<(), EngineError> {
        let options = bollard::query_parameters::CreateImageOptionsBuilder::default()
            .from_image(reference)
            .build();
        let long = self.long();
        let mut stream = long.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let info = item?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(EngineError::Other(e));
            }
        }
        Ok(())
    }

    /// The local image for `uri`: an emulator image built on first use, or the image given,
    /// pulled when the engine lacks it.
    pub async fn image_for(
        &self,
        choice: &ImageChoice,
        progress: &Progress,
    ) -> Result<String, RuntimeError> {
        match choice {
            ImageChoice::Emulated { recipe } => Ok(self.images().ensure(recipe, progress).await?),
            ImageChoice::AsGiven(reference) => {
                if self.image_labels(reference).await?.is_some() {
                    return Ok(reference.clone());
                }
                progress(&format!("pulling {reference}"));
                match self.pull(reference).await {
                    Ok(()) => Ok(reference.clone()),
                    Err(_) => Err(RuntimeError::ImageNotFound(reference.clone())),
                }
            }
        }
    }

    /// The default bridge's gateway address (what host-gateway maps host.docker.internal to).
    pub async fn bridge_gateway(&self) -> Option<std::net::IpAddr> {
        let net = self
            .docker
            .inspect_network(
                "bridge",
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .ok()?;
        // Older engines list only the subnet for the default bridge; its gateway is the first
        // address (docker0's).
        net.ipam?.config?.into_iter().find_map(|c| {
            c.gateway.and_then(|g| g.parse().ok()).or_else(|| {
                let subnet = c.subnet?;
                let base: std::net::Ipv4Addr = subnet.split('/').next()?.parse().ok()?;
                Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
                    u32::from(base).checked_add(1)?,
                )))
            })
        })
    }
}

// Each operation is an inherent method (in containers.rs, networks.rs, logs.rs) so the Docker
// integration tests and the CLI can call them without the trait; the impl forwards.
#[async_trait::async_trait]
impl ExecutionEngine for DockerEngine {
    fn host(&self) -> &str {
        &self.host
    }
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        DockerEngine::info(self).await
    }
    async fn image_for(
        &self,
        choice: &ImageChoice,
        progress: &Progress,
    ) -> Result<String, RuntimeError> {
        DockerEngine::image_for(self, choice, progress).await
    }
    async fn bridge_gateway(&self) -> Option<std::net::IpAddr> {
        DockerEngine::bridge_gateway(self).await
    }
    async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<String, EngineError> {
        DockerEngine::create_network(self, name, labels).await
    }
    async fn ensure_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), EngineError> {
        DockerEngine::ensure_network(self, name, labels).await
    }
    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        DockerEngine::remove_network(self, name).await
    }
    async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        DockerEngine::create_volume(self, name, labels).await
    }
    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        DockerEngine::remove_volume(self, name).await
    }
    async fn run(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        DockerEngine::run(self, spec).await
    }
    async fn start(&self, id: &str) -> Result<(), EngineError> {
        DockerEngine::start(self, id).await
    }
    async fn start_if_created(&self, id: &str) -> Result<(), EngineError> {
        DockerEngine::start_if_created(self, id).await
    }
    async fn running(&self, id: &str) -> Result<Option<bool>, EngineError> {
        DockerEngine::running(self, id).await
    }
    async fn wait(&self, id: &str) -> Result<i64, EngineError> {
        DockerEngine::wait(self, id).await
    }
    async fn stop(&self, id: &str, grace: Duration) -> Result<(), EngineError> {
        DockerEngine::stop(self, id, grace).await
    }
    async fn remove(&self, id: &str) -> Result<(), EngineError> {
        DockerEngine::remove(self, id).await
    }
    async fn published_port(&self, id: &str, port: u16) -> Result<Option<u16>, EngineError> {
        DockerEngine::published_port(self, id, port).await
    }
    async fn containers_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<Listed>, EngineError> {
        DockerEngine::containers_labelled(self, label, value).await
    }
    async fn sweep(&self, owner: &str, keep: Keep<'_>) -> Result<usize, EngineError> {
        DockerEngine::sweep(self, owner, keep).await
    }
    async fn purge(&self, owner: &str) -> Result<usize, EngineError> {
        let swept = DockerEngine::sweep(self, owner, |_| false).await?;
        Ok(swept + self.remove_volumes_of(owner).await?)
    }
    fn logs(&self, id: &str, follow: bool, since: i64) -> BoxStream<'static, LogLine> {
        DockerEngine::logs(self, id, follow, since)
    }
}

impl From<bollard::errors::Error> for EngineError {
    fn from(e: bollard::errors::Error) -> EngineError {
        let status = match &e {
            bollard::errors::Error::DockerResponseServerError { status_code, .. } => {
                Some(*status_code)
            }
            _ => None,
        };
        EngineError::Api {
            status,
            message: e.to_string(),
        }
    }
}
