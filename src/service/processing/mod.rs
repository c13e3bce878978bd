//! Processing jobs: CreateProcessingJob, DescribeProcessingJob, ListProcessingJobs,
//! StopProcessingJob. A job runs AppSpecification's image on InstanceCount hosts (algo-1…N on
//! a per-job network) with its inputs staged under /opt/ml/processing, and uploads its outputs at
//! the end (EndOfJob) or while it runs (Continuous). One supervisor task per job
//! (supervisor.rs) writes each state before acting; `recover_processing` re-adopts jobs an
//! earlier run of sagebox left in progress.

mod launch;
mod outputs;
mod supervisor;
#[cfg(test)]
mod tests;

use crate::service::experiments::JobKind;
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::aws::model::typed::sagemaker::{
    CreateProcessingJobRequest, ProcessingJobStatus, ProcessingS3InputMode,
};
use crate::aws::time::now_epoch;
use crate::service::described::Record;
use crate::service::failure::FailureReason;
use crate::service::lifecycle::Lifecycle;
use crate::service::resources::{ListParams, Page};
use crate::service::training::staging;
use crate::service::{Input, ServiceError, ServiceResult, Services, pagination, required};
use crate::store::resources::{ListQuery, Resource, ResourceKind, SortKey};

pub const LOG_GROUP: &str = "/aws/sagemaker/ProcessingJobs";
/// Where every LocalPath of a processing input or output must lie.
pub const PROCESSING_ROOT: &str = "/opt/ml/processing";

use ProcessingJobStatus::{Completed, Failed, InProgress, Stopped, Stopping};

/// ProcessingJobStatus: InProgress until the job ends; a stop passes through Stopping, where the
/// containers may still complete or fail before the stop reaches them.
pub const PROCESSING_STATUS: Lifecycle<ProcessingJobStatus> = Lifecycle {
    family: "processing job",
    initial: &[InProgress],
    moves: &[
        (InProgress, Completed),
        (InProgress, Failed),
        (InProgress, Stopping),
        // the supervisor lost its stop signal (sagebox shutting down)
        (InProgress, Stopped),
        (Stopping, Stopped),
        (Stopping, Completed),
        (Stopping, Failed),
    ],
};

/// A processing job (DescribeProcessingJob, ListProcessingJobs); `status` is None only for a
/// row written before its first state save.
#[derive(Debug, Clone)]
pub struct ProcessingJob {
    pub record: Record,
    pub status: Option<ProcessingJobStatus>,
}

/// ListProcessingJobs' filters and order: the shared ones, plus LastModifiedTime bounds and
/// SortBy Status, which the store does not sort by.
#[derive(Debug, Clone)]
pub struct ProcessingListParams {
    pub params: ListParams,
    pub by_status: bool,
    pub modified_after: Option<f64>,
    pub modified_before: Option<f64>,
}

impl Services {
    pub async fn create_processing_job(
        &self,
        input: Input<CreateProcessingJobRequest>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = &input.members;
        let name = required(req.processing_job_name.clone(), "ProcessingJobName")?;
        check_request(req)?;
        let arn = self.sagemaker_arn("processing-job", &name);
        let derived = json!({ "LastModifiedTime": now_epoch() });
        let res = match self
            .create_resource(
                ResourceKind::ProcessingJob,
                &name,
                input.raw,
                derived,
                Some(InProgress.as_str()),
            )
            .await
        {
            Ok(r) => r,
            Err(ServiceError::Duplicate(_)) => {
                return Err(ServiceError::InUse(format!(
                    "Job names must be unique within an AWS account and region, and a job with this name already exists ({arn})"
                )));
            }
            Err(e) => return Err(e),
        };
        if let Value::Object(request) = &res.request
            && let Err(e) = self
                .start_job_trial_component(JobKind::Processing, &res.arn, &res.name, request)
                .await
        {
            // the job runs regardless; its experiment record is what is missing
            tracing::warn!(job = %res.name, error = %e, "processing job's trial component not created");
        }
        let stop = self.processing.register(&res.name);
        tokio::spawn(supervisor::run(self.clone(), res.name.clone(), stop, None));
        Ok(res)
    }

    pub async fn describe_processing_job(&self, name: &str) -> ServiceResult<ProcessingJob> {
        let res = self.processing_job(name).await?;
        Ok(ProcessingJob {
            record: Record::from(&*res),
            status: shown_status(&res),
        })
    }

    /// Every job the filters match, sorted and cut into pages here: SortBy Status and the
    /// LastModifiedTime bounds are not columns the store orders or filters by. The token is the
    /// offset of the next page.
    pub async fn list_processing_jobs(
        &self,
        p: ProcessingListParams,
    ) -> ServiceResult<Page<ProcessingJob>> {
        let ListParams { query, next_token } = p.params;
        let offset = next_token
            .as_deref()
            .map(pagination::decode_offset)
            .transpose()?
            .unwrap_or(0);
        let (limit, descending, sort) = (query.limit, query.descending, query.sort);
        let wanted = query.status_equals.clone();
        let every = ListQuery {
            status_equals: None,
            after: None,
            limit: 1_000_000_000,
            ..query
        };
        let rows = self
            .store
            .list_resources(ResourceKind::ProcessingJob, every)
            .await?;
        let mut jobs: Vec<ProcessingJob> = rows
            .into_iter()
            .map(|r| {
                self.unsaved
                    .overlay(ResourceKind::ProcessingJob, Arc::new(r))
            })
            .map(|r| ProcessingJob {
                record: Record::from(&*r),
                status: shown_status(&r),
            })
            .filter(|j| wanted.is_none() || j.status.map(|s| s.as_str()) == wanted.as_deref())
            .filter(|j| {
                let modified = last_modified(&j.record);
                p.modified_after.is_none_or(|t| modified > t)
                    && p.modified_before.is_none_or(|t| modified < t)
            })
            .collect();
        jobs.sort_by(|a, b| {
            let by_created = a
                .record
                .created
                .total_cmp(&b.record.created)
                .then_with(|| a.record.name.cmp(&b.record.name));
            let order = if p.by_status {
                status_text(a.status)
                    .cmp(status_text(b.status))
                    .then(by_created)
            } else if sort == SortKey::Name {
                a.record.name.cmp(&b.record.name)
            } else {
                by_created
            };
            if descending { order.reverse() } else { order }
        });
        let items: Vec<ProcessingJob> = jobs.iter().skip(offset).take(limit).cloned().collect();
        let next_token =
            (offset + limit < jobs.len()).then(|| pagination::encode_offset(offset + limit));
        Ok(Page { items, next_token })
    }

    /// Moves an InProgress job to Stopping and signals its supervisor, decided on the row as it
    /// stands when it is written (see `change_state`): a job that has just ended refuses.
    pub async fn stop_processing_job(&self, name: &str) -> ServiceResult<()> {
        let res = self.processing_job(name).await?;
        self.change_state(
            ResourceKind::ProcessingJob,
            &res.name,
            |row, _| match stored_status(row)? {
                Some(InProgress) | None => Ok(Some(Stopping.as_str().to_string())),
                Some(Stopping) => Ok(None),
                Some(other) => Err(ServiceError::Validation(format!(
                    "The request was rejected because the processing job is in status {other}."
                ))),
            },
        )
        .await?;
        self.processing.stop(&res.name);
        Ok(())
    }

    /// The job's row, with a terminal state its supervisor could not save yet laid over it.
    pub(crate) async fn processing_job(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        let row = self
            .store
            .resource(ResourceKind::ProcessingJob, name)
            .await?
            .ok_or_else(|| {
                ServiceError::Validation(format!("Could not find requested job with name {name}"))
            })?;
        Ok(self.unsaved.overlay(ResourceKind::ProcessingJob, row))
    }

    /// Moves `name` to status `to` with what `edit` changes in its derived members, when
    /// `PROCESSING_STATUS` allows the move from the status stored when it is written; a refused
    /// move is a bug in the caller, logged and not written. Returns whether the move was
    /// allowed.
    pub(crate) async fn save_processing(
        &self,
        name: &str,
        to: ProcessingJobStatus,
        edit: impl Fn(&mut Map<String, Value>),
    ) -> bool {
        let refused = std::sync::atomic::AtomicBool::new(false);
        self.persist_change(ResourceKind::ProcessingJob, name, to.as_str(), |row, d| {
            let from = match stored_status(row) {
                Ok(s) => s.unwrap_or(InProgress),
                Err(e) => {
                    tracing::error!("{e}");
                    refused.store(true, std::sync::atomic::Ordering::SeqCst);
                    return None;
                }
            };
            if let Err(e) = PROCESSING_STATUS.check(name, from, to) {
                tracing::error!("{e}: refused");
                refused.store(true, std::sync::atomic::Ordering::SeqCst);
                return None;
            }
            edit(d);
            Some(to.as_str().to_string())
        })
        .await;
        !refused.into_inner()
    }

    /// Writes what `edit` changes in `name`'s derived members and leaves its status as it is
    /// when the write lands (a stop may have moved it to Stopping meanwhile).
    pub(crate) async fn note_processing(&self, name: &str, edit: impl Fn(&mut Map<String, Value>)) {
        self.persist_change(
            ResourceKind::ProcessingJob,
            name,
            InProgress.as_str(),
            |row, d| {
                let status = stored_status(row).ok().flatten().unwrap_or(InProgress);
                edit(d);
                Some(status.as_str().to_string())
            },
        )
        .await;
    }

    /// At startup: jobs an earlier run left in progress get their supervisor back when all
    /// their containers still exist (re-adopted by label); the others end, Failed (or Stopped,
    /// if they were stopping). Returns the adopted ARNs.
    pub async fn recover_processing(&self) -> HashSet<String> {
        let mut adopted = HashSet::new();
        for from in [InProgress, Stopping] {
            let query = ListQuery::every(Some(from.as_str()));
            let jobs = match self
                .store
                .list_resources(ResourceKind::ProcessingJob, query)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!("cannot list processing jobs to recover: {e}");
                    continue;
                }
            };
            for job in jobs {
                if self.readopt_processing(&job).await {
                    adopted.insert(job.arn.clone());
                    continue;
                }
                let ended = now_epoch();
                let (to, reason) = if from == Stopping {
                    (Stopped, None)
                } else {
                    (
                        Failed,
                        Some(FailureReason::InternalServerError(
                            "sagebox restarted while this job was running and the job's containers are gone; start the job again under a new name.".into(),
                        )),
                    )
                };
                self.save_processing(&job.name, to, |d| {
                    d.insert("ProcessingEndTime".into(), json!(ended));
                    if let Some(r) = &reason {
                        d.insert("FailureReason".into(), json!(r));
                    }
                })
                .await;
            }
        }
        adopted
    }

    /// Hands `job`'s containers to a new supervisor when every one of them is still there.
    async fn readopt_processing(&self, job: &Resource) -> bool {
        let Ok(engine) = self.runtime.engine().await else {
            return false;
        };
        let containers = engine
            .containers_labelled(crate::runtime::engine::ARN_LABEL, &job.arn)
            .await
            .unwrap_or_default();
        let instances = instance_count(job);
        if containers.is_empty() || containers.len() as u64 != instances {
            return false;
        }
        tracing::info!(
            "re-adopting processing job {} ({} containers)",
            job.name,
            containers.len()
        );
        for (id, _, _) in &containers {
            if let Err(e) = engine.start_if_created(id).await {
                tracing::warn!("cannot start container {id} of {}: {e}", job.name);
            }
        }
        let stop = self.processing.register(&job.name);
        tokio::spawn(supervisor::run(
            self.clone(),
            job.name.clone(),
            stop,
            Some(containers),
        ));
        true
    }
}

/// What CreateProcessingJob refuses before anything runs: data sources and outputs sagebox
/// cannot serve, paths outside /opt/ml/processing, repeated names, images it has no stand-in for.
fn check_request(req: &CreateProcessingJobRequest) -> ServiceResult<()> {
    let image = req
        .app_specification
        .as_ref()
        .and_then(|a| a.image_uri.as_deref())
        .unwrap_or_default();
    check_image(image)?;
    let mut names = HashSet::new();
    for (i, input) in req.processing_inputs.iter().flatten().enumerate() {
        let name = input.input_name.as_deref().unwrap_or_default();
        if !names.insert(name.to_string()) {
            return Err(ServiceError::Validation(format!(
                "Input and output names must be unique; '{name}' is used more than once."
            )));
        }
        if input.dataset_definition.is_some() {
            return Err(ServiceError::Validation(format!(
                "ProcessingInputs[{i}] ('{name}'): DatasetDefinition inputs (Athena and Redshift queries) are not supported by sagebox; export the data to S3 and give it as S3Input instead."
            )));
        }
        let Some(s3) = &input.s3_input else {
            return Err(ServiceError::Validation(format!(
                "ProcessingInputs[{i}] ('{name}'): exactly one of S3Input or DatasetDefinition must be specified."
            )));
        };
        check_uri(
            s3.s3_uri.as_deref(),
            &format!("processingInputs.{}.member.s3Input.s3Uri", i + 1),
        )?;
        check_local_path(s3.local_path.as_deref(), name)?;
        if s3.s3_input_mode == Some(ProcessingS3InputMode::Pipe) && s3.local_path.is_none() {
            return Err(ServiceError::Validation(format!(
                "ProcessingInputs[{i}] ('{name}'): LocalPath is required."
            )));
        }
    }
    let outputs = req
        .processing_output_config
        .as_ref()
        .and_then(|c| c.outputs.as_ref());
    for (i, output) in outputs.into_iter().flatten().enumerate() {
        let name = output.output_name.as_deref().unwrap_or_default();
        if !names.insert(name.to_string()) {
            return Err(ServiceError::Validation(format!(
                "Input and output names must be unique; '{name}' is used more than once."
            )));
        }
        if output.feature_store_output.is_some() {
            return Err(ServiceError::Validation(format!(
                "ProcessingOutputConfig.Outputs[{i}] ('{name}'): FeatureStoreOutput is not supported by sagebox; give S3Output instead."
            )));
        }
        let Some(s3) = &output.s3_output else {
            return Err(ServiceError::Validation(format!(
                "ProcessingOutputConfig.Outputs[{i}] ('{name}'): S3Output must be specified."
            )));
        };
        check_uri(
            s3.s3_uri.as_deref(),
            &format!(
                "processingOutputConfig.outputs.{}.member.s3Output.s3Uri",
                i + 1
            ),
        )?;
        check_local_path(s3.local_path.as_deref(), name)?;
    }
    Ok(())
}

/// Spark's processing images have no local stand-in; other AWS images must be ones sagebox
/// emulates. Refused here, so `PySparkProcessor.run` fails at once rather than after a wait.
fn check_image(image: &str) -> ServiceResult<()> {
    match crate::runtime::uris::resolve(image) {
        Ok(_) => Ok(()),
        Err(e) if e.repository == "sagemaker-spark-processing" => {
            Err(ServiceError::Validation(format!(
                "sagebox cannot run Spark processing jobs (PySparkProcessor, SparkJarProcessor): there is no local Spark image for {image}. Run the job with ScriptProcessor or FrameworkProcessor on an image sagebox emulates, or on your own image."
            )))
        }
        Err(e) => Err(ServiceError::Validation(e.to_string())),
    }
}

fn check_uri(uri: Option<&str>, member: &str) -> ServiceResult<()> {
    let uri = uri.unwrap_or_default();
    if staging::parse_s3_uri(uri).is_none() {
        return Err(ServiceError::Validation(format!(
            "1 validation error detected: Value '{uri}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)"
        )));
    }
    Ok(())
}

/// A LocalPath must be a folder under /opt/ml/processing that stays there.
fn check_local_path(path: Option<&str>, name: &str) -> ServiceResult<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let inside = path
        .strip_prefix(PROCESSING_ROOT)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(staging::safe_relative)
        .is_some();
    if !inside {
        return Err(ServiceError::Validation(format!(
            "LocalPath {path} of '{name}' must be a folder under {PROCESSING_ROOT}/."
        )));
    }
    Ok(())
}

/// The status a row holds; None before its first save. Text that is no ProcessingJobStatus is a
/// damaged row, named in the error.
fn stored_status(res: &Resource) -> ServiceResult<Option<ProcessingJobStatus>> {
    res.status
        .as_deref()
        .map(|s| {
            s.parse().map_err(|text| {
                ServiceError::Internal(format!(
                    "processing job {}: stored status {text:?} is no ProcessingJobStatus",
                    res.name
                ))
            })
        })
        .transpose()
}

/// The status Describe and List show; a damaged one is logged and shown as not yet saved.
fn shown_status(res: &Resource) -> Option<ProcessingJobStatus> {
    stored_status(res).unwrap_or_else(|e| {
        tracing::error!("{e}");
        None
    })
}

/// A job's status as List sorts it; one not saved yet reads as InProgress.
fn status_text(status: Option<ProcessingJobStatus>) -> &'static str {
    status.unwrap_or(InProgress).as_str()
}

fn last_modified(r: &Record) -> f64 {
    r.derived
        .get("LastModifiedTime")
        .and_then(Value::as_f64)
        .unwrap_or(r.modified)
}

/// ClusterConfig.InstanceCount of a stored job (1 when its request does not decode).
fn instance_count(job: &Resource) -> u64 {
    let what = format!("processing job {}", job.name);
    crate::service::stored::<CreateProcessingJobRequest>(&what, &job.request)
        .ok()
        .and_then(|r| r.processing_resources?.cluster_config?.instance_count)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(1)
        .max(1)
}
