//! The execution plane: the execution-engine trait services run containers through (Docker is
//! its implementation; a scripted fake stands in for it in unit tests), the GPUs NVML reports, the
//! instance-type table and the emulator images. Nothing here knows about SageMaker's wire shapes.

use clap::{Args, ValueEnum};

/// What happens when a job asks for GPUs and the host has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum GpuFallback {
    /// The job fails with a FailureReason saying no GPU was found.
    #[default]
    Fail,
    /// The job runs on CPU, with a warning in its log.
    Cpu,
}

/// Where sagebox runs containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum EngineKind {
    /// This machine's Docker engine (DOCKER_HOST).
    #[default]
    Local,
    /// A Docker Swarm: every instance a service on any node (see the README).
    Swarm,
}

/// Docker, GPU and image settings (flags and `SAGEBOX_*` variables).
#[derive(Debug, Clone, Default, Args)]
pub struct RuntimeOptions {
    /// Where containers run: this machine's Docker engine, or a Docker Swarm whose manager is
    /// --swarm-host, with images from --swarm-registry and sagebox at --cluster-address.
    #[arg(long, env = "SAGEBOX_ENGINE", value_enum, default_value_t = EngineKind::Local)]
    pub engine: EngineKind,

    /// The swarm manager's engine for --engine swarm (unix:///path or tcp://host:port).
    #[arg(long, env = "SAGEBOX_SWARM_HOST", value_name = "HOST")]
    pub swarm_host: Option<String>,

    /// The registry the swarm's nodes pull from (host:port, plain HTTP; listed in each node's
    /// insecure-registries): sagebox pushes the images it runs there.
    #[arg(long, env = "SAGEBOX_SWARM_REGISTRY", value_name = "HOST:PORT")]
    pub swarm_registry: Option<String>,

    /// The address every swarm node reaches sagebox at (one of this machine's addresses).
    #[arg(long, env = "SAGEBOX_CLUSTER_ADDRESS", value_name = "IP")]
    pub cluster_address: Option<std::net::IpAddr>,

    /// What a GPU instance type does on a host without usable GPUs.
    #[arg(long, env = "SAGEBOX_GPU_FALLBACK", value_enum, default_value_t = GpuFallback::Fail)]
    pub gpu_fallback: GpuFallback,

    /// Let concurrent jobs share a GPU instead of waiting for a free one.
    #[arg(long, env = "SAGEBOX_GPU_SHARING", default_value_t = false)]
    pub gpu_sharing: bool,

    /// The folder of wheels that script-mode jobs install requirements.txt from (offline);
    /// `sagebox wheels add PKG` fills it. Default: ~/.cache/sagebox/wheelhouse.
    #[arg(long, env = "SAGEBOX_WHEELHOUSE", value_name = "DIR")]
    pub wheelhouse: Option<std::path::PathBuf>,
}

impl RuntimeOptions {
    /// The user's wheelhouse folder (see `--wheelhouse`).
    pub fn wheelhouse_dir(&self) -> std::path::PathBuf {
        self.wheelhouse
            .clone()
            .unwrap_or_else(wheelhouse::user_default)
    }
}

/// Where script-mode containers find the user's wheelhouse and the host's Hugging Face cache.
pub const WHEELHOUSE_MOUNT: &str = "/opt/sagebox/wheelhouse";
pub const HF_HUB_MOUNT: &str = "/opt/sagebox/huggingface/hub";

/// The image a container runs, with what its kind of image needs beside it (the user's
/// wheelhouse and Hugging Face cache for script-mode images).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalImage {
    pub reference: String,
    pub env: Vec<(String, String)>,
    pub binds: Vec<engine::Bind>,
}

/// The host's Hugging Face hub cache: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub.
pub fn host_hf_hub_cache() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("HF_HUB_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HF_HOME").map(|h| std::path::PathBuf::from(h).join("hub")))
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".cache/huggingface/hub"))
        })?;
    dir.is_dir().then_some(dir)
}

pub mod docker;
pub mod doctor;
pub mod engine;
#[cfg(test)]
pub mod fake;
pub mod gpu;
pub mod images;
pub mod instance_types;
pub mod recipes;
pub mod registry;
pub mod swarm;
pub mod uris;
pub mod wheelhouse;

use std::path::Path;
use std::sync::{Arc, Mutex};

use docker::DockerEngine;
use engine::{Engine, EngineError};
use gpu::GpuPool;
use images::{BuildError, ImageBuilder, Progress};
use instance_types::HostResources;
use uris::UnknownAwsImage;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    UnknownImage(#[from] UnknownAwsImage),
    #[error(
        "the image {0} is not in the local Docker engine and could not be pulled; build it locally (docker build -t {0} .) or load it (docker load)"
    )]
    ImageNotFound(String),
}

/// The engine a runtime has reached: any engine, and the Docker one behind it when it is Docker
/// (for the image builder the CLI and the console list images with).
#[derive(Clone)]
struct Connected {
    engine: Engine,
    docker: Option<DockerEngine>,
}

/// The execution plane the services share: one engine connection (made when first needed, so
/// sagebox starts without Docker), the GPU pool, the image builder and the host's resources.
#[derive(Clone)]
pub struct Runtime {
    pub options: RuntimeOptions,
    /// This data directory's id: the `sagebox.owner` label of everything it creates.
    pub owner: String,
    pub host: HostResources,
    engine: Arc<tokio::sync::Mutex<Option<Connected>>>,
    pub gpus: Arc<Mutex<GpuPool>>,
    /// The port sagebox's API listens on (known once bound).
    api_port: Arc<std::sync::atomic::AtomicU16>,
    /// The data directory, for a runtime that keeps state there (`serve`).
    data_dir: Option<std::path::PathBuf>,
    /// Where the swarm engine keeps named volumes (`<data-dir>/swarm-volumes`): set with the
    /// data directory, and for `purge`, which removes them.
    swarm_volumes: Option<std::path::PathBuf>,
}

impl Runtime {
    /// Reads (or creates) the instance id in `data_dir` and detects GPUs.
    pub fn open(options: RuntimeOptions, data_dir: &Path) -> std::io::Result<Runtime> {
        Ok(Runtime {
            data_dir: Some(data_dir.to_path_buf()),
            swarm_volumes: Some(swarm::volumes::root_of(data_dir)),
            ..Runtime::new(options, instance_id(data_dir)?)
        })
    }

    /// A runtime that creates nothing it must find again (the CLI's `images` and `doctor`).
    pub fn new(options: RuntimeOptions, owner: String) -> Runtime {
        let report = gpu::detect();
        let host = HostResources::detect(report.devices.len() as u32);
        let gpus = Arc::new(Mutex::new(GpuPool::new(report, options.gpu_sharing)));
        Runtime {
            options,
            owner,
            host,
            engine: Arc::default(),
            gpus,
            api_port: Arc::default(),
            data_dir: None,
            swarm_volumes: None,
        }
    }

    /// A runtime on an engine that is ready already (a fake in tests, or another backend),
    /// instead of Docker connected on first use.
    pub fn with_engine(options: RuntimeOptions, owner: String, engine: Engine) -> Runtime {
        let connected = Connected {
            engine,
            docker: None,
        };
        Runtime {
            engine: Arc::new(tokio::sync::Mutex::new(Some(connected))),
            ..Runtime::new(options, owner)
        }
    }

    pub fn set_api_port(&self, port: u16) {
        self.api_port
            .store(port, std::sync::atomic::Ordering::Relaxed);
    }

    /// The port sagebox's API listens on (0 until bound).
    pub fn api_port(&self) -> u16 {
        self.api_port.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The URL containers use to reach sagebox's APIs.
    pub fn container_endpoint(&self) -> String {
        format!(
            "http://host.docker.internal:{}",
            self.api_port.load(std::sync::atomic::Ordering::Relaxed)
        )
    }

    /// The address containers reach the host at (host.docker.internal), if the engine has one.
    pub async fn bridge_gateway(&self) -> Option<std::net::IpAddr> {
        self.engine().await.ok()?.bridge_gateway().await
    }

    /// The engine, connecting to Docker on first use (and again after a failure: Docker may
    /// start later).
    pub async fn engine(&self) -> Result<Engine, EngineError> {
        Ok(self.connected().await?.engine)
    }

    async fn connected(&self) -> Result<Connected, EngineError> {
        let mut slot = self.engine.lock().await;
        if let Some(connected) = slot.as_ref() {
            return Ok(connected.clone());
        }
        let docker = DockerEngine::connect().await?;
        let engine: Engine = match self.options.engine {
            EngineKind::Local => {
                // said once, when sagebox first reaches the engine (at startup for `serve`)
                if let Ok(Some(swarm)) = docker.info().await.map(|i| i.swarm) {
                    tracing::warn!("{}", swarm.describe());
                }
                Arc::new(docker.clone())
            }
            EngineKind::Swarm => Arc::new(self.swarm(docker.clone()).await?),
        };
        let connected = Connected {
            engine,
            docker: Some(docker),
        };
        *slot = Some(connected.clone());
        Ok(connected)
    }

    /// The swarm engine the options describe; what is missing is named.
    async fn swarm(&self, local: DockerEngine) -> Result<swarm::SwarmEngine, EngineError> {
        let missing = |what: &str| {
            EngineError::Other(format!(
                "--engine swarm needs {what} (see the README's \"Running on a Docker Swarm\")"
            ))
        };
        let registry = self.options.swarm_registry.as_deref().ok_or_else(|| {
            missing("--swarm-registry HOST:PORT, the registry the nodes pull from")
        })?;
        let registry = registry::registry_address(registry).map_err(EngineError::Other)?;
        let sagebox = self.options.cluster_address.ok_or_else(|| {
            missing("--cluster-address IP, the address of this machine the nodes reach")
        })?;
        let manager = self
            .options
            .swarm_host
            .clone()
            .unwrap_or_else(|| local.host().to_string());
        // `purge` has no key and needs none: it starts nothing
        let key = match &self.data_dir {
            Some(dir) => crate::agent::plan::key_of_data_dir(dir)
                .map_err(|e| EngineError::Other(format!("cannot read the agent key: {e}")))?,
            None => Vec::new(),
        };
        let settings = swarm::SwarmSettings {
            manager,
            registry,
            sagebox,
            volumes: self.swarm_volumes.clone(),
        };
        let engine =
            swarm::SwarmEngine::connect(settings, local, key, self.api_port.clone()).await?;
        // the GPUs are the nodes', not this machine's: the pool stands for the swarm's and only
        // counts (the swarm queues a task until a node has its GPUs free), and `run` refuses
        // an instance no node can hold, naming what the nodes offer
        let nodes = engine.gpu_nodes().await.unwrap_or_default();
        if let Ok(mut pool) = self.gpus.lock() {
            *pool = GpuPool::for_swarm(gpu::swarm_report(&nodes));
        }
        tracing::info!(
            "running containers on the Docker Swarm managed at {} (images from {}, nodes reach sagebox at {})",
            engine::ExecutionEngine::host(&engine),
            self.options.swarm_registry.as_deref().unwrap_or_default(),
            sagebox
        );
        Ok(engine)
    }

    /// The engine's state without contacting it: connected (with its version) or why not yet.
    pub fn engine_status(&self) -> serde_json::Value {
        match self.engine.try_lock() {
            Ok(slot) => match slot.as_ref() {
                Some(c) => serde_json::json!({ "status": "ok", "host": c.engine.host() }),
                None => serde_json::json!({ "status": "not_connected" }),
            },
            Err(_) => serde_json::json!({ "status": "connecting" }),
        }
    }

    /// How this process's paths map to the Docker engine host's; None without a Docker engine.
    pub async fn host_paths(&self) -> Option<docker::paths::HostPaths> {
        let connected = self.connected().await.ok()?;
        Some(connected.docker?.host_paths().clone())
    }

    /// The Docker client of the engine (for exports); only a Docker engine has one.
    pub async fn docker(&self) -> Result<bollard::Docker, EngineError> {
        self.connected()
            .await?
            .docker
            .map(|d| d.long())
            .ok_or_else(|| EngineError::Other("this engine exports no images".into()))
    }

    /// The emulator-image builder; only a Docker engine has one.
    pub async fn images(&self) -> Result<ImageBuilder, EngineError> {
        self.connected()
            .await?
            .docker
            .map(|d| d.images())
            .ok_or_else(|| EngineError::Other("this engine builds no emulator images".into()))
    }

    /// Whether containers of `instance_type` get GPUs here: the type has some and NVML found some.
    pub fn gpu_instance(&self, instance_type: &str) -> bool {
        instance_types::allot(instance_type, &self.host).gpus > 0
            && self
                .gpus
                .lock()
                .is_ok_and(|pool| !pool.report().devices.is_empty())
    }

    /// The local image to run for `uri` (an AWS image URI or a user's own image) on
    /// `instance_type`, building an emulator image on first use with progress reported line by
    /// line. Framework images get their GPU variant on GPU instances, and say which real
    /// versions serve the requested ones.
    pub async fn image_for(
        &self,
        uri: &str,
        instance_type: &str,
        progress: &Progress,
    ) -> Result<LocalImage, RuntimeError> {
        let choice = match uris::resolve(uri)? {
            uris::ImageChoice::Emulated { recipe } if self.gpu_instance(instance_type) => {
                uris::ImageChoice::Emulated {
                    recipe: uris::gpu_variant(recipe),
                }
            }
            other => other,
        };
        if let Some(note) = uris::served_note(uri) {
            tracing::info!("{note}");
            progress(&note);
        }
        let reference = self.engine().await?.image_for(&choice, progress).await?;
        let mut image = LocalImage {
            reference,
            ..Default::default()
        };
        if let uris::ImageChoice::Emulated { recipe } = choice
            && (uris::is_framework(recipe) || recipe == "sklearn")
        {
            self.script_mode_extras(&mut image, uris::is_framework(recipe));
        }
        Ok(image)
    }

    /// The user's wheelhouse (read-only; made if missing so the bind works) and, for framework
    /// images, the host's Hugging Face cache, with the hub kept offline.
    fn script_mode_extras(&self, image: &mut LocalImage, framework: bool) {
        let wheels = self.options.wheelhouse_dir();
        if std::fs::create_dir_all(&wheels).is_ok() {
            image.binds.push(engine::Bind {
                host: wheels.display().to_string(),
                container: WHEELHOUSE_MOUNT.into(),
                read_only: true,
            });
            image
                .env
                .push(("SAGEBOX_WHEELHOUSE".into(), WHEELHOUSE_MOUNT.into()));
        }
        image.env.push((
            "SAGEBOX_WHEELHOUSE_HOST".into(),
            wheels.display().to_string(),
        ));
        if !framework {
            return;
        }
        for var in [
            "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE",
            "HF_DATASETS_OFFLINE",
        ] {
            image.env.push((var.into(), "1".into()));
        }
        match host_hf_hub_cache() {
            Some(hub) => {
                image.binds.push(engine::Bind {
                    host: hub.display().to_string(),
                    container: HF_HUB_MOUNT.into(),
                    read_only: true,
                });
                image.env.push(("HF_HUB_CACHE".into(), HF_HUB_MOUNT.into()));
                image
                    .env
                    .push(("SAGEBOX_HF_CACHE_HOST".into(), hub.display().to_string()));
            }
            None => image
                .env
                .push(("SAGEBOX_HF_CACHE_HOST".into(), String::new())),
        }
    }

    /// Removes containers and networks this instance left behind that `keep` doesn't claim.
    pub async fn sweep(
        &self,
        keep: impl Fn(&std::collections::HashMap<String, String>) -> bool + Send + Sync,
    ) -> Result<usize, EngineError> {
        self.engine().await?.sweep(&self.owner, &keep).await
    }
}

/// The id stored in `<data-dir>/instance-id`, made on first start.
/// Removes every container, network and volume the server of `data_dir` started (`sagebox
/// purge`); how many went. A data directory no server ran in, or no engine to ask, has nothing.
pub async fn purge_data_dir(
    data_dir: &Path,
    options: RuntimeOptions,
) -> Result<usize, EngineError> {
    let Ok(owner) = std::fs::read_to_string(data_dir.join("instance-id")) else {
        return Ok(0);
    };
    // no agent key (it starts nothing), but the swarm's volumes, which it removes
    let runtime = Runtime {
        swarm_volumes: Some(swarm::volumes::root_of(data_dir)),
        ..Runtime::new(options, owner.trim().to_string())
    };
    let engine = match runtime.engine().await {
        Ok(e) => e,
        Err(EngineError::Unreachable { .. }) => return Ok(0),
        Err(e) => return Err(e),
    };
    // Again after a moment while anything was there or a removal failed: the engine may finish
    // creating a network a killed server had asked for after the first listing, and a network
    // is refused while a container being removed still holds it.
    let (mut total, mut last_error) = (0, None);
    for _ in 0..3 {
        match engine.purge(owner.trim()).await {
            Ok(0) => return Ok(total),
            Ok(n) => {
                total += n;
                last_error = None;
            }
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    match last_error {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

fn instance_id(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("instance-id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            std::fs::create_dir_all(data_dir)?;
            let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
            std::fs::write(&path, format!("{id}\n"))?;
            Ok(id)
        }
    }
}
