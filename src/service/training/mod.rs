//! Training jobs: CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob.
//! Each job is driven by one supervisor task (supervisor.rs) that runs its containers through
//! the runtime and writes every state change to the store first; `recover` re-adopts jobs a
//! previous run of sagebox left in progress.

pub mod staging;
pub mod state;
mod supervisor;
#[cfg(test)]
mod tests;
pub use supervisor::metric_series;

use crate::service::experiments::JobKind;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;

use crate::aws::model::typed::sagemaker::{Channel, CreateTrainingJobRequest, TrainingJobStatus};
use crate::aws::time::now_epoch;
use crate::service::described::{Record, TrainingJob};
use crate::service::failure::FailureReason;
use crate::service::resources::{ListParams, Page};
use crate::service::{Input, ServiceError, ServiceResult, Services};
use crate::store::resources::{ListQuery, Resource, ResourceKind};
use state::JobState;

pub const LOG_GROUP: &str = "/aws/sagemaker/TrainingJobs";

/// Why a supervisor is asked to end its job early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    Running,
    Stop,
}

/// The running supervisors, by job name (lowercase), each with its stop signal.
#[derive(Clone, Default)]
pub struct Supervisors {
    inner: Arc<Mutex<HashMap<String, watch::Sender<StopRequest>>>>,
}

impl Supervisors {
    pub(crate) fn register(&self, name: &str) -> watch::Receiver<StopRequest> {
        let (tx, rx) = watch::channel(StopRequest::Running);
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_ascii_lowercase(), tx);
        rx
    }

    pub(crate) fn stop(&self, name: &str) -> bool {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&name.to_ascii_lowercase()) {
            Some(tx) => tx.send(StopRequest::Stop).is_ok(),
            None => false,
        }
    }

    pub(crate) fn done(&self, name: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name.to_ascii_lowercase());
    }
}

impl Services {
    pub async fn create_training_job(
        &self,
        input: Input<CreateTrainingJobRequest>,
    ) -> ServiceResult<Arc<Resource>> {
        self.create_training_job_for(input, None).await
    }

    /// CreateTrainingJob, for a hyperparameter tuning job's training jobs too: those show the
    /// tuning job's ARN as `TuningJobArn` in their Describe.
    pub(crate) async fn create_training_job_for(
        &self,
        input: Input<CreateTrainingJobRequest>,
        tuning_job_arn: Option<&str>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = &input.members;
        let name = req.training_job_name.clone().unwrap_or_default();
        let algo = req.algorithm_specification.as_ref();
        if algo.and_then(|a| a.training_image.as_ref()).is_none() {
            return Err(ServiceError::Validation(
                if algo.is_some_and(|a| a.algorithm_name.is_some()) {
                    "AlgorithmName (AWS Marketplace algorithm resources) is not supported by sagebox; give AlgorithmSpecification.TrainingImage instead."
                } else {
                    "Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification."
                }
                .into(),
            ));
        }
        check_channels(req.input_data_config.as_deref().unwrap_or_default())?;
        let output = req
            .output_data_config
            .as_ref()
            .and_then(|o| o.s3_output_path.as_deref())
            .unwrap_or("");
        if staging::parse_s3_uri(output).is_none() {
            return Err(ServiceError::Validation(format!(
                "1 validation error detected: Value '{output}' at 'outputDataConfig.s3OutputPath' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$"
            )));
        }
        let mut state = JobState::new(&name, now_epoch());
        if let Some(tuning) = tuning_job_arn {
            state.set("TuningJobArn", Value::String(tuning.to_string()));
        }
        let arn = self.sagemaker_arn("training-job", &name);
        let res = match self
            .create_resource(
                ResourceKind::TrainingJob,
                &name,
                input.raw,
                Value::Object(state.derived.clone()),
                Some(state.status.as_str()),
            )
            .await
        {
            Ok(r) => r,
            Err(ServiceError::Duplicate(_)) => {
                return Err(ServiceError::InUse(format!(
                    "Training job names must be unique within an AWS account and region, and a training job with this name already exists ({arn})"
                )));
            }
            Err(e) => return Err(e),
        };
        if let Value::Object(request) = &res.request
            && let Err(e) = self
                .start_job_trial_component(JobKind::Training, &res.arn, &res.name, request)
                .await
        {
            // the job runs regardless; its experiment record is what is missing
            tracing::warn!(job = %res.name, error = %e, "training job's trial component not created");
        }
        let stop = self.training.register(&res.name);
        tokio::spawn(supervisor::run(self.clone(), res.name.clone(), stop, None));
        Ok(res)
    }

    pub async fn describe_training_job(&self, name: &str) -> ServiceResult<TrainingJob> {
        let row = self.stored_training_job(name).await?;
        Ok(TrainingJob {
            record: Record::from(&*row),
            status: stored_status(row.status.as_deref()),
        })
    }

    /// The stored row of training job `name`, for its supervisor and StopTrainingJob.
    /// A terminal state the supervisor could not save yet is laid over the row (see `saving`).
    pub(crate) async fn stored_training_job(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        let row = self
            .store
            .resource(ResourceKind::TrainingJob, name)
            .await?
            .ok_or_else(|| ServiceError::Validation("Requested resource not found.".into()))?;
        Ok(self.unsaved.overlay(ResourceKind::TrainingJob, row))
    }

    /// Each metric's values so far (epoch seconds, value) in job `name`'s log lines: what a
    /// tuning job's early stopping reads while the job runs.
    pub(crate) async fn training_metric_series(
        &self,
        name: &str,
        request: &Value,
    ) -> std::collections::BTreeMap<String, Vec<(f64, f64)>> {
        let mut lines = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .filter_log_events(crate::service::logs::FilterLogEvents {
                    group: LOG_GROUP.into(),
                    stream_names: None,
                    stream_prefix: Some(format!("{name}/")),
                    start: None,
                    end: None,
                    pattern: None,
                    limit: None,
                    next_token: token,
                })
                .await;
            let Ok(page) = page else { break };
            lines.extend(page.items.into_iter().map(|e| (e.timestamp, e.message)));
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        metric_series(request, lines)
    }

    pub async fn list_training_jobs(&self, params: ListParams) -> ServiceResult<Page<TrainingJob>> {
        let page = self
            .list_resources(ResourceKind::TrainingJob, params)
            .await?;
        Ok(page.map(|r| TrainingJob {
            record: Record::from(&r),
            status: stored_status(r.status.as_deref()),
        }))
    }

    /// Moves an InProgress job to Stopping and signals its supervisor. The move is decided on
    /// the row as it stands when it is written, so a supervisor's save that lands meanwhile is
    /// neither undone nor undoes the stop, and a job that has just ended refuses the stop.
    pub async fn stop_training_job(&self, name: &str) -> ServiceResult<()> {
        let job = self.stored_training_job(name).await?;
        self.change_state(ResourceKind::TrainingJob, &job.name, stopping)
            .await?;
        self.training.stop(&job.name);
        Ok(())
    }

    pub(crate) async fn save_training_state(
        &self,
        name: &str,
        state: &JobState,
    ) -> ServiceResult<()> {
        self.store
            .update_resource_state(
                ResourceKind::TrainingJob,
                name,
                Some(state.status.as_str().to_string()),
                Value::Object(state.derived.clone()),
                now_epoch(),
            )
            .await?;
        Ok(())
    }

    /// At startup: training jobs and endpoints get their containers back, transform jobs cut
    /// short fail; then containers and networks that nothing claims are removed.
    pub async fn recover(self) {
        // Run in a container, sagebox can only hand job containers files the engine sees.
        let data_dir = std::path::absolute(&self.config.data_dir)
            .unwrap_or_else(|_| self.config.data_dir.clone());
        if let Some(paths) = self.runtime.host_paths().await
            && let Err(e) = paths.host_path(&data_dir)
        {
            tracing::error!("{e}");
        }
        let mut adopted = self.recover_training().await;
        adopted.extend(self.recover_endpoints().await);
        adopted.extend(self.recover_components().await);
        adopted.extend(self.recover_transforms().await);
        adopted.extend(self.recover_processing().await);
        adopted.extend(self.recover_notebooks().await);
        adopted.extend(self.recover_studio_apps().await);
        match self
            .runtime
            .sweep(|labels| {
                labels
                    .get(crate::runtime::engine::ARN_LABEL)
                    .is_some_and(|arn| adopted.contains(arn))
            })
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} containers/networks left by an earlier run"),
            Err(e) => tracing::debug!("no container sweep: {e}"),
        }
        // what is left takes its jobs through the API like any caller
        self.mark_recovered();
        // tuning jobs last: their training jobs have their supervisors back by now
        self.recover_tuning().await;
        // pipeline executions after the jobs their steps wait on
        self.recover_pipelines().await;
    }

    /// Jobs an earlier run left in progress get their supervisor back when their containers
    /// still exist (re-adopted by label), or fail with a reason. Returns the adopted ARNs.
    async fn recover_training(&self) -> HashSet<String> {
        let mut active = Vec::new();
        for status in [TrainingJobStatus::InProgress, TrainingJobStatus::Stopping] {
            let query = ListQuery::every(Some(status.as_str()));
            match self
                .store
                .list_resources(ResourceKind::TrainingJob, query)
                .await
            {
                Ok(jobs) => active.extend(jobs),
                Err(e) => tracing::warn!("cannot list training jobs to recover: {e}"),
            }
        }
        let mut adopted: HashSet<String> = HashSet::new();
        for job in active {
            let containers = match self.runtime.engine().await {
                Ok(engine) => engine
                    .containers_labelled(crate::runtime::engine::ARN_LABEL, &job.arn)
                    .await
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let instances = instance_count(&job);
            if !containers.is_empty() && containers.len() as u64 == instances {
                tracing::info!(
                    "re-adopting training job {} ({} containers)",
                    job.name,
                    containers.len()
                );
                adopted.insert(job.arn.clone());
                if let Ok(engine) = self.runtime.engine().await {
                    for (id, _, _) in &containers {
                        if let Err(e) = engine.start_if_created(id).await {
                            tracing::warn!("cannot start container {id} of {}: {e}", job.name);
                        }
                    }
                }
                let stop = self.training.register(&job.name);
                let ids = containers
                    .into_iter()
                    .map(|(id, name, _)| (id, name))
                    .collect();
                tokio::spawn(supervisor::run(
                    self.clone(),
                    job.name.clone(),
                    stop,
                    Some(ids),
                ));
            } else {
                let mut state =
                    JobState::from_stored(&job.name, job.status.as_deref(), &job.derived);
                let reason = FailureReason::InternalServerError(
                    "sagebox restarted while this job was running and the job's containers are gone; start the job again under a new name.".into(),
                );
                if let Err(e) = state.fail(&reason, instances) {
                    tracing::error!("{e}");
                } else if let Err(e) = self.save_training_state(&job.name, &state).await {
                    tracing::warn!("cannot fail training job {}: {e}", job.name);
                }
            }
        }
        adopted
    }
}

/// StopTrainingJob's decision on the row `row`: an InProgress job moves to Stopping (its new
/// derived members in `derived`), a stopping one is left as it is, an ended one refuses.
pub(crate) fn stopping(
    row: &Resource,
    derived: &mut serde_json::Map<String, Value>,
) -> ServiceResult<Option<String>> {
    let mut state = JobState::from_stored(&row.name, row.status.as_deref(), &row.derived);
    match state.status {
        TrainingJobStatus::InProgress => {
            state
                .stopping()
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            *derived = state.derived;
            Ok(Some(state.status.as_str().to_string()))
        }
        TrainingJobStatus::Stopping => Ok(None),
        other => Err(ServiceError::Validation(format!(
            "The request was rejected because the training job is in status {other}."
        ))),
    }
}

/// Channel names are unique, and every channel reads from S3.
fn check_channels(channels: &[Channel]) -> ServiceResult<()> {
    let mut names = HashSet::new();
    for ch in channels {
        let ch_name = ch.channel_name.as_deref().unwrap_or("");
        if !names.insert(ch_name) {
            return Err(ServiceError::Validation(format!(
                "Channel names must be unique. Found duplicate channel name: {ch_name}"
            )));
        }
        if ch
            .data_source
            .as_ref()
            .and_then(|d| d.s3_data_source.as_ref())
            .is_none()
        {
            return Err(ServiceError::Validation(format!(
                "Channel {ch_name}: only S3DataSource data sources are supported by sagebox."
            )));
        }
    }
    Ok(())
}

/// A stored status as the enum; a row written before its first state save has none.
fn stored_status(status: Option<&str>) -> Option<TrainingJobStatus> {
    status.and_then(|s| s.parse().ok())
}

/// ResourceConfig.InstanceCount of a stored job (1 when its request does not decode).
fn instance_count(job: &Resource) -> u64 {
    let what = format!("training job {}", job.name);
    crate::service::stored::<CreateTrainingJobRequest>(&what, &job.request)
        .ok()
        .and_then(|r| r.resource_config?.instance_count)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(1)
}
