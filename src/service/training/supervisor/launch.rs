//! Starting a training job, in SageMaker's order: the training image, the instances'
//! resources, the input data and checkpoints, the config files under /opt/ml/input/config,
//! then the network and one container per instance.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::super::StopRequest;
use super::super::staging::{self, ChannelObject};
use super::{HOST_LABEL, Job, JobLog, LOG_GROUP, STREAM_LABEL, job_labels, save_move};
use crate::aws::model::typed::sagemaker::{
    Channel, RecordWrapper, S3DataDistribution, S3DataType, SecondaryStatus as Secondary,
    TrainingInputMode,
};
use crate::runtime::LocalImage;
use crate::runtime::engine::{Bind, ContainerSpec, Engine, PipeFeed};
use crate::runtime::gpu::GpuGrant;
use crate::runtime::instance_types::{self, Allotment};
use crate::service::Services;
use crate::service::failure::FailureReason;

/// Image, GPUs, data, config files, network and containers. Returns the engine and the
/// started containers as (host, id); an Err is the job's FailureReason.
pub(super) async fn launch(
    services: &Services,
    job: &mut Job,
    stop: &mut watch::Receiver<StopRequest>,
) -> Result<(Engine, Vec<(String, String)>), FailureReason> {
    let (log, _log_task) = JobLog::new(services, LOG_GROUP, &job.streams[0]);
    let moved = job
        .state
        .transition(Secondary::Starting, "Preparing the instances for training");
    save_move(services, job, moved).await;

    let engine = services
        .runtime
        .engine()
        .await
        .map_err(|e| FailureReason::InternalServerError(e.to_string()))?;
    let image = download_training_image(services, job, &log).await?;
    let allot = allot_resources(services, job, &log)?;
    check_output_bucket(services, job).await?;

    let moved = job
        .state
        .transition(Secondary::Downloading, "Downloading input data");
    job.state.started_training();
    save_move(services, job, moved).await;
    let default_mode = job
        .members
        .algorithm_specification
        .as_ref()
        .and_then(|a| a.training_input_mode)
        .unwrap_or(TrainingInputMode::File);
    prepare_host_dirs(job)?;
    let shares_host_files = engine.shares_host_files();
    let inputs = download_input_data(services, job, default_mode, shares_host_files, &log).await?;
    restore_checkpoints(services, job, &log).await;
    write_config_files(job, default_mode)?;

    let started = start_containers(services, &engine, job, &image, &allot, &inputs, stop).await?;
    Ok((engine, started))
}

/// "Downloading the training image": AWS algorithm URIs run sagebox's emulator images, built
/// on first use, with the build's progress in the job's log.
async fn download_training_image(
    services: &Services,
    job: &mut Job,
    log: &JobLog,
) -> Result<LocalImage, FailureReason> {
    let image_uri = job
        .members
        .algorithm_specification
        .as_ref()
        .and_then(|a| a.training_image.clone())
        .unwrap_or_default();
    let moved = job
        .state
        .transition(Secondary::Downloading, "Downloading the training image");
    save_move(services, job, moved).await;
    let progress_log = log.clone();
    let progress: crate::runtime::images::Progress =
        Arc::new(move |line: &str| progress_log.line(&format!("[sagebox image] {line}")));
    services
        .runtime
        .image_for(&image_uri, &job.instance_type, &progress)
        .await
        .map_err(|e| FailureReason::ClientError(e.to_string()))
}

/// The instance type's CPUs and memory, capped at the host's; GPUs from the pool (or CPU,
/// with a warning in the log, under --gpu-fallback cpu).
fn allot_resources(
    services: &Services,
    job: &mut Job,
    log: &JobLog,
) -> Result<Allotment, FailureReason> {
    let allot = instance_types::allot(&job.instance_type, &services.runtime.host);
    for note in &allot.capped {
        log.line(&format!("[sagebox] {note}"));
    }
    if allot.gpus > 0 {
        let wanted = allot.gpus * job.instances as u32;
        let grant = services
            .runtime
            .gpus
            .lock()
            .map_err(|_| FailureReason::InternalServerError("GPU pool unavailable".into()))?
            .allocate(&job.arn, &job.instance_type, wanted);
        match grant {
            Ok(g) => job.gpus = g,
            Err(e) => {
                if services.runtime.options.gpu_fallback == crate::runtime::GpuFallback::Cpu {
                    log.line(&format!(
                        "[sagebox] WARNING: {e}. Running on CPU because of --gpu-fallback cpu."
                    ));
                } else {
                    return Err(FailureReason::CapacityError(e.to_string()));
                }
            }
        }
    }
    Ok(allot)
}

/// The output bucket must exist before the algorithm runs for nothing.
async fn check_output_bucket(services: &Services, job: &Job) -> Result<(), FailureReason> {
    let output = job
        .members
        .output_data_config
        .as_ref()
        .and_then(|o| o.s3_output_path.as_deref())
        .unwrap_or_default();
    if let Some((bucket, _)) = staging::parse_s3_uri(output)
        && services.objects.bucket(&bucket).await.is_err()
    {
        return Err(FailureReason::ClientError(format!(
            "The S3 bucket \"{bucket}\" of OutputDataConfig.S3OutputPath ({output}) does not exist. Create the bucket or choose another output path."
        )));
    }
    Ok(())
}

/// Each instance's /opt/ml tree.
fn prepare_host_dirs(job: &Job) -> Result<(), FailureReason> {
    for host in &job.hosts {
        for sub in [
            "input/config",
            "input/data",
            "model",
            "output/data",
            "checkpoints",
            "code",
        ] {
            std::fs::create_dir_all(job.host_dir(host).join(sub)).map_err(|e| {
                FailureReason::InternalServerError(format!("cannot prepare the job's files: {e}"))
            })?;
        }
    }
    Ok(())
}

/// What one instance's container gets of the channels: their binds, and where the engine does
/// not share host files with it, the Pipe-mode channels its agent feeds.
#[derive(Debug, Clone, Default)]
struct InstanceInputs {
    binds: Vec<Bind>,
    pipes: Vec<PipeFeed>,
}

/// Every channel of InputDataConfig, staged for every instance. Returns each instance's inputs.
async fn download_input_data(
    services: &Services,
    job: &Job,
    default_mode: TrainingInputMode,
    shares_host_files: bool,
    log: &JobLog,
) -> Result<Vec<InstanceInputs>, FailureReason> {
    let mut inputs = vec![InstanceInputs::default(); job.hosts.len()];
    let how = Staging {
        default_mode,
        shares_host_files,
    };
    for ch in job.members.input_data_config.iter().flatten() {
        stage_channel(services, job, ch, how, &mut inputs, log).await?;
    }
    Ok(inputs)
}

/// How channels are staged for this job.
#[derive(Debug, Clone, Copy)]
struct Staging {
    default_mode: TrainingInputMode,
    /// Whether the engine's binds are the host's own directories (see
    /// `ExecutionEngine::shares_host_files`): then a Pipe-mode channel is a host FIFO.
    shares_host_files: bool,
}

/// Channels up to this size are copied for each instance and mounted writable, as SageMaker's
/// are (SDK v3's ModelTrainer makes its driver script executable in its `sm_drivers` channel);
/// larger ones are hard links into the object store, so they must be read-only.
const COPIED_CHANNEL_BYTES: u64 = 16 << 20;

/// One channel: Pipe mode gets a feeder per instance (see `stage_pipe`); File (and FastFile,
/// which behaves as File here) gets a writable copy per instance when small, else hard links
/// bound read-only at /opt/ml/input/data/<channel>.
async fn stage_channel(
    services: &Services,
    job: &Job,
    ch: &Channel,
    how: Staging,
    inputs: &mut [InstanceInputs],
    log: &JobLog,
) -> Result<(), FailureReason> {
    let ch_name = ch.channel_name.as_deref().unwrap_or("data");
    let s3 = ch
        .data_source
        .as_ref()
        .and_then(|d| d.s3_data_source.as_ref());
    let data_type = s3
        .and_then(|s| s.s3_data_type)
        .unwrap_or(S3DataType::S3Prefix);
    let uri = s3.and_then(|s| s.s3_uri.as_deref()).unwrap_or_default();
    let distribution = s3
        .and_then(|s| s.s3_data_distribution_type)
        .unwrap_or(S3DataDistribution::FullyReplicated);
    let sharded = distribution == S3DataDistribution::ShardedByS3Key;
    let mode = ch.input_mode.unwrap_or(how.default_mode);
    let started = Instant::now();
    let objects = staging::resolve_source(&services.objects, data_type.as_str(), uri)
        .await
        .map_err(|e| FailureReason::parse(&e))?;
    let total: u64 = objects.iter().map(|o| o.size).sum();
    let writable = total <= COPIED_CHANNEL_BYTES;
    let mut copied = 0;
    for (i, host) in job.hosts.iter().enumerate() {
        let mine: Vec<ChannelObject> =
            staging::shard(&objects, distribution.as_str(), i, job.hosts.len());
        if mode == TrainingInputMode::Pipe {
            let recordio = ch.record_wrapper_type == Some(RecordWrapper::RecordIO);
            let pipe = PipeChannel {
                name: ch_name,
                recordio,
                shares_host_files: how.shares_host_files,
            };
            copied += stage_pipe(job, host, &pipe, mine, &mut inputs[i]).await?;
            continue;
        }
        let own = sharded || writable;
        let dir = if own {
            job.dir.join("channels").join(format!("{ch_name}-{host}"))
        } else {
            job.dir.join("channels").join(ch_name)
        };
        if i == 0 || own {
            copied += link_channel(&dir, mine, writable, ch_name).await?;
        }
        inputs[i].binds.push(Bind {
            host: dir.display().to_string(),
            container: format!("/opt/ml/input/data/{ch_name}"),
            read_only: !writable,
        });
    }
    log.line(&format!(
        "[sagebox] channel {ch_name}: {} objects, {total} bytes from {uri} ({mode} mode, {distribution}) staged in {} ms, {copied} bytes copied",
        objects.len(),
        started.elapsed().as_millis()
    ));
    Ok(())
}

/// A Pipe-mode channel as `stage_pipe` needs it.
struct PipeChannel<'a> {
    name: &'a str,
    recordio: bool,
    shares_host_files: bool,
}

/// Where the swarm's agent makes a Pipe-mode channel's FIFOs, as SageMaker does.
const PIPE_FIFO_DIR: &str = "/opt/ml/input/data";

/// One instance's Pipe-mode channel. Where the container sees the host's files, a feeder here
/// writes the objects straight from the object store into FIFOs in the instance's host dir.
/// Elsewhere (the swarm) the objects are hard-linked into a directory of their own, named so
/// that name order is key order, and the container's agent feeds its own FIFOs from it (see
/// `agent::pipe`). Returns the bytes copied.
async fn stage_pipe(
    job: &Job,
    host: &str,
    ch: &PipeChannel<'_>,
    mine: Vec<ChannelObject>,
    inputs: &mut InstanceInputs,
) -> Result<u64, FailureReason> {
    if ch.shares_host_files {
        let dir = job.host_dir(host).join("input/data");
        let stop = job.feeders_stop.clone();
        let (channel, recordio) = (ch.name.to_string(), ch.recordio);
        tokio::task::spawn_blocking(move || staging::feed_pipe(dir, channel, mine, recordio, stop));
        return Ok(0);
    }
    let dir = job
        .dir
        .join("channels")
        .join(format!("{}-{host}-pipe", ch.name));
    let copied = link_channel(&dir, staging::in_feed_order(&mine), false, ch.name).await?;
    inputs.pipes.push(PipeFeed {
        source: dir.display().to_string(),
        fifo_dir: PIPE_FIFO_DIR.into(),
        channel: ch.name.to_string(),
        recordio: ch.recordio,
    });
    Ok(copied)
}

/// `staging::link_channel` off the async workers, failing the job; the bytes copied.
async fn link_channel(
    dir: &std::path::Path,
    objects: Vec<ChannelObject>,
    copy: bool,
    ch_name: &str,
) -> Result<u64, FailureReason> {
    staging::link_channel_off_thread(dir.to_path_buf(), objects, copy)
        .await
        .map_err(|e| FailureReason::InternalServerError(format!("staging channel {ch_name}: {e}")))
}

/// What is already under CheckpointConfig.S3Uri starts in /opt/ml/checkpoints. A checkpoint
/// that cannot be copied does not fail the job (it starts without it, as from scratch), but
/// is reported in the job's log and the server's.
async fn restore_checkpoints(services: &Services, job: &Job, log: &JobLog) {
    let Some(uri) = job.checkpoint_uri() else {
        return;
    };
    let prefix = format!("{}/", uri.trim_end_matches('/'));
    // A missing bucket is not the usual empty first run: say so, or the job silently starts
    // from scratch.
    if let Some((bucket, _)) = staging::parse_s3_uri(&uri)
        && let Err(e) = services.objects.bucket(&bucket).await
    {
        let note = format!("[sagebox] WARNING: cannot restore checkpoints from {uri}: {e}");
        log.line(&note);
        tracing::warn!("training job {}: {note}", job.name);
        return;
    }
    let objects = match staging::resolve_source(&services.objects, "S3Prefix", &prefix).await {
        Ok(objects) => objects,
        Err(e) => {
            // an empty prefix (the bucket exists) is the usual first run
            tracing::debug!("training job {}: no checkpoints under {uri}: {e}", job.name);
            return;
        }
    };
    for host in &job.hosts {
        let dir = job.host_dir(host).join("checkpoints");
        for o in &objects {
            let dest = dir.join(&o.rel);
            let copied = match dest.parent() {
                Some(p) => std::fs::create_dir_all(p),
                None => Ok(()),
            }
            .and_then(|()| std::fs::copy(&o.file, &dest).map(|_bytes| ()));
            if let Err(e) = copied {
                let note = format!(
                    "[sagebox] WARNING: cannot restore checkpoint {}{} on {host}: {e}",
                    prefix,
                    o.rel.display()
                );
                log.line(&note);
                tracing::warn!("training job {}: {note}", job.name);
            }
        }
    }
}

/// Config files, exactly as SageMaker writes them.
fn write_config_files(job: &Job, default_mode: TrainingInputMode) -> Result<(), FailureReason> {
    let hp = staging::hyperparameters_json(&job.members);
    let idc = staging::inputdataconfig_json(&job.members, default_mode);
    for host in &job.hosts {
        let cfg = job.host_dir(host).join("input/config");
        let write = |file: &str, v: &Value| {
            staging::write_json(&cfg.join(file), v)
                .map_err(|e| FailureReason::InternalServerError(format!("writing {file}: {e}")))
        };
        write("hyperparameters.json", &hp)?;
        write("inputdataconfig.json", &idc)?;
        write(
            "resourceconfig.json",
            &staging::resourceconfig_json(host, &job.hosts, &job.instance_type),
        )?;
        write("trainingjobconfig.json", &job.request)?;
        if let Some(cp) = &job.members.checkpoint_config {
            let mut cp = cp.clone();
            cp.local_path
                .get_or_insert_with(|| "/opt/ml/checkpoints".into());
            write("checkpointconfig.json", &json!(cp))?;
        }
    }
    Ok(())
}

/// "Training": the job's network, then one container per instance (algo-1, algo-2, …).
async fn start_containers(
    services: &Services,
    engine: &Engine,
    job: &mut Job,
    image: &LocalImage,
    allot: &Allotment,
    inputs: &[InstanceInputs],
    stop: &mut watch::Receiver<StopRequest>,
) -> Result<Vec<(String, String)>, FailureReason> {
    let labels = job_labels(services, job);
    // ensured: a job started again after a lost instance keeps its network
    engine
        .ensure_network(&job.network, &labels)
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
    env.extend([
        ("TRAINING_JOB_NAME".to_string(), job.name.clone()),
        ("TRAINING_JOB_ARN".to_string(), job.arn.clone()),
    ]);
    env.extend(services.callback_env());
    let moved = job.state.transition(
        Secondary::Training,
        "Training image download completed. Training in progress.",
    );
    save_move(services, job, moved).await;
    if *stop.borrow() == StopRequest::Stop {
        return Err(FailureReason::Plain("stopped before start".into()));
    }
    let mut started = Vec::new();
    for (i, host) in job.hosts.iter().enumerate() {
        let spec = container_spec(job, i, image, allot, &env, &labels, &inputs[i]);
        let id = engine
            .run(&spec)
            .await
            .map_err(|e| FailureReason::InternalServerError(format!("cannot start {host}: {e}")))?;
        started.push((host.clone(), id));
    }
    Ok(started)
}

/// Instance `i` (algo-<i+1>): its /opt/ml, checkpoints at CheckpointConfig.LocalPath, its
/// channels (binds, and the Pipe-mode ones its agent feeds), and its share of the job's GPUs.
fn container_spec(
    job: &Job,
    i: usize,
    image: &LocalImage,
    allot: &Allotment,
    env: &[(String, String)],
    labels: &HashMap<String, String>,
    inputs: &InstanceInputs,
) -> ContainerSpec {
    let host = job.hosts[i].as_str();
    let checkpoint_path = job
        .members
        .checkpoint_config
        .as_ref()
        .and_then(|c| c.local_path.as_deref());
    let mut binds = vec![Bind {
        host: job.host_dir(host).display().to_string(),
        container: "/opt/ml".into(),
        read_only: false,
    }];
    // Checkpoints have a bind of their own (at /opt/ml/checkpoints too, where it is the same
    // directory as under /opt/ml's), so an engine whose content travels can return them while
    // the job runs: a cluster node lost with an instance leaves its last checkpoint behind.
    let mut sync_while_running = Vec::new();
    if job.members.checkpoint_config.is_some() {
        let path = checkpoint_path.unwrap_or("/opt/ml/checkpoints");
        binds.push(Bind {
            host: job.host_dir(host).join("checkpoints").display().to_string(),
            container: path.to_string(),
            read_only: false,
        });
        sync_while_running.push(path.to_string());
    }
    binds.extend(inputs.binds.iter().cloned());
    binds.extend(image.binds.iter().cloned());
    let mut labels = labels.clone();
    labels.insert(HOST_LABEL.into(), host.to_string());
    labels.insert(STREAM_LABEL.into(), job.streams[i].clone());
    let per_host_gpus = if job.gpus.devices.is_empty() {
        GpuGrant::default()
    } else {
        let per = job.gpus.devices.len() / job.hosts.len();
        GpuGrant {
            devices: job.gpus.devices[i * per..(i + 1) * per].to_vec(),
        }
    };
    // ContainerEntrypoint / ContainerArguments replace the image's entry point and its `train`
    // argument, as SageMaker does (SDK v3's ModelTrainer runs its bash driver this way).
    let spec = job.members.algorithm_specification.as_ref();
    let entrypoint = spec.and_then(|a| a.container_entrypoint.clone());
    let cmd = match spec.and_then(|a| a.container_arguments.clone()) {
        Some(args) => args,
        None if entrypoint.is_some() => Vec::new(),
        None => vec!["train".into()],
    };
    ContainerSpec {
        name: format!("{}-{host}", job.network),
        image: image.reference.clone(),
        entrypoint,
        cmd,
        env: image.env.iter().chain(env).cloned().collect(),
        binds,
        labels,
        hostname: Some(host.to_string()),
        network: Some((job.network.clone(), vec![host.to_string()])),
        host_gateway: true,
        cpus: Some(allot.cpus),
        memory_mib: Some(allot.memory_mib),
        gpus: per_host_gpus,
        shm_size_bytes: Some(1 << 30),
        sync_while_running,
        pipes: inputs.pipes.clone(),
        ..Default::default()
    }
}
