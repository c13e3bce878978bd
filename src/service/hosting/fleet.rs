//! Serving containers for a model — what endpoints and batch transform jobs both run. A model's
//! containers (its PrimaryContainer, or the Containers of an inference pipeline) become, per
//! instance, one Docker container each, started with `serve`, the model data extracted once into
//! a read-only folder at /opt/ml/model, port 8080 published on 127.0.0.1, and output streamed to
//! CloudWatch Logs. An instance is ready when every container answers GET /ping with 200.

use crate::runtime::LocalImage;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::routes::{Instance, Member};
use crate::aws::model::typed::sagemaker::{
    ContainerDefinition, CreateModelInput, ModelCompressionType,
};
use crate::runtime::engine::{ARN_LABEL, Bind, ContainerSpec, Engine, OWNER_LABEL};
use crate::runtime::gpu::GpuGrant;
use crate::runtime::instance_types;
use crate::service::logs::{LogWriter, Resume};
use crate::service::training::staging;
use crate::service::{ServiceResult, Services, stored};
use crate::store::resources::Resource;

pub const MEMBER_LABEL: &str = "sagebox.member";
pub const INSTANCE_LABEL: &str = "sagebox.instance";
pub const GROUP_LABEL: &str = "sagebox.group";
pub const DEPLOYMENT_LABEL: &str = "sagebox.deployment";
pub const STREAM_LABEL: &str = "sagebox.log-stream";

/// The inference contract's port.
pub const SERVING_PORT: u16 = 8080;

/// One of a model's containers, ready to run: the local image and the model data folder.
#[derive(Debug, Clone)]
pub struct ServingContainer {
    pub image_uri: String,
    pub image: LocalImage,
    pub model_dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

/// What one set of serving containers (an endpoint's variant, a transform job) shares.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The endpoint's or job's ARN (the resource label).
    pub arn: String,
    /// Names the containers: `<name_prefix>-<instance>-<member>`.
    pub name_prefix: String,
    /// The Docker network the containers join.
    pub network: String,
    /// The variant name, or the job name: the `sagebox.group` label.
    pub group: String,
    pub deployment: String,
    pub instance_type: String,
    pub containers: Vec<ServingContainer>,
    pub log_group: String,
    /// Log streams are `<stream_prefix>/<container id>`.
    pub stream_prefix: String,
    pub health_timeout: Duration,
    /// What the containers serve, as failure reasons name it ("production variant AllTraffic",
    /// "inference component ic-a").
    pub serves: String,
    /// Per-instance resources in place of the instance type's: an inference component's
    /// ComputeResourceRequirements, for each of its copies.
    pub limits: Option<Limits>,
}

/// CPUs, memory and GPUs for one instance (one copy of an inference component).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub cpus: u32,
    pub memory_mib: u64,
    pub gpus: u32,
}

/// One container of a model as CreateModel describes it: image URI, model data URL, environment.
pub type ModelContainer = (String, Option<String>, Vec<(String, String)>);

/// The model's containers, in calling order.
pub fn model_containers(model: &Resource) -> ServiceResult<Vec<ModelContainer>> {
    let request: CreateModelInput = stored(&format!("model {}", model.name), &model.request)?;
    let list = match crate::service::registry::resolved_containers(&model.derived) {
        Some(resolved) => resolved,
        None => match request.primary_container {
            Some(c) => vec![c],
            None => request.containers.unwrap_or_default(),
        },
    };
    Ok(list.into_iter().map(model_container).collect())
}

fn model_container(c: ContainerDefinition) -> ModelContainer {
    let data = c.model_data_url.or_else(|| {
        // ModelDataSource: an uncompressed S3 prefix (a trailing slash marks it)
        let source = c.model_data_source?.s3_data_source?;
        let uri = source.s3_uri?;
        let compressed = source.compression_type == Some(ModelCompressionType::Gzip);
        Some(if compressed || uri.ends_with('/') {
            uri
        } else {
            format!("{uri}/")
        })
    });
    let env = c.environment.unwrap_or_default().into_iter().collect();
    (c.image.unwrap_or_default(), data, env)
}

/// Resolves the model's images (built on first use) and its model data (extracted once).
pub async fn prepare(
    services: &Services,
    model: &Resource,
    instance_type: &str,
    log: &LogWriter,
) -> Result<Vec<ServingContainer>, String> {
    let containers = model_containers(model).map_err(|e| e.to_string())?;
    let out = prepare_containers(services, containers, instance_type, log).await?;
    if out.is_empty() {
        return Err(format!("The model {} has no containers.", model.name));
    }
    Ok(out)
}

/// Resolves each container's image (built on first use) and model data (extracted once).
pub async fn prepare_containers(
    services: &Services,
    containers: Vec<ModelContainer>,
    instance_type: &str,
    log: &LogWriter,
) -> Result<Vec<ServingContainer>, String> {
    let mut out = Vec::new();
    for (image_uri, data, env) in containers {
        let progress_log = log.clone();
        let progress: crate::runtime::images::Progress =
            Arc::new(move |line: &str| progress_log.line(&format!("[sagebox image] {line}")));
        let image = services
            .runtime
            .image_for(&image_uri, instance_type, &progress)
            .await
            .map_err(|e| format!("Failed to resolve image {image_uri}: {e}"))?;
        let model_dir = match data {
            Some(uri) => Some(model_data_dir(services, &uri).await?),
            None => None,
        };
        out.push(ServingContainer {
            image_uri,
            image,
            model_dir,
            env,
        });
    }
    Ok(out)
}

/// The folder holding a model's data: a model.tar.gz extracted (once per object version), or the
/// objects under an uncompressed S3 prefix hard-linked.
async fn model_data_dir(services: &Services, uri: &str) -> Result<PathBuf, String> {
    let Some((bucket, key)) = staging::parse_s3_uri(uri) else {
        return Err(format!("The model data URL {uri} is not an s3:// URL."));
    };
    let root = services.config.data_dir.join("hosting").join("model-data");
    if key.is_empty() || key.ends_with('/') {
        let objects = staging::resolve_source(&services.objects, "S3Prefix", uri).await?;
        let mut h = Sha256::new();
        for o in &objects {
            h.update(o.rel.display().to_string().as_bytes());
            h.update(o.file.display().to_string().as_bytes());
        }
        let dir = root.join(hex::encode(&h.finalize()[..12]));
        if !done_marker(&dir).exists() {
            let d = dir.clone();
            tokio::task::spawn_blocking(move || {
                staging::link_channel(&d, &objects, false)?;
                std::fs::write(done_marker(&d), b"")
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("Could not stage the model data from {uri}: {e}"))?;
        }
        return Ok(dir);
    }
    let (row, file) = services.objects.object(&bucket, &key).await.map_err(|_| {
        format!(
            "Failed to download model data from {uri}: the object does not exist. Check the model's ModelDataUrl."
        )
    })?;
    let mut h = Sha256::new();
    h.update(uri.as_bytes());
    h.update(row.etag.as_bytes());
    let dir = root.join(hex::encode(&h.finalize()[..12]));
    if done_marker(&dir).exists() {
        return Ok(dir);
    }
    let (d, u) = (dir.clone(), uri.to_string());
    tokio::task::spawn_blocking(move || {
        // The file read must still be the object's afterwards (a deleted object's file may be
        // written again as another's; see `objects::still_at`).
        let opened = std::fs::File::open(&file)?;
        extract(&file, &d)?;
        crate::service::objects::still_at(&file, &opened).inspect_err(|_| {
            // What was extracted may not be this object's: not kept under its name.
            std::fs::remove_dir_all(&d).ok();
        })
    })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| {
            format!("Failed to extract model data archive from {u}: {e}. ModelDataUrl must point to a tar.gz file.")
        })?;
    Ok(dir)
}

/// Extracts a tar.gz (or plain tar) into `dir` through a temporary folder, so that a half
/// extracted model is never used; `tar` refuses members that would land outside the folder.
fn extract(archive: &Path, dir: &Path) -> std::io::Result<()> {
    use std::io::Read;
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut magic = [0u8; 2];
    let gz = std::fs::File::open(archive)?.read(&mut magic)? == 2 && magic == [0x1f, 0x8b];
    let file = std::fs::File::open(archive)?;
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    std::fs::create_dir_all(&tmp)?;
    let result = tar::Archive::new(reader).unpack(&tmp);
    if let Err(e) = result {
        // the unpack error is the one worth reporting; a leftover temp dir is only disk space
        std::fs::remove_dir_all(&tmp).ok();
        return Err(e);
    }
    if std::fs::rename(&tmp, dir).is_err() {
        // another deployment extracted the same data meanwhile; ours is a spare copy
        std::fs::remove_dir_all(&tmp).ok();
    }
    std::fs::write(done_marker(dir), b"")
}

/// Marks a model data folder as complete (beside it: the container sees only the model).
fn done_marker(dir: &Path) -> PathBuf {
    dir.with_extension("complete")
}

/// A started instance: its route entry and the tasks copying its containers' logs.
pub struct Started {
    pub instance: Arc<Instance>,
    pub pumps: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    fn labels(&self, services: &Services, index: usize) -> HashMap<String, String> {
        HashMap::from([
            (OWNER_LABEL.to_string(), services.runtime.owner.clone()),
            (ARN_LABEL.to_string(), self.arn.clone()),
            (GROUP_LABEL.to_string(), self.group.clone()),
            (DEPLOYMENT_LABEL.to_string(), self.deployment.clone()),
            (INSTANCE_LABEL.to_string(), index.to_string()),
        ])
    }

    /// Starts instance `index` (every container of the model) and waits until each passes
    /// /ping. On failure its containers are removed and the reason names the last log lines.
    pub async fn start_instance(
        &self,
        services: &Services,
        engine: &Engine,
        index: usize,
        gpus: GpuGrant,
    ) -> Result<Started, String> {
        let allot = instance_types::allot(&self.instance_type, &services.runtime.host);
        let (cpus, memory_mib) = self
            .limits
            .map_or((allot.cpus, allot.memory_mib), |l| (l.cpus, l.memory_mib));
        let mut members = Vec::new();
        let mut pumps = Vec::new();
        let mut ids = Vec::new();
        for (m, c) in self.containers.iter().enumerate() {
            let mut labels = self.labels(services, index);
            labels.insert(MEMBER_LABEL.into(), m.to_string());
            let mut env = c.image.env.clone();
            env.extend(c.env.iter().cloned());
            env.extend(services.callback_env());
            let name = format!("{}-{index}-{m}", self.name_prefix);
            let spec = ContainerSpec {
                name: name.clone(),
                image: c.image.reference.clone(),
                cmd: vec!["serve".into()],
                env,
                binds: c
                    .model_dir
                    .iter()
                    .map(|d| Bind {
                        host: d.display().to_string(),
                        container: "/opt/ml/model".into(),
                        read_only: true,
                    })
                    .chain(c.image.binds.iter().cloned())
                    .collect(),
                labels,
                network: Some((self.network.clone(), vec![name.clone()])),
                publish: vec![SERVING_PORT],
                host_gateway: true,
                cpus: Some(cpus),
                memory_mib: Some(memory_mib),
                gpus: gpus.clone(),
                shm_size_bytes: Some(1 << 30),
                ..Default::default()
            };
            let id = match engine.run(&spec).await {
                Ok(id) => id,
                Err(e) => {
                    remove_all(engine, &ids).await;
                    return Err(format!(
                        "Could not start a container for {}: {e}",
                        c.image_uri
                    ));
                }
            };
            ids.push(id.clone());
            let stream = format!("{}/{}", self.stream_prefix, &id[..id.len().min(12)]);
            pumps.push(pump_logs(
                services,
                engine,
                &id,
                &self.log_group,
                &stream,
                false,
            ));
            let port = engine
                .published_port(&id, SERVING_PORT)
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
            members.push(Member {
                container_id: id,
                container_name: name,
                port: AtomicU16::new(port),
                log_stream: stream,
            });
        }
        let instance = Instance::new(members);
        for (m, member) in instance.members.iter().enumerate() {
            if let Err(e) = wait_ready(services, engine, member, self.health_timeout).await {
                remove_all(engine, &ids).await;
                let role = if self.containers.len() > 1 {
                    format!("container {}", m + 1)
                } else {
                    "primary container".into()
                };
                return Err(format!(
                    "The {role} for {} did not pass the ping health check: {e}",
                    self.serves
                ));
            }
        }
        Ok(Started {
            instance: Arc::new(instance),
            pumps,
        })
    }
}

pub async fn remove_all(engine: &Engine, ids: &[String]) {
    let removals = ids.iter().map(|id| engine.remove(id));
    futures_util::future::join_all(removals).await;
}

/// Copies a container's output to a log stream until the container stops. A re-adopted
/// container (`resumed`) continues from the stream's last event, so what it printed while
/// sagebox was down is stored too, once.
pub fn pump_logs(
    services: &Services,
    engine: &Engine,
    id: &str,
    group: &str,
    stream: &str,
    resumed: bool,
) -> tokio::task::JoinHandle<()> {
    let (log, task) = LogWriter::new(services, group, stream);
    let (services, engine, id) = (services.clone(), engine.clone(), id.to_string());
    let (group, stream) = (group.to_string(), stream.to_string());
    tokio::spawn(async move {
        let mut resume = if resumed {
            services
                .log_resume_or_now(&group, std::slice::from_ref(&stream))
                .await
        } else {
            Resume::default()
        };
        let mut lines = Box::pin(engine.logs(&id, true, resume.since));
        while let Some(line) = lines.next().await {
            if resume.already_stored(line.timestamp_ms, &line.text) {
                continue;
            }
            log.event(line.timestamp_ms, line.text);
        }
        drop(log);
        if let Err(e) = task.await {
            tracing::debug!("log writer of container {id} ended abnormally: {e}");
        }
    })
}

/// Polls GET /ping until it answers 200; fails early when the container exits, or at the
/// deadline, with the container's last log lines.
pub async fn wait_ready(
    services: &Services,
    engine: &Engine,
    member: &Member,
    timeout: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    let id = &member.container_id;
    loop {
        let port = match member.port.load(Ordering::Relaxed) {
            0 => {
                let p = engine
                    .published_port(id, SERVING_PORT)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                member.port.store(p, Ordering::Relaxed);
                p
            }
            p => p,
        };
        if port != 0 && services.hosting.ping(port).await {
            return Ok(());
        }
        if engine.running(id).await.ok().flatten() != Some(true) {
            let code = engine.wait(id).await.unwrap_or(-1);
            return Err(format!(
                "the container exited with code {code} before answering /ping. {}",
                last_lines(engine, id).await
            ));
        }
        if started.elapsed() >= timeout {
            return Err(format!(
                "no 200 from GET /ping within {} seconds. {}",
                timeout.as_secs(),
                last_lines(engine, id).await
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn last_lines(engine: &Engine, id: &str) -> String {
    let lines = engine.last_lines(id, 8).await;
    if lines.is_empty() {
        "The container wrote no log lines.".into()
    } else {
        format!("Last log lines: {}", lines.join(" | "))
    }
}
