//! Starting a processing job: the image, the instances' resources, the inputs staged for each
//! host (File mode as hard links or small copies, Pipe mode as FIFOs, Gzip objects unpacked,
//! ShardedByS3Key split by key), /opt/ml/config/{resourceconfig,processingjobconfig}.json, then
//! the network and one container per instance.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::supervisor::{HOST_LABEL, Job, STREAM_LABEL, job_labels, job_log};
use crate::aws::model::typed::sagemaker::{
    ProcessingInput, ProcessingS3CompressionType, ProcessingS3DataDistributionType as Distribution,
    ProcessingS3DataType, ProcessingS3InputMode,
};
use crate::aws::time::now_epoch;
use crate::runtime::LocalImage;
use crate::runtime::engine::{Bind, ContainerSpec, Engine, PipeFeed};
use crate::runtime::gpu::GpuGrant;
use crate::runtime::instance_types::{self, Allotment};
use crate::service::Services;
use crate::service::failure::FailureReason;
use crate::service::logs::LogWriter as JobLog;
use crate::service::training::StopRequest;
use crate::service::training::staging::{self, ChannelObject};

/// Inputs up to this size are copied for each host and mounted writable, as SageMaker's are;
/// larger ones are hard links into the object store, bound read-only.
const COPIED_INPUT_BYTES: u64 = 16 << 20;

/// Image, GPUs, inputs, config files, network and containers. Returns the engine and the
/// started containers as (host, id); an Err is the job's FailureReason.
pub(super) async fn launch(
    services: &Services,
    job: &mut Job,
    stop: &mut watch::Receiver<StopRequest>,
) -> Result<(Engine, Vec<(String, String)>), FailureReason> {
    let (log, _log_task) = job_log(services, job);
    let engine = services
        .runtime
        .engine()
        .await
        .map_err(|e| FailureReason::InternalServerError(e.to_string()))?;
    let image = processing_image(services, job, &log).await?;
    let allot = allot_resources(services, job, &log)?;
    check_output_buckets(services, job).await?;
    prepare_host_dirs(job)?;
    let mut inputs = Inputs {
        binds: vec![Vec::new(); job.hosts.len()],
        pipes: vec![Vec::new(); job.hosts.len()],
        shares_host_files: engine.shares_host_files(),
    };
    for input in job.members.processing_inputs.iter().flatten() {
        stage_input(services, job, input, &mut inputs, &log).await?;
    }
    write_config_files(job)?;
    start_containers(services, &engine, job, &image, &allot, &inputs, stop)
        .await
        .map(|ids| (engine, ids))
}

/// AppSpecification.ImageUri: AWS URIs run sagebox's emulator images, built on first use with
/// the build's progress in the job's log; any other name runs as given.
async fn processing_image(
    services: &Services,
    job: &Job,
    log: &JobLog,
) -> Result<LocalImage, FailureReason> {
    let uri = job
        .members
        .app_specification
        .as_ref()
        .and_then(|a| a.image_uri.clone())
        .unwrap_or_default();
    let progress_log = log.clone();
    let progress: crate::runtime::images::Progress =
        Arc::new(move |line: &str| progress_log.line(&format!("[sagebox image] {line}")));
    services
        .runtime
        .image_for(&uri, &job.instance_type, &progress)
        .await
        .map_err(|e| FailureReason::ClientError(e.to_string()))
}

/// The instance type's CPUs and memory, capped at the host's; GPUs from the pool.
fn allot_resources(
    services: &Services,
    job: &mut Job,
    log: &JobLog,
) -> Result<Allotment, FailureReason> {
    let allot = instance_types::allot(&job.instance_type, &services.runtime.host);
    for note in &allot.capped {
        log.line(&format!("[sagebox] {note}"));
    }
    let wanted = allot.gpus * job.hosts.len() as u32;
    job.gpus = services
        .grant_gpus(&job.arn, &job.instance_type, wanted, |w| {
            log.line(&format!("[sagebox] {w}"))
        })
        .map_err(FailureReason::CapacityError)?;
    Ok(allot)
}

/// Every output's bucket must exist before the job runs for nothing.
async fn check_output_buckets(services: &Services, job: &Job) -> Result<(), FailureReason> {
    let outputs = job
        .members
        .processing_output_config
        .as_ref()
        .and_then(|c| c.outputs.as_ref());
    for o in outputs.into_iter().flatten() {
        let uri = o
            .s3_output
            .as_ref()
            .and_then(|s| s.s3_uri.as_deref())
            .unwrap_or_default();
        if let Some((bucket, _)) = staging::parse_s3_uri(uri)
            && services.objects.bucket(&bucket).await.is_err()
        {
            return Err(FailureReason::ClientError(format!(
                "The S3 bucket \"{bucket}\" of output {} ({uri}) does not exist. Create the bucket or choose another S3Uri.",
                o.output_name.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Each host's /opt/ml tree: config, output, and every output's LocalPath.
fn prepare_host_dirs(job: &Job) -> Result<(), FailureReason> {
    let outputs = job
        .members
        .processing_output_config
        .as_ref()
        .and_then(|c| c.outputs.as_ref());
    for host in &job.hosts {
        let mut dirs = vec![
            job.host_dir(host).join("config"),
            job.host_dir(host).join("output"),
            job.local_dir(host, super::PROCESSING_ROOT),
        ];
        for o in outputs.into_iter().flatten() {
            if let Some(p) = o.s3_output.as_ref().and_then(|s| s.local_path.as_deref()) {
                dirs.push(job.local_dir(host, p));
            }
        }
        for d in dirs {
            std::fs::create_dir_all(&d).map_err(|e| {
                FailureReason::InternalServerError(format!("cannot prepare the job's files: {e}"))
            })?;
        }
    }
    Ok(())
}

/// Each instance's inputs: binds, and where the engine does not share host files with the
/// container (the swarm), the Pipe-mode inputs its agent feeds.
struct Inputs {
    binds: Vec<Vec<Bind>>,
    pipes: Vec<Vec<PipeFeed>>,
    shares_host_files: bool,
}

/// One S3Input, staged for every host at its LocalPath.
async fn stage_input(
    services: &Services,
    job: &Job,
    input: &ProcessingInput,
    inputs: &mut Inputs,
    log: &JobLog,
) -> Result<(), FailureReason> {
    let name = input.input_name.as_deref().unwrap_or("input");
    let Some(s3) = &input.s3_input else {
        return Ok(());
    };
    let uri = s3.s3_uri.as_deref().unwrap_or_default();
    let local = s3
        .local_path
        .clone()
        .unwrap_or_else(|| format!("{}/input/{name}", super::PROCESSING_ROOT));
    let data_type = s3.s3_data_type.unwrap_or(ProcessingS3DataType::S3Prefix);
    let distribution = s3
        .s3_data_distribution_type
        .unwrap_or(Distribution::FullyReplicated);
    let mode = s3.s3_input_mode.unwrap_or(ProcessingS3InputMode::File);
    let started = Instant::now();
    let mut objects = staging::resolve_source(&services.objects, data_type.as_str(), uri)
        .await
        .map_err(|e| FailureReason::parse(&e))?;
    if s3.s3_compression_type == Some(ProcessingS3CompressionType::Gzip) {
        let dir = job.dir.join("gunzipped").join(name);
        objects = tokio::task::spawn_blocking(move || gunzip_all(&dir, objects))
            .await
            .map_err(|e| FailureReason::InternalServerError(e.to_string()))?
            .map_err(|e| {
                FailureReason::ClientError(format!(
                    "Input {name}: cannot unpack its Gzip objects: {e}"
                ))
            })?;
    }
    let total: u64 = objects.iter().map(|o| o.size).sum();
    let writable = total <= COPIED_INPUT_BYTES;
    let sharded = distribution == Distribution::ShardedByS3Key;
    for (i, host) in job.hosts.iter().enumerate() {
        let mine = staging::shard(&objects, distribution.as_str(), i, job.hosts.len());
        if mode == ProcessingS3InputMode::Pipe && !inputs.shares_host_files {
            // the agent feeds <LocalPath>_0, _1, … from the objects linked in key order
            let local_path = Path::new(&local);
            let (Some(fifo_dir), Some(base)) = (local_path.parent(), local_path.file_name()) else {
                continue;
            };
            let dir = job.dir.join("inputs").join(format!("{name}-{host}-pipe"));
            link_input(&dir, staging::in_feed_order(&mine), false, name).await?;
            inputs.pipes[i].push(PipeFeed {
                source: dir.display().to_string(),
                fifo_dir: fifo_dir.display().to_string(),
                channel: base.to_string_lossy().into_owned(),
                recordio: false,
            });
            continue;
        }
        if mode == ProcessingS3InputMode::Pipe {
            // FIFOs <LocalPath>_0, _1, … beside LocalPath, as training's <channel>_<epoch>
            let target = job.local_dir(host, &local);
            let (Some(dir), Some(base)) = (target.parent(), target.file_name()) else {
                continue;
            };
            std::fs::create_dir_all(dir).map_err(|e| {
                FailureReason::InternalServerError(format!("staging input {name}: {e}"))
            })?;
            let (dir, base) = (dir.to_path_buf(), base.to_string_lossy().into_owned());
            let stop = job.feeders_stop.clone();
            tokio::task::spawn_blocking(move || staging::feed_pipe(dir, base, mine, false, stop));
            continue;
        }
        let own = sharded || writable;
        let dir = if own {
            job.dir.join("inputs").join(format!("{name}-{host}"))
        } else {
            job.dir.join("inputs").join(name)
        };
        if i == 0 || own {
            link_input(&dir, mine, writable, name).await?;
        }
        inputs.binds[i].push(Bind {
            host: dir.display().to_string(),
            container: local.clone(),
            read_only: !writable,
        });
    }
    log.line(&format!(
        "[sagebox] input {name}: {} objects, {total} bytes from {uri} ({mode} mode, {distribution}) staged at {local} in {} ms",
        objects.len(),
        started.elapsed().as_millis()
    ));
    Ok(())
}

/// `staging::link_channel` off the async workers, failing the job.
async fn link_input(
    dir: &Path,
    objects: Vec<ChannelObject>,
    copy: bool,
    name: &str,
) -> Result<u64, FailureReason> {
    staging::link_channel_off_thread(dir.to_path_buf(), objects, copy)
        .await
        .map_err(|e| FailureReason::InternalServerError(format!("staging input {name}: {e}")))
}

/// S3CompressionType Gzip: each object unpacked into `dir` (a `.gz` suffix dropped).
fn gunzip_all(dir: &Path, objects: Vec<ChannelObject>) -> std::io::Result<Vec<ChannelObject>> {
    let mut out = Vec::new();
    for o in objects {
        let rel = match o.rel.to_str().and_then(|s| s.strip_suffix(".gz")) {
            Some(stem) if !stem.is_empty() => PathBuf::from(stem),
            _ => o.rel.clone(),
        };
        let dest = dir.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut reader = flate2::read::MultiGzDecoder::new(std::fs::File::open(&o.file)?);
        let mut writer = std::fs::File::create(&dest)?;
        let size = std::io::copy(&mut reader, &mut writer)?;
        out.push(ChannelObject {
            rel,
            file: dest,
            size,
        });
    }
    Ok(out)
}

/// /opt/ml/config: resourceconfig.json as for training, and processingjobconfig.json, the
/// job's request with its ARN.
fn write_config_files(job: &Job) -> Result<(), FailureReason> {
    let mut config = job.request.clone();
    if let Value::Object(m) = &mut config {
        m.insert("ProcessingJobArn".into(), json!(job.arn));
        m.insert("ProcessingJobName".into(), json!(job.name));
    }
    for host in &job.hosts {
        let cfg = job.host_dir(host).join("config");
        let write = |file: &str, v: &Value| {
            staging::write_json(&cfg.join(file), v)
                .map_err(|e| FailureReason::InternalServerError(format!("writing {file}: {e}")))
        };
        write(
            "resourceconfig.json",
            &staging::resourceconfig_json(host, &job.hosts, &job.instance_type),
        )?;
        write("processingjobconfig.json", &config)?;
    }
    Ok(())
}

/// The job's network, then one container per instance (algo-1, algo-2, …); ProcessingStartTime
/// is saved just before the first starts.
async fn start_containers(
    services: &Services,
    engine: &Engine,
    job: &Job,
    image: &LocalImage,
    allot: &Allotment,
    inputs: &Inputs,
    stop: &mut watch::Receiver<StopRequest>,
) -> Result<Vec<(String, String)>, FailureReason> {
    let labels = job_labels(services, job);
    engine
        .create_network(&job.network, &labels)
        .await
        .map_err(|e| {
            FailureReason::InternalServerError(format!("cannot create the job's network: {e}"))
        })?;
    let mut env: Vec<(String, String)> = job
        .members
        .environment
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(services.callback_env());
    let start = now_epoch();
    services
        .note_processing(&job.name, |d| {
            d.insert("ProcessingStartTime".into(), json!(start));
        })
        .await;
    if *stop.borrow() == StopRequest::Stop {
        return Ok(Vec::new());
    }
    let mut started = Vec::new();
    for (i, host) in job.hosts.iter().enumerate() {
        let spec = container_spec(job, i, image, allot, &env, &labels, inputs);
        let id = engine
            .run(&spec)
            .await
            .map_err(|e| FailureReason::InternalServerError(format!("cannot start {host}: {e}")))?;
        started.push((host.clone(), id));
    }
    Ok(started)
}

/// Instance `i` (algo-<i+1>): its /opt/ml, its inputs, its share of the job's GPUs, and
/// AppSpecification's entry point and arguments over the image's.
fn container_spec(
    job: &Job,
    i: usize,
    image: &LocalImage,
    allot: &Allotment,
    env: &[(String, String)],
    labels: &std::collections::HashMap<String, String>,
    inputs: &Inputs,
) -> ContainerSpec {
    let host = job.hosts[i].as_str();
    let mut binds = vec![Bind {
        host: job.host_dir(host).display().to_string(),
        container: "/opt/ml".into(),
        read_only: false,
    }];
    binds.extend(inputs.binds[i].iter().cloned());
    binds.extend(image.binds.iter().cloned());
    let mut labels = labels.clone();
    labels.insert(HOST_LABEL.into(), host.to_string());
    labels.insert(STREAM_LABEL.into(), job.streams[i].clone());
    let gpus = if job.gpus.devices.is_empty() {
        GpuGrant::default()
    } else {
        let per = job.gpus.devices.len() / job.hosts.len();
        GpuGrant {
            devices: job.gpus.devices[i * per..(i + 1) * per].to_vec(),
        }
    };
    let app = job.members.app_specification.as_ref();
    ContainerSpec {
        name: format!("{}-{host}", job.network),
        image: image.reference.clone(),
        entrypoint: app.and_then(|a| a.container_entrypoint.clone()),
        cmd: app
            .and_then(|a| a.container_arguments.clone())
            .unwrap_or_default(),
        env: image.env.iter().chain(env).cloned().collect(),
        binds,
        labels,
        hostname: Some(host.to_string()),
        network: Some((job.network.clone(), vec![host.to_string()])),
        host_gateway: true,
        cpus: Some(allot.cpus),
        memory_mib: Some(allot.memory_mib),
        gpus,
        shm_size_bytes: Some(1 << 30),
        pipes: inputs.pipes[i].clone(),
        ..Default::default()
    }
}
