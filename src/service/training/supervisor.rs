//! One training job from start to end: image (built on first use), input data staged, config
//! files written, algo-1…algo-N started on the job's own network, their output streamed to
//! CloudWatch Logs (with metric definitions applied), then the outcome: model.tar.gz and
//! output.tar.gz uploaded, the status final, every container, network and file removed. Each
//! state change is saved before the step it announces.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

mod launch;
mod metrics;
mod restart;

use super::staging;
use super::state::JobState;
use super::{LOG_GROUP, StopRequest};
use crate::aws::model::typed::sagemaker::{
    CreateTrainingJobRequest, SecondaryStatus as Secondary, TrainingJobStatus as Status,
};
use crate::aws::time::now_epoch;
use crate::runtime::engine::{ARN_LABEL, Engine, EngineError, OWNER_LABEL};
use crate::runtime::gpu::GpuGrant;
use crate::service::Services;
use crate::service::experiments::{JobEnd, JobKind};
use crate::service::failure::FailureReason;
use crate::service::lifecycle::IllegalMove;
use crate::service::logs::pumps::Pumps;
use crate::service::logs::{LogWriter as JobLog, Resume};
use crate::service::metrics::publish::MetricPublisher;
use crate::store::objects::ObjectMeta;
use crate::store::resources::ResourceKind;
use launch::launch;
use metrics::Metrics;
pub use metrics::metric_series;

const HOST_LABEL: &str = "sagebox.host";
const STREAM_LABEL: &str = "sagebox.log-stream";
/// SageMaker gives an algorithm 120 s between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(120);

enum Outcome {
    Completed,
    Failed(FailureReason),
    Stopped,
    MaxRuntime,
    /// An instance went with its node (a cluster's): the job restarts from its checkpoints or
    /// fails.
    InstanceLost {
        host: String,
        why: String,
    },
}

struct Job {
    name: String,
    arn: String,
    /// The stored request as sent, for trainingjobconfig.json.
    request: Value,
    /// The same request, decoded: what the supervisor reads.
    members: CreateTrainingJobRequest,
    instances: u64,
    instance_type: String,
    hosts: Vec<String>,
    streams: Vec<String>,
    dir: PathBuf,
    state: JobState,
    network: String,
    feeders_stop: Arc<AtomicBool>,
    gpus: GpuGrant,
    /// Its containers' log pumps (see `Pumps`).
    pumps: Pumps,
}

impl Job {
    fn host_dir(&self, host: &str) -> PathBuf {
        self.dir.join("hosts").join(host)
    }

    /// CheckpointConfig.S3Uri, when the job keeps checkpoints.
    fn checkpoint_uri(&self) -> Option<String> {
        self.members.checkpoint_config.as_ref()?.s3_uri.clone()
    }
}

pub(super) async fn run(
    services: Services,
    name: String,
    mut stop: watch::Receiver<StopRequest>,
    adopt: Option<Vec<(String, String)>>,
) {
    let Ok(res) = services.stored_training_job(&name).await else {
        services.training.done(&name);
        return;
    };
    let request = res.request.clone();
    let members = stored_request(&res.name, &request);
    let resources = members.resource_config.as_ref();
    let instances = resources
        .and_then(|r| r.instance_count)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(1)
        .max(1);
    let instance_type = resources
        .and_then(|r| r.instance_type.clone())
        .unwrap_or_else(|| "ml.m5.large".to_string());
    let hosts: Vec<String> = (1..=instances).map(|i| format!("algo-{i}")).collect();
    let epoch = now_epoch() as u64;
    let owner = services.runtime.owner.clone();
    let mut job = Job {
        name: res.name.clone(),
        arn: res.arn.clone(),
        instances,
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
            .join("training")
            .join(res.name.to_ascii_lowercase()),
        state: JobState::from_stored(&res.name, res.status.as_deref(), &res.derived),
        network: format!("sagebox-{owner}-{}", res.name.to_ascii_lowercase()),
        feeders_stop: Arc::new(AtomicBool::new(false)),
        gpus: GpuGrant::default(),
        pumps: Pumps::default(),
        request,
        members,
    };
    let metrics = Arc::new(Mutex::new(Metrics::from_request(&job.members)));

    let outcome = match adopt {
        Some(containers) => {
            // Re-adopted after a restart: the streams are the ones the containers were
            // labelled with; logs continue from where each stream left off.
            match services.runtime.engine().await {
                Ok(engine) => {
                    let mut ordered = Vec::new();
                    for (id, _) in &containers {
                        let labels = engine
                            .containers_labelled(ARN_LABEL, &job.arn)
                            .await
                            .unwrap_or_default()
                            .into_iter()
                            .find(|(cid, _, _)| cid == id)
                            .map(|(_, _, l)| l)
                            .unwrap_or_default();
                        let stream = labels
                            .get(STREAM_LABEL)
                            .cloned()
                            .unwrap_or_else(|| format!("{}/algo-1-{epoch}", job.name));
                        let host = labels.get(HOST_LABEL).cloned().unwrap_or_default();
                        ordered.push((host, id.clone(), stream));
                    }
                    ordered.sort();
                    job.streams = ordered.iter().map(|(_, _, s)| s.clone()).collect();
                    let ids: Vec<(String, String)> =
                        ordered.into_iter().map(|(h, id, _)| (h, id)).collect();
                    watch_containers(
                        &services, &engine, &mut job, &ids, &metrics, &mut stop, true,
                    )
                    .await
                }
                Err(e) => Outcome::Failed(FailureReason::InternalServerError(format!(
                    "Docker became unreachable: {e}"
                ))),
            }
        }
        None => match launch(&services, &mut job, &mut stop).await {
            Ok((engine, ids)) => {
                watch_containers(
                    &services, &engine, &mut job, &ids, &metrics, &mut stop, false,
                )
                .await
            }
            // a job stopped before its containers started ends Stopped, not Failed
            Err(_) if *stop.borrow() == StopRequest::Stop => Outcome::Stopped,
            Err(reason) => Outcome::Failed(reason),
        },
    };
    let outcome =
        restart::after_lost_instances(&services, &mut job, outcome, &metrics, &mut stop).await;
    finish(&services, &mut job, outcome, &metrics).await;
    if job.request.get("ExperimentConfig").is_some() {
        let d = &job.state.derived;
        let reason = d.get("FailureReason").and_then(Value::as_str);
        let model = d
            .get("ModelArtifacts")
            .and_then(|m| m.get("S3ModelArtifacts"))
            .and_then(Value::as_str);
        let end = JobEnd {
            status: job.state.status.as_str(),
            reason,
            metrics: d.get("FinalMetricDataList"),
            outputs: model
                .map(|uri| {
                    std::iter::once((
                        "SageMaker.ModelArtifact".to_string(),
                        json!({ "Value": uri }),
                    ))
                    .collect()
                })
                .unwrap_or_default(),
        };
        let ended = services
            .end_job_trial_component(JobKind::Training, &job.name, end)
            .await;
        if let Err(e) = ended {
            tracing::warn!(job = %job.name, error = %e, "training job's trial component not updated");
        }
    }
    job.pumps.drain(&format!("training job {}", job.name)).await;
    cleanup(&services, &job).await;
    services.training.done(&job.name);
}

/// The job's stored request, decoded. A row this sagebox wrote always decodes; one that does
/// not is logged and read as empty, so the job fails for want of a training image.
fn stored_request(name: &str, request: &Value) -> CreateTrainingJobRequest {
    crate::service::stored(&format!("training job {name}"), request).unwrap_or_else(|e| {
        tracing::error!("{e}");
        CreateTrainingJobRequest::default()
    })
}

/// Writes the job's state; a terminal one is retried, a failure logged (see `saving`): the
/// supervisor has no caller to hand the error to. A StopTrainingJob that stored Stopping since
/// the last save is taken up first (the job moves to Stopping here too), so the save does not
/// put InProgress back over it; the check and the write see the same row.
async fn save(services: &Services, job: &mut Job) {
    loop {
        let stopped = AtomicBool::new(false);
        let state = &job.state;
        services
            .persist_change(
                ResourceKind::TrainingJob,
                &job.name,
                state.status.as_str(),
                |row, derived| {
                    if state.status == Status::InProgress
                        && row.status.as_deref() == Some(Status::Stopping.as_str())
                    {
                        stopped.store(true, Ordering::SeqCst);
                        return None;
                    }
                    derived.clone_from(&state.derived);
                    Some(state.status.as_str().to_string())
                },
            )
            .await;
        if !stopped.into_inner() {
            return;
        }
        if let Err(e) = job.state.stopping() {
            tracing::error!("{e}; the state is left as it was");
            return;
        }
    }
}

/// Saves the state after a move the status tables allowed; a refused move is a bug in the
/// supervisor: it is logged with the job's name and nothing is written.
async fn save_move(services: &Services, job: &mut Job, moved: Result<(), IllegalMove>) {
    match moved {
        Ok(()) => save(services, job).await,
        Err(e) => tracing::error!("{e}; the state is left as it was"),
    }
}

fn job_labels(services: &Services, job: &Job) -> HashMap<String, String> {
    HashMap::from([
        (OWNER_LABEL.to_string(), services.runtime.owner.clone()),
        (ARN_LABEL.to_string(), job.arn.clone()),
    ])
}

/// Streams every container's output to its log stream, waits for the outcome: all exit 0,
/// one fails, a stop request, or MaxRuntimeInSeconds.
async fn watch_containers(
    services: &Services,
    engine: &Engine,
    job: &mut Job,
    ids: &[(String, String)],
    metrics: &Arc<Mutex<Metrics>>,
    stop: &mut watch::Receiver<StopRequest>,
    resumed: bool,
) -> Outcome {
    let tails: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let mut pumps = Vec::new();
    let mut resumes = if resumed {
        resume_streams(services, job, metrics).await
    } else {
        Vec::new()
    }
    .into_iter();
    let (publisher, publish_task) = MetricPublisher::new(services, &job.name);
    match metrics.lock() {
        Ok(mut m) if !m.is_empty() => m.publish_to(Some(publisher)),
        _ => drop(publisher),
    }
    let progress = job.pumps.progress();
    for (i, (host, id)) in ids.iter().enumerate() {
        let stream = job.streams.get(i).cloned().unwrap_or_default();
        let mut resume = resumes.next().unwrap_or_default();
        let (log, log_task) = JobLog::counted(services, LOG_GROUP, &stream, progress.clone());
        let lines = engine.logs(id, true, resume.since);
        let metrics = metrics.clone();
        let tails = tails.clone();
        let host = host.clone();
        let progress = progress.clone();
        pumps.push(tokio::spawn(async move {
            let mut lines = Box::pin(lines);
            while let Some(line) = lines.next().await {
                progress.add(1);
                if resume.already_stored(line.timestamp_ms, &line.text) {
                    continue;
                }
                if let Ok(mut m) = metrics.lock() {
                    m.scan(&line.text, line.timestamp_ms);
                }
                if let Ok(mut t) = tails.lock() {
                    let v = t.entry(host.clone()).or_default();
                    v.push(line.text.clone());
                    let excess = v.len().saturating_sub(20);
                    v.drain(..excess);
                }
                log.event(line.timestamp_ms, line.text);
            }
            drop(log);
            if let Err(e) = log_task.await {
                tracing::debug!("log writer of {host} ended abnormally: {e}");
            }
        }));
    }

    let max_runtime = job
        .members
        .stopping_condition
        .as_ref()
        .and_then(|s| s.max_runtime_in_seconds)
        .map_or(86_400.0, |s| s as f64);
    let started = job.state.training_start().unwrap_or_else(now_epoch);
    let deadline = Duration::from_secs_f64((started + max_runtime - now_epoch()).max(0.0));

    let mut waits = futures_util::stream::FuturesUnordered::new();
    for (host, id) in ids {
        let engine = engine.clone();
        let host = host.clone();
        let id = id.clone();
        waits.push(async move { (host, engine.wait(&id).await) });
    }
    let mut outcome = None;
    let timer = tokio::time::sleep(deadline);
    tokio::pin!(timer);
    let mut exited = 0;
    while outcome.is_none() {
        tokio::select! {
            next = waits.next() => match next {
                Some((_host, Ok(0))) => {
                    exited += 1;
                    if exited == ids.len() {
                        outcome = Some(Outcome::Completed);
                    }
                }
                Some((host, Ok(code))) => {
                    if *stop.borrow() == StopRequest::Stop {
                        outcome = Some(Outcome::Stopped);
                    } else {
                        outcome = Some(Outcome::Failed(failure_reason(job, &host, code, &tails)));
                    }
                }
                Some((host, Err(EngineError::NodeLost(why)))) => {
                    outcome = Some(Outcome::InstanceLost { host, why });
                }
                Some((host, Err(e))) => {
                    outcome = Some(Outcome::Failed(FailureReason::InternalServerError(format!("lost track of {host}: {e}"))));
                }
                None => outcome = Some(Outcome::Completed),
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() == StopRequest::Stop {
                    outcome = Some(Outcome::Stopped);
                }
            }
            () = &mut timer => outcome = Some(Outcome::MaxRuntime),
        }
    }
    let outcome = outcome.unwrap_or(Outcome::Completed);
    if !matches!(outcome, Outcome::Completed) {
        if matches!(outcome, Outcome::Stopped) {
            // StopTrainingJob stored Stopping already; the job's own state says so before it
            // moves on to uploading, in SageMaker's order
            let moved = job.state.stopping();
            save_move(services, job, moved).await;
        }
        if matches!(outcome, Outcome::MaxRuntime) {
            // a stop taken up at an earlier save has made the job Stopping already
            let moved = match job.state.status {
                Status::Stopping => Ok(()),
                _ => job.state.set_status(Status::Stopping),
            }
            .and_then(|()| {
                job.state.transition(
                    Secondary::MaxRuntimeExceeded,
                    "Job stopped because the maximum runtime was reached",
                )
            });
            save_move(services, job, moved).await;
        }
        // SIGTERM, then SIGKILL after the grace time, on every container still running.
        let stops = ids.iter().map(|(_, id)| engine.stop(id, STOP_GRACE));
        futures_util::future::join_all(stops).await;
    }
    // The job reports its end once its output is stored (see `Pumps`).
    job.pumps.settle(pumps).await;
    // The last queued values are stored before the job reports its end.
    if let Ok(mut m) = metrics.lock() {
        m.publish_to(None);
    }
    tokio::time::timeout(Duration::from_secs(10), publish_task)
        .await
        .ok();
    outcome
}

/// Where each stream of a re-adopted job continues (see `Resume`), with the metrics its stored
/// lines gave taken up again first: they lived in the supervisor that went away.
async fn resume_streams(
    services: &Services,
    job: &Job,
    metrics: &Arc<Mutex<Metrics>>,
) -> Vec<Resume> {
    let has_metrics = metrics.lock().map(|m| !m.is_empty()).unwrap_or(false);
    let mut resumes = Vec::new();
    for stream in &job.streams {
        resumes.push(
            services
                .log_resume_or_now(LOG_GROUP, std::slice::from_ref(stream))
                .await,
        );
        if !has_metrics {
            continue;
        }
        let rescan = services
            .for_each_log_event(LOG_GROUP, stream, |ts, text| {
                if let Ok(mut m) = metrics.lock() {
                    m.scan(text, ts);
                }
            })
            .await;
        if let Err(e) = rescan {
            tracing::warn!(
                "training job {}: cannot read back {stream} for its metrics: {e}",
                job.name
            );
        }
    }
    resumes
}

fn failure_reason(
    job: &Job,
    host: &str,
    code: i64,
    tails: &Arc<Mutex<HashMap<String, Vec<String>>>>,
) -> FailureReason {
    let file = job.host_dir(host).join("output/failure");
    match std::fs::read_to_string(&file) {
        Ok(text) if !text.trim().is_empty() => {
            let text = text.trim();
            // Images that follow SageMaker's toolkits already classify their failure.
            if text.starts_with("AlgorithmError:") || text.starts_with("ClientError:") {
                FailureReason::parse(text)
            } else {
                FailureReason::AlgorithmError(format!("{text}, exit code: {code}"))
            }
        }
        _ => {
            let tail = tails
                .lock()
                .ok()
                .and_then(|t| t.get(host).cloned())
                .unwrap_or_default();
            let last: Vec<&String> = tail.iter().rev().take(5).rev().collect();
            FailureReason::AlgorithmError(format!(
                "{host} exited with code {code}. Last log lines: {}",
                last.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            ))
        }
    }
}

/// Uploads what the job produced and writes the final status.
async fn finish(
    services: &Services,
    job: &mut Job,
    outcome: Outcome,
    metrics: &Arc<Mutex<Metrics>>,
) {
    if let Ok(m) = metrics.lock()
        && !m.is_empty()
    {
        job.state.set("FinalMetricDataList", m.final_list());
    }
    if let Outcome::Failed(reason) = &outcome {
        let moved = job.state.fail(reason, job.instances);
        save_move(services, job, moved).await;
        return;
    }
    // a stop stored since the last save, whose signal came too late to end the containers,
    // still comes before the upload in the job's transitions
    if job.state.status == Status::InProgress
        && let Ok(row) = services.stored_training_job(&job.name).await
        && row.status.as_deref() == Some(Status::Stopping.as_str())
    {
        let moved = job.state.stopping();
        save_move(services, job, moved).await;
    }
    let moved = job
        .state
        .transition(Secondary::Uploading, "Uploading generated training model");
    save_move(services, job, moved).await;
    if let Err(reason) = upload(services, job).await {
        let moved = job.state.fail(&reason, job.instances);
        save_move(services, job, moved).await;
        return;
    }
    let (status, secondary, message) = match outcome {
        Outcome::Completed => (
            Status::Completed,
            Secondary::Completed,
            "Training job completed",
        ),
        Outcome::MaxRuntime => (
            Status::Stopped,
            Secondary::MaxRuntimeExceeded,
            "Training job stopped because it exceeded MaxRuntimeInSeconds",
        ),
        _ => (Status::Stopped, Secondary::Stopped, "Training job stopped"),
    };
    let moved = job.state.finish(status, secondary, message, job.instances);
    save_move(services, job, moved).await;
}

/// model.tar.gz (from algo-1's /opt/ml/model), output.tar.gz (/opt/ml/output/data, when not
/// empty) and the checkpoints.
async fn upload(services: &Services, job: &mut Job) -> Result<(), FailureReason> {
    let output = job
        .members
        .output_data_config
        .as_ref()
        .and_then(|o| o.s3_output_path.clone())
        .unwrap_or_default();
    let (bucket, prefix) = staging::parse_s3_uri(&output)
        .ok_or_else(|| FailureReason::ClientError(format!("{output} is not an s3:// URI")))?;
    let prefix = prefix.trim_end_matches('/');
    let base = if prefix.is_empty() {
        format!("{}/output", job.name)
    } else {
        format!("{prefix}/{}/output", job.name)
    };
    let leader = job.host_dir(&job.hosts[0]);
    for (dir, file, always) in [
        (leader.join("model"), "model.tar.gz", true),
        (leader.join("output/data"), "output.tar.gz", false),
    ] {
        if !always && !staging::has_files(&dir) {
            continue;
        }
        let tar = job.dir.join(file);
        let (d, t) = (dir.clone(), tar.clone());
        tokio::task::spawn_blocking(move || staging::pack_tar_gz(&d, &t))
            .await
            .map_err(|e| FailureReason::InternalServerError(e.to_string()))?
            .map_err(|e| FailureReason::InternalServerError(format!("packing {file}: {e}")))?;
        let key = format!("{base}/{file}");
        services
            .objects
            .put_file(&bucket, &key, &tar, ObjectMeta::default())
            .await
            .map_err(|e| {
                FailureReason::ClientError(format!("cannot upload s3://{bucket}/{key}: {e}"))
            })?;
        if file == "model.tar.gz" {
            job.state.set(
                "ModelArtifacts",
                json!({ "S3ModelArtifacts": format!("s3://{bucket}/{key}") }),
            );
        }
    }
    upload_checkpoints(services, job, &[leader.join("checkpoints")]).await
}

/// Uploads the checkpoint directories under CheckpointConfig.S3Uri, in order (a later one's
/// file replaces an earlier one's of the same name); a failure fails the job.
async fn upload_checkpoints(
    services: &Services,
    job: &Job,
    dirs: &[PathBuf],
) -> Result<(), FailureReason> {
    let Some(uri) = job.checkpoint_uri() else {
        return Ok(());
    };
    let Some((cb, cp)) = staging::parse_s3_uri(&uri) else {
        return Ok(());
    };
    let cp = cp.trim_end_matches('/').to_string();
    for dir in dirs {
        for (rel, path) in staging::files_under(dir) {
            let key = if cp.is_empty() {
                rel
            } else {
                format!("{cp}/{rel}")
            };
            if let Err(e) = services
                .objects
                .put_file(&cb, &key, &path, ObjectMeta::default())
                .await
            {
                let reason = FailureReason::ClientError(format!(
                    "cannot upload checkpoint s3://{cb}/{key}: {e}"
                ));
                report_checkpoint_failure(services, job, &reason).await;
                return Err(reason);
            }
        }
    }
    Ok(())
}

/// A checkpoint that cannot be uploaded fails the job (its reason says so); the job's log
/// (algo-1's stream, where its containers wrote) and the server's say so too, since the
/// containers' own log writers have ended by now.
async fn report_checkpoint_failure(services: &Services, job: &Job, reason: &FailureReason) {
    tracing::error!("training job {}: {reason}", job.name);
    let Some(stream) = job.streams.first() else {
        return;
    };
    let (log, log_task) = JobLog::new(services, LOG_GROUP, stream);
    log.line(&format!("[sagebox] ERROR: {reason}"));
    drop(log);
    // wait for the line to be stored, so it is there when Describe shows the failure
    if let Err(e) = log_task.await {
        tracing::debug!(
            "training job {}: its log writer ended abnormally: {e}",
            job.name
        );
    }
}

async fn cleanup(services: &Services, job: &Job) {
    job.feeders_stop.store(true, Ordering::Relaxed);
    remove_containers(services, job).await;
    if let Ok(engine) = services.runtime.engine().await
        && let Err(e) = engine.remove_network(&job.network).await
    {
        tracing::debug!(
            "training job {}: cannot remove network {}: {e}",
            job.name,
            job.network
        );
    }
    remove_dir(&job.dir).await;
}

/// Gives back the job's GPUs and removes its containers (the network stays).
async fn remove_containers(services: &Services, job: &Job) {
    if let Ok(mut pool) = services.runtime.gpus.lock() {
        pool.release(&job.arn);
    }
    let Ok(engine) = services.runtime.engine().await else {
        return;
    };
    if let Ok(list) = engine.containers_labelled(ARN_LABEL, &job.arn).await {
        for (id, _, _) in list {
            if let Err(e) = engine.remove(&id).await {
                // best effort: the startup sweep removes containers nothing claims
                tracing::debug!(
                    "training job {}: cannot remove container {id}: {e}",
                    job.name
                );
            }
        }
    }
}

async fn remove_dir(dir: &Path) {
    let d = dir.to_path_buf();
    match tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&d).map_err(|e| (d, e))).await
    {
        Ok(Err((d, e))) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!("cannot remove {}: {e}", d.display());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("removing a job's files did not finish: {e}"),
    }
}
