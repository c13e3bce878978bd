//! The execution plane: the Docker engine (containers, networks, images), the GPUs NVML reports,
//! the instance-type table and the emulator images. Services ask this layer to run things; nothing
//! here knows about SageMaker's wire shapes.

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

/// Docker, GPU and image settings (flags and `SAGEBOX_*` variables).
#[derive(Debug, Clone, Default, Args)]
pub struct RuntimeOptions {
    /// What a GPU instance type does on a host without usable GPUs.
    #[arg(long, env = "SAGEBOX_GPU_FALLBACK", value_enum, default_value_t = GpuFallback::Fail)]
    pub gpu_fallback: GpuFallback,

    /// Let concurrent jobs share a GPU instead of waiting for a free one.
    #[arg(long, env = "SAGEBOX_GPU_SHARING", default_value_t = false)]
    pub gpu_sharing: bool,
}

pub mod docker;
pub mod doctor;
pub mod gpu;
pub mod images;
pub mod instance_types;
pub mod recipes;
pub mod uris;
pub mod wheelhouse;

use std::path::Path;
use std::sync::{Arc, Mutex};

use docker::{Engine, EngineError};
use gpu::GpuPool;
use images::{BuildError, ImageBuilder, Progress};
use instance_types::HostResources;
use uris::{ImageChoice, UnknownAwsImage};

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

/// The execution plane the services share: one engine connection (made when first needed, so
/// sagebox starts without Docker), the GPU pool, the image builder and the host's resources.
#[derive(Clone)]
pub struct Runtime {
    pub options: RuntimeOptions,
    /// This data directory's id: the `sagebox.owner` label of everything it creates.
    pub owner: String,
    pub host: HostResources,
    engine: Arc<tokio::sync::Mutex<Option<(Engine, ImageBuilder)>>>,
    pub gpus: Arc<Mutex<GpuPool>>,
    /// The port sagebox's API listens on (known once bound).
    api_port: Arc<std::sync::atomic::AtomicU16>,
}

impl Runtime {
    /// Reads (or creates) the instance id in `data_dir` and detects GPUs.
    pub fn open(options: RuntimeOptions, data_dir: &Path) -> std::io::Result<Runtime> {
        Ok(Runtime::new(options, instance_id(data_dir)?))
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

    /// The Docker bridge's gateway address (what host-gateway maps host.docker.internal to).
    pub async fn bridge_gateway(&self) -> Option<std::net::IpAddr> {
        let engine = self.engine().await.ok()?;
        let net = engine
            .docker()
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

    /// The engine, connecting on first use (and again after a failure: Docker may start later).
    pub async fn engine(&self) -> Result<Engine, EngineError> {
        Ok(self.connected().await?.0)
    }

    async fn connected(&self) -> Result<(Engine, ImageBuilder), EngineError> {
        let mut slot = self.engine.lock().await;
        if let Some(pair) = slot.as_ref() {
            return Ok(pair.clone());
        }
        let engine = Engine::connect().await?;
        let pair = (engine.clone(), ImageBuilder::new(engine));
        *slot = Some(pair.clone());
        Ok(pair)
    }

    /// The engine's state without contacting it: connected (with its version) or why not yet.
    pub fn engine_status(&self) -> serde_json::Value {
        match self.engine.try_lock() {
            Ok(slot) => match slot.as_ref() {
                Some((engine, _)) => serde_json::json!({ "status": "ok", "host": engine.host() }),
                None => serde_json::json!({ "status": "not_connected" }),
            },
            Err(_) => serde_json::json!({ "status": "connecting" }),
        }
    }

    pub async fn images(&self) -> Result<ImageBuilder, EngineError> {
        Ok(self.connected().await?.1)
    }

    /// The local image to run for `uri` (an AWS image URI or a user's own image), building an
    /// emulator image on first use with progress reported line by line.
    pub async fn image_for(&self, uri: &str, progress: &Progress) -> Result<String, RuntimeError> {
        match uris::resolve(uri)? {
            ImageChoice::Emulated { recipe } => {
                Ok(self.images().await?.ensure(recipe, progress).await?)
            }
            ImageChoice::AsGiven(reference) => {
                let engine = self.engine().await?;
                if engine.image_labels(&reference).await?.is_some() {
                    return Ok(reference);
                }
                progress(&format!("pulling {reference}"));
                let pulled = engine.pull(&reference).await;
                match pulled {
                    Ok(()) => Ok(reference),
                    Err(_) => Err(RuntimeError::ImageNotFound(reference)),
                }
            }
        }
    }

    /// Removes containers and networks this instance left behind that `keep` doesn't claim.
    pub async fn sweep(
        &self,
        keep: impl Fn(&std::collections::HashMap<String, String>) -> bool,
    ) -> Result<usize, EngineError> {
        self.engine().await?.sweep(&self.owner, keep).await
    }
}

/// The id stored in `<data-dir>/instance-id`, made on first start.
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
