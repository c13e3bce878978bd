//! The execution-engine trait: everything services ask of a container engine (containers,
//! networks, volumes, logs, published ports, image resolution), in sagebox's own types. Docker
//! (`docker::DockerEngine`) is the first implementation; unit tests use a fake one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use serde::Serialize;

use super::RuntimeError;
use super::gpu::GpuGrant;
use super::images::Progress;

pub const OWNER_LABEL: &str = "sagebox.owner";
pub const ARN_LABEL: &str = "sagebox.resource-arn";

/// The engine services hold: shared, cheap to clone.
pub type Engine = Arc<dyn ExecutionEngine>;

/// Decides, from an object's labels, whether a service re-adopts it (kept by a sweep).
pub type Keep<'a> = &'a (dyn Fn(&HashMap<String, String>) -> bool + Send + Sync);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no Docker engine answers at {host}: {detail}. Start Docker (e.g. `sudo systemctl start docker`, or Docker Desktop), or point DOCKER_HOST at a running engine"
    )]
    Unreachable { host: String, detail: String },
    /// The engine answered a call with an error; `status` is its HTTP status where it has one
    /// (404 gone, 409 conflict), so callers can tell those apart without naming the engine's
    /// client types.
    #[error("Docker: {message}")]
    Api {
        status: Option<u16>,
        message: String,
    },
    #[error("{0}")]
    Other(String),
    /// The machine (or engine) that ran the container was lost with it: a cluster's node.
    #[error("{0}")]
    NodeLost(String),
}

/// Facts about the engine for `doctor` and the console.
#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub host: String,
    pub server_version: String,
    pub api_version: String,
    pub rootless: bool,
    pub cpus: i64,
    pub memory_bytes: i64,
    /// Whether the engine knows an "nvidia" runtime (nvidia-container-toolkit installed).
    pub nvidia_runtime: bool,
    /// The Docker Swarm the engine belongs to, when it is an active node of one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmMembership>,
}

/// An engine's place in a Docker Swarm.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SwarmMembership {
    /// "manager" (it can schedule services) or "worker".
    pub role: String,
    pub nodes: i64,
    pub managers: i64,
    pub node_id: String,
}

impl SwarmMembership {
    /// What `doctor` and the startup log say about it: sagebox uses only this node for now.
    pub fn describe(&self) -> String {
        format!(
            "this engine is a {} of a Docker Swarm ({} nodes, {} managers); sagebox runs every container on this node only: to run jobs and endpoints across the swarm's nodes, start it with --engine swarm (see the README's \"Running on a Docker Swarm\")",
            self.role, self.nodes, self.managers
        )
    }
}

/// A container as a labelled listing returns it.
pub type Listed = (String, String, HashMap<String, String>);

/// What services need from a container engine. Every object created carries the labels
/// `OWNER_LABEL` and `ARN_LABEL` (from the spec) and is found again by them, never by name.
#[async_trait::async_trait]
pub trait ExecutionEngine: Send + Sync {
    /// Where the engine was reached, for health and the console.
    fn host(&self) -> &str;
    /// Whether a bind is the host directory itself, seen live by the container (FIFOs
    /// included); false where the content travels (the swarm's agent).
    fn shares_host_files(&self) -> bool {
        true
    }
    async fn info(&self) -> Result<EngineInfo, EngineError>;
    /// The local image to run for `uri` (an AWS image URI or a user's own image), building or
    /// pulling it first if needed, with progress reported line by line.
    async fn image_for(
        &self,
        choice: &super::uris::ImageChoice,
        progress: &Progress,
    ) -> Result<String, RuntimeError>;
    /// The address containers reach the host at (what host-gateway maps host.docker.internal to).
    async fn bridge_gateway(&self) -> Option<std::net::IpAddr>;

    /// A bridge network for one job or endpoint, labelled like its containers; returns its id.
    async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<String, EngineError>;
    /// Like `create_network`, but a network of that name already there is used.
    async fn ensure_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), EngineError>;
    /// Removes a network; one that is gone already is fine.
    async fn remove_network(&self, name: &str) -> Result<(), EngineError>;
    /// Creates a named volume (kept until `remove_volume`; an existing one is reused).
    async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError>;
    /// Removes a named volume and its data; one that is gone already is fine.
    async fn remove_volume(&self, name: &str) -> Result<(), EngineError>;

    /// Creates and starts a container; returns its id.
    async fn run(&self, spec: &ContainerSpec) -> Result<String, EngineError>;
    /// Starts an existing (exited) container again; its published ports may change.
    async fn start(&self, id: &str) -> Result<(), EngineError>;
    /// Starts the container if it was created but never started; one that ran is left alone.
    async fn start_if_created(&self, id: &str) -> Result<(), EngineError>;
    /// Whether the container is running; None when it is gone.
    async fn running(&self, id: &str) -> Result<Option<bool>, EngineError>;
    /// Waits for the container to exit; its exit code.
    async fn wait(&self, id: &str) -> Result<i64, EngineError>;
    /// SIGTERM, then SIGKILL after `grace`; a stopped or gone container is fine.
    async fn stop(&self, id: &str, grace: Duration) -> Result<(), EngineError>;
    /// Removes the container (forcibly); one that is gone already is fine.
    async fn remove(&self, id: &str) -> Result<(), EngineError>;
    /// The host port (on 127.0.0.1) that the container's `port`/tcp was published on.
    async fn published_port(&self, id: &str, port: u16) -> Result<Option<u16>, EngineError>;
    /// Containers carrying `label=value`, stopped ones included: (id, name, labels).
    async fn containers_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<Listed>, EngineError>;
    /// Removes what `owner` created and `keep` does not claim; how many objects went.
    async fn sweep(&self, owner: &str, keep: Keep<'_>) -> Result<usize, EngineError>;
    /// Removes everything `owner` created, named volumes included (`sagebox run` and test
    /// fixtures end with this); how many objects went.
    async fn purge(&self, owner: &str) -> Result<usize, EngineError> {
        self.sweep(owner, &|_| false).await
    }

    /// The container's output as lines; with `follow`, until it exits. `since` (epoch seconds;
    /// 0: from the start) skips what was written before it (re-attaching after a restart).
    fn logs(&self, id: &str, follow: bool, since: i64) -> BoxStream<'static, LogLine>;

    /// The last `n` lines the container wrote (for failure reasons).
    async fn last_lines(&self, id: &str, n: usize) -> Vec<String> {
        use futures_util::StreamExt;
        let mut lines: Vec<String> = self.logs(id, false, 0).map(|l| l.text).collect().await;
        let excess = lines.len().saturating_sub(n);
        lines.drain(..excess);
        lines
    }
}

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Milliseconds since the epoch, from the engine's timestamp (0 if it had none).
    pub timestamp_ms: i64,
    pub stderr: bool,
    pub text: String,
}

/// A bind mount from the host into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

/// Everything a container of sagebox's is created with.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// Replaces the image's entry point when set.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub binds: Vec<Bind>,
    pub labels: HashMap<String, String>,
    pub hostname: Option<String>,
    /// A network to join, with the aliases the container answers to there.
    pub network: Option<(String, Vec<String>)>,
    /// Container ports to publish on 127.0.0.1 with an ephemeral host port.
    pub publish: Vec<u16>,
    /// Map `host.docker.internal` to the host (Docker's host-gateway).
    pub host_gateway: bool,
    pub cpus: Option<u32>,
    pub memory_mib: Option<u64>,
    pub gpus: GpuGrant,
    pub shm_size_bytes: Option<i64>,
    /// The container paths of writable binds whose content must reach the host while the
    /// program runs, not only when it ends (checkpoints, a notebook's home). An engine whose
    /// binds are the host's own directories has nothing to do for them.
    pub sync_while_running: Vec<String>,
    /// Pipe-mode channels to feed inside the container, for an engine that cannot share a
    /// host FIFO with it (see `ExecutionEngine::shares_host_files`).
    pub pipes: Vec<PipeFeed>,
}

/// A Pipe-mode channel fed inside the container: FIFOs `<fifo_dir>/<channel>_<epoch>`, each
/// carrying every file of `source` (a host directory) in the order of their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeFeed {
    pub source: String,
    pub fifo_dir: String,
    pub channel: String,
    /// Each file wrapped as one RecordIO record.
    pub recordio: bool,
}
