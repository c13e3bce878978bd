//! One processing job from start to end: the image (built on first use), the inputs staged,
//! the config files, algo-1…algo-N on the job's own network with their output streamed to
//! CloudWatch Logs, Continuous outputs uploaded while they run, then the outcome: EndOfJob
//! outputs uploaded, ExitMessage read, the status final, every container, network and file
//! removed. Each state change is saved before the step it announces.

use crate::service::experiments::{JobEnd, JobKind, processing_outputs};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::outputs::{self, Uploaded};
use super::{LOG_GROUP, PROCESSING_ROOT};
use crate::aws::model::typed::sagemaker::{
    CreateProcessingJobRequest, ProcessingJobStatus as Status,
};
use crate::aws::time::now_epoch;
use crate::runtime::engine::{ARN_LABEL, Engine, Listed, OWNER_LABEL};
use crate::runtime::gpu::GpuGrant;
use crate::service::Services;
use crate::service::failure::FailureReason;
use crate::service::logs::LogWriter as JobLog;
use crate::service::logs::pumps::{Progress, Pumps};
use crate::service::training::StopRequest;

pub(super) const HOST_LABEL: &str = "sagebox.host";
pub(super) const STREAM_LABEL: &str = "sagebox.log-stream";
/// The time a container gets between SIGTERM and SIGKILL when the job is stopped.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// The most of /opt/ml/output/message that ExitMessage keeps.
const EXIT_MESSAGE_BYTES: usize = 1024;

pub(super) enum Outcome {
    Completed,
    Failed(FailureReason),
    Stopped,
    MaxRuntime,
}

pub(super) struct Job {
    pub name: String,
    pub arn: String,
    /// The stored request as sent, for processingjobconfig.json.
    pub request: Value,
    pub members: CreateProcessingJobRequest,
    pub instance_type: String,
    pub hosts: Vec<String>,
    pub streams: Vec<String>,
    pub dir: PathBuf,
    pub network: String,
    pub feeders_stop: Arc<AtomicBool>,
    pub gpus: GpuGrant,
}

impl Job {
    /// Host `host`'s /opt/ml.
    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(host)
    }

    /// Where a LocalPath under /opt/ml/processing lies in host `host`'s /opt/ml.
    pub fn local_dir(&self, host: &str, local_path: &str) -> PathBuf {
        let rel = local_path
            .strip_prefix("/opt/ml/")
            .unwrap_or(PROCESSING_ROOT.trim_start_matches("/opt/ml/"));
        self.host_dir(host).join(rel)
    }
}

pub(super) async fn run(
    services: Services,
    name: String,
    mut stop: watch::Receiver<StopRequest>,
    adopt: Option<Vec<Listed>>,
) {
    let Ok(res) = services.processing_job(&name).await else {
        services.processing.done(&name);
        return;
    };
    let members: CreateProcessingJobRequest =
        crate::service::stored(&format!("processing job {name}"), &res.request).unwrap_or_else(
            |e| {
                tracing::error!("{e}");
                CreateProcessingJobRequest::default()
            },
        );
    let cluster = members
        .processing_resources
        .as_ref()
        .and_then(|r| r.cluster_config.as_ref());
    let instances = cluster
        .and_then(|c| c.instance_count)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(1)
        .max(1);
    let instance_type = cluster
        .and_then(|c| c.instance_type.clone())
        .unwrap_or_else(|| "ml.m5.large".to_string());
    let hosts: Vec<String> = (1..=instances).map(|i| format!("algo-{i}")).collect();
    let epoch = now_epoch() as u64;
    let owner = services.runtime.owner.clone();
    let mut job = Job {
        name: res.name.clone(),
        arn: res.arn.clone(),
        request: res.request.clone(),
        members,
        instance_type,
        streams: hosts
            .iter()
            .map(|h| format!("{}/{h}-{epoch}", res.name))
            .collect(),
        hosts,
        dir: services
            .config
            .data_dir
            .join("jobs")
            .join("processing")
            .join(res.name.to_ascii_lowercase()),
        network: format!("sagebox-{owner}-{}", res.name.to_ascii_lowercase()),
        feeders_stop: Arc::new(AtomicBool::new(false)),
        gpus: GpuGrant::default(),
    };
    let uploaded: Uploaded = Arc::default();

    let mut pumps = Pumps::default();
    // The containers to watch: a re-adopted job's, or those just launched.
    let started = match adopt {
        Some(containers) => match services.runtime.engine().await {
            Ok(engine) => Ok((engine, readopted(&mut job, containers), true)),
            Err(e) => Err(FailureReason::InternalServerError(format!(
                "Docker became unreachable: {e}"
            ))),
        },
        None => super::launch::launch(&services, &mut job, &mut stop)
            .await
            .map(|(engine, ids)| (engine, ids, false)),
    };
    let outcome = match started {
        Ok((engine, ids, resumed)) => {
            let watched = Watched {
                engine: &engine,
                ids: &ids,
                uploaded: &uploaded,
                pumps: &mut pumps,
            };
            watch_containers(&services, &job, watched, &mut stop, resumed).await
        }
        Err(reason) => Outcome::Failed(reason),
    };
    finish(&services, &job, outcome, &uploaded).await;
    pumps.drain(&format!("processing job {}", job.name)).await;
    cleanup(&services, &job).await;
    services.processing.done(&job.name);
}

/// A re-adopted job's containers as (host, id), in host order, with the streams they were
/// labelled with: their logs continue there.
fn readopted(job: &mut Job, containers: Vec<Listed>) -> Vec<(String, String)> {
    let mut ordered: Vec<(String, String, String)> = containers
        .into_iter()
        .map(|(id, _, labels)| {
            let host = labels.get(HOST_LABEL).cloned().unwrap_or_default();
            let stream = labels
                .get(STREAM_LABEL)
                .cloned()
                .unwrap_or_else(|| format!("{}/{host}-{}", job.name, now_epoch() as u64));
            (host, id, stream)
        })
        .collect();
    ordered.sort();
    job.streams = ordered.iter().map(|(_, _, s)| s.clone()).collect();
    ordered.into_iter().map(|(h, id, _)| (h, id)).collect()
}

pub(super) fn job_labels(services: &Services, job: &Job) -> HashMap<String, String> {
    HashMap::from([
        (OWNER_LABEL.to_string(), services.runtime.owner.clone()),
        (ARN_LABEL.to_string(), job.arn.clone()),
    ])
}

/// What a job's containers are watched with: their engine and (host, id) pairs, the record of
/// uploaded outputs, and where the log pumps are kept for the job's end.
struct Watched<'a> {
    engine: &'a Engine,
    ids: &'a [(String, String)],
    uploaded: &'a Uploaded,
    pumps: &'a mut Pumps,
}

/// Streams every container's output to its log stream and uploads Continuous outputs while
/// waiting for the outcome: all exit 0, one fails, a stop request, or MaxRuntimeInSeconds.
async fn watch_containers(
    services: &Services,
    job: &Job,
    Watched {
        engine,
        ids,
        uploaded,
        pumps: settled,
    }: Watched<'_>,
    stop: &mut watch::Receiver<StopRequest>,
    resumed: bool,
) -> Outcome {
    if ids.is_empty() {
        // stopped before any container started
        return Outcome::Stopped;
    }
    let pumps = pump_logs(services, engine, job, ids, resumed, settled.progress()).await;
    let continuous = outputs::spawn_continuous(services, job, uploaded);

    let max_runtime = job
        .members
        .stopping_condition
        .as_ref()
        .and_then(|s| s.max_runtime_in_seconds)
        .map_or(86_400.0, |s| s as f64);
    let started = processing_start(services, job)
        .await
        .unwrap_or_else(now_epoch);
    let deadline = Duration::from_secs_f64((started + max_runtime - now_epoch()).max(0.0));

    let mut waits = futures_util::stream::FuturesUnordered::new();
    for (host, id) in ids {
        let engine = engine.clone();
        let (host, id) = (host.clone(), id.clone());
        waits.push(async move { (host, engine.wait(&id).await) });
    }
    let timer = tokio::time::sleep(deadline);
    tokio::pin!(timer);
    let mut exited = 0;
    let outcome = loop {
        tokio::select! {
            next = waits.next() => match next {
                Some((_host, Ok(0))) => {
                    exited += 1;
                    if exited == ids.len() {
                        break Outcome::Completed;
                    }
                }
                Some((host, Ok(code))) => {
                    if *stop.borrow() == StopRequest::Stop {
                        break Outcome::Stopped;
                    }
                    break Outcome::Failed(failure_reason(job, &host, code));
                }
                Some((host, Err(e))) => {
                    break Outcome::Failed(FailureReason::InternalServerError(format!("lost track of {host}: {e}")));
                }
                None => break Outcome::Completed,
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() == StopRequest::Stop {
                    break Outcome::Stopped;
                }
            }
            () = &mut timer => break Outcome::MaxRuntime,
        }
    };
    if !matches!(outcome, Outcome::Completed) {
        if matches!(outcome, Outcome::MaxRuntime) {
            services
                .save_processing(&job.name, Status::Stopping, |_| {})
                .await;
        }
        // SIGTERM, then SIGKILL after the grace time, on every container still running.
        let stops = ids.iter().map(|(_, id)| engine.stop(id, STOP_GRACE));
        futures_util::future::join_all(stops).await;
    }
    continuous.stop().await;
    // The job reports its end once its output is stored, and its containers stay until the
    // pumps still busy then are done (see `Pumps`).
    settled.settle(pumps).await;
    outcome
}

/// One task per container copying its output to its log stream; a re-adopted job's streams go
/// on from where they stopped.
async fn pump_logs(
    services: &Services,
    engine: &Engine,
    job: &Job,
    ids: &[(String, String)],
    resumed: bool,
    progress: Progress,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut pumps = Vec::new();
    for (i, (host, id)) in ids.iter().enumerate() {
        let stream = job.streams.get(i).cloned().unwrap_or_default();
        let mut resume = if resumed {
            services
                .log_resume_or_now(LOG_GROUP, std::slice::from_ref(&stream))
                .await
        } else {
            Default::default()
        };
        let (log, log_task) = JobLog::counted(services, LOG_GROUP, &stream, progress.clone());
        let lines = engine.logs(id, true, resume.since);
        let host = host.clone();
        let progress = progress.clone();
        pumps.push(tokio::spawn(async move {
            let mut lines = Box::pin(lines);
            while let Some(line) = lines.next().await {
                progress.add(1);
                if resume.already_stored(line.timestamp_ms, &line.text) {
                    continue;
                }
                log.event(line.timestamp_ms, line.text);
            }
            drop(log);
            if let Err(e) = log_task.await {
                tracing::debug!("log writer of {host} ended abnormally: {e}");
            }
        }));
    }
    pumps
}

/// ProcessingStartTime as saved when the containers started.
async fn processing_start(services: &Services, job: &Job) -> Option<f64> {
    let res = services.processing_job(&job.name).await.ok()?;
    res.derived.get("ProcessingStartTime")?.as_f64()
}

/// A container that exits non-zero fails the job as SageMaker words it; what the container
/// wrote to /opt/ml/output/message is its reason when it wrote one.
fn failure_reason(job: &Job, host: &str, code: i64) -> FailureReason {
    let message = read_message(&job.host_dir(host).join("output/message"));
    match message.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => FailureReason::AlgorithmError(text.to_string()),
        _ => FailureReason::AlgorithmError(format!(
            "See job logs for more information ({host} exited with code {code})"
        )),
    }
}

fn read_message(path: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// ExitMessage: what the hosts wrote to /opt/ml/output/message, concatenated, first 1 KB.
fn exit_message(job: &Job) -> Option<String> {
    let mut all = String::new();
    for host in &job.hosts {
        if let Some(m) = read_message(&job.host_dir(host).join("output/message")) {
            all.push_str(&m);
        }
    }
    if all.is_empty() {
        return None;
    }
    let mut cut = all.len().min(EXIT_MESSAGE_BYTES);
    while !all.is_char_boundary(cut) {
        cut -= 1;
    }
    all.truncate(cut);
    Some(all)
}

/// Uploads what the job produced and writes the final status: Completed uploads every output;
/// a stopped or failed job has only its Continuous outputs swept a last time.
async fn finish(services: &Services, job: &Job, outcome: Outcome, uploaded: &Uploaded) {
    let completed = matches!(outcome, Outcome::Completed);
    let swept = outputs::sweep(services, job, uploaded, !completed).await;
    let exit = exit_message(job);
    let (status, reason) = match (outcome, swept) {
        (Outcome::Failed(reason), _) | (_, Err(reason)) => (Status::Failed, Some(reason)),
        (Outcome::Completed, Ok(())) => (Status::Completed, None),
        (Outcome::Stopped | Outcome::MaxRuntime, Ok(())) => (Status::Stopped, None),
    };
    let ended = now_epoch();
    if job.request.get("ExperimentConfig").is_some() {
        let message = reason.as_ref().map(|r| r.to_string());
        let end = JobEnd {
            status: status.as_str(),
            reason: message.as_deref(),
            metrics: None,
            outputs: match (&status, job.request.as_object()) {
                (Status::Completed, Some(request)) => processing_outputs(request),
                _ => Default::default(),
            },
        };
        if let Err(e) = services
            .end_job_trial_component(JobKind::Processing, &job.name, end)
            .await
        {
            tracing::warn!(job = %job.name, error = %e, "processing job's trial component not updated");
        }
    }
    services
        .save_processing(&job.name, status, |d| {
            d.insert("ProcessingEndTime".into(), json!(ended));
            if let Some(r) = &reason {
                d.insert("FailureReason".into(), json!(r));
            }
            if let Some(m) = &exit {
                d.insert("ExitMessage".into(), json!(m));
            }
        })
        .await;
}

async fn cleanup(services: &Services, job: &Job) {
    job.feeders_stop.store(true, Ordering::Relaxed);
    if let Ok(mut pool) = services.runtime.gpus.lock() {
        pool.release(&job.arn);
    }
    if let Ok(engine) = services.runtime.engine().await {
        if let Ok(list) = engine.containers_labelled(ARN_LABEL, &job.arn).await {
            for (id, _, _) in list {
                if let Err(e) = engine.remove(&id).await {
                    // best effort: the startup sweep removes containers nothing claims
                    tracing::debug!(
                        "processing job {}: cannot remove container {id}: {e}",
                        job.name
                    );
                }
            }
        }
        if let Err(e) = engine.remove_network(&job.network).await {
            tracing::debug!(
                "processing job {}: cannot remove network {}: {e}",
                job.name,
                job.network
            );
        }
    }
    let dir = job.dir.clone();
    let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir)).await;
    if let Ok(Err(e)) = removed
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("cannot remove {}: {e}", job.dir.display());
    }
}

/// Lines sagebox itself writes into a job's first stream (staging notes, image builds).
pub(super) fn job_log(services: &Services, job: &Job) -> (JobLog, tokio::task::JoinHandle<()>) {
    JobLog::new(services, LOG_GROUP, &job.streams[0])
}
