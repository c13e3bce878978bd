//! Hyperparameter tuning jobs: CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob,
//! ListHyperParameterTuningJobs, StopHyperParameterTuningJob and
//! ListTrainingJobsForHyperParameterTuningJob. A supervisor per tuning job (supervisor.rs) asks
//! `search` for hyperparameters, runs each as a real training job (children.rs), and reads back
//! their objective metrics; `plan` reads and validates the request.

pub mod children;
mod listing;
pub mod plan;
pub mod search;
pub mod state;
mod supervisor;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::aws::model::typed::sagemaker::{
    CreateHyperParameterTuningJobRequest, HyperParameterTuningJobStatus as Status,
};
use crate::aws::time::now_epoch;
use crate::service::described::Record;
use crate::service::{Input, ServiceError, ServiceResult, Services, required};
use crate::store::resources::{ListQuery, Resource, ResourceKind};
pub use listing::{ChildrenQuery, ChildrenSort, TuningQuery, TuningSort};
use plan::{MAX_PARENTS, Plan};

/// A tuning job as Describe and List show it.
#[derive(Debug, Clone)]
pub struct TuningJob {
    pub record: Record,
    pub status: Status,
}

impl TuningJob {
    fn from_row(r: &Resource) -> TuningJob {
        TuningJob {
            record: Record::from(r),
            status: stored_status(r.status.as_deref()),
        }
    }
}

fn stored_status(s: Option<&str>) -> Status {
    s.and_then(|s| s.parse().ok()).unwrap_or(Status::InProgress)
}

/// What a new tuning job shows before its supervisor's first save.
fn initial_derived(seed: u64) -> Value {
    let (training, objective) = state::counters(&[]);
    json!({
        "HyperParameterTuningJobStatus": Status::InProgress.as_str(),
        "LastModifiedTime": now_epoch(),
        "TrainingJobStatusCounters": training,
        "ObjectiveStatusCounters": objective,
        "_Seed": seed,
    })
}

impl Services {
    pub async fn create_hyper_parameter_tuning_job(
        &self,
        input: Input<CreateHyperParameterTuningJobRequest>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = &input.members;
        let name = required(
            req.hyper_parameter_tuning_job_name.clone(),
            "HyperParameterTuningJobName",
        )?;
        let plan = Plan::read(req)?;
        self.check_warm_start(req).await?;
        let seed = plan
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0 >> 1);
        let arn = self.sagemaker_arn("hyper-parameter-tuning-job", &name);
        let res = match self
            .create_resource(
                ResourceKind::HyperParameterTuningJob,
                &name,
                input.raw,
                initial_derived(seed),
                Some(Status::InProgress.as_str()),
            )
            .await
        {
            Ok(r) => r,
            Err(ServiceError::Duplicate(_)) => {
                return Err(ServiceError::InUse(format!(
                    "Hyperparameter tuning job names must be unique within an AWS account and region, and a hyperparameter tuning job with this name already exists ({arn})"
                )));
            }
            Err(e) => return Err(e),
        };
        let stop = self.tuning.register(&res.name);
        tokio::spawn(supervisor::run(self.clone(), res.name.clone(), stop));
        Ok(res)
    }

    /// WarmStartConfig's parents exist and have ended.
    async fn check_warm_start(
        &self,
        req: &CreateHyperParameterTuningJobRequest,
    ) -> ServiceResult<()> {
        let Some(warm) = &req.warm_start_config else {
            return Ok(());
        };
        let parents = warm
            .parent_hyper_parameter_tuning_jobs
            .as_deref()
            .unwrap_or_default();
        if parents.is_empty() || parents.len() > MAX_PARENTS {
            return Err(ServiceError::Validation(format!(
                "WarmStartConfig must name between 1 and {MAX_PARENTS} parent hyperparameter tuning jobs; {} were given.",
                parents.len()
            )));
        }
        for p in parents {
            let pname = p
                .hyper_parameter_tuning_job_name
                .clone()
                .unwrap_or_default();
            let parent = self.tuning_job_row(&pname).await?;
            let status = stored_status(parent.status.as_deref());
            if !state::TUNING_JOB.is_terminal(status) {
                return Err(ServiceError::Validation(format!(
                    "The parent hyperparameter tuning job {pname} is in status {status}; a parent of a warm start must be Completed, Stopped or Failed."
                )));
            }
        }
        Ok(())
    }

    /// The stored row of tuning job `name`.
    pub(crate) async fn tuning_job_row(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        let row = self
            .store
            .resource(ResourceKind::HyperParameterTuningJob, name)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "Amazon SageMaker can't find a tuning job with name {name}"
                ))
            })?;
        Ok(self
            .unsaved
            .overlay(ResourceKind::HyperParameterTuningJob, row))
    }

    pub async fn describe_hyper_parameter_tuning_job(
        &self,
        name: &str,
    ) -> ServiceResult<TuningJob> {
        Ok(TuningJob::from_row(&*self.tuning_job_row(name).await?))
    }

    pub async fn stop_hyper_parameter_tuning_job(&self, name: &str) -> ServiceResult<()> {
        let row = self.tuning_job_row(name).await?;
        match stored_status(row.status.as_deref()) {
            Status::InProgress => {
                // the supervisor is the one writer of its job's state: it writes Stopping,
                // stops the training jobs and ends Stopped; the answer waits for Stopping
                if !self.tuning.stop(&row.name) {
                    self.update_status(
                        ResourceKind::HyperParameterTuningJob,
                        &row.name,
                        Status::Stopping.as_str(),
                        |d| {
                            d.insert(
                                "HyperParameterTuningJobStatus".into(),
                                json!(Status::Stopping.as_str()),
                            );
                        },
                    )
                    .await?;
                    return Ok(());
                }
                for _ in 0..50 {
                    let now = self.tuning_job_row(&row.name).await?;
                    if stored_status(now.status.as_deref()) != Status::InProgress {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Ok(())
            }
            Status::Stopping => Ok(()),
            other => Err(ServiceError::Validation(format!(
                "The request was rejected because the hyperparameter tuning job is in status {other}."
            ))),
        }
    }

    /// At startup: tuning jobs an earlier run left InProgress or Stopping get their supervisor
    /// back; it picks up their training jobs from the store (re-adopted by training's own
    /// recovery) and goes on.
    pub(crate) async fn recover_tuning(&self) {
        for status in [Status::InProgress, Status::Stopping] {
            let jobs = match self
                .store
                .list_resources(
                    ResourceKind::HyperParameterTuningJob,
                    ListQuery::every(Some(status.as_str())),
                )
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!("cannot list hyperparameter tuning jobs to recover: {e}");
                    continue;
                }
            };
            for job in jobs {
                tracing::info!("resuming hyperparameter tuning job {}", job.name);
                let stop = self.tuning.register(&job.name);
                tokio::spawn(supervisor::run(self.clone(), job.name.clone(), stop));
            }
        }
    }
}
