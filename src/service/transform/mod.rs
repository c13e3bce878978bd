//! Batch transform jobs: CreateTransformJob, DescribeTransformJob, ListTransformJobs,
//! StopTransformJob. A job runs the model's serving containers (`hosting::fleet`), sends every
//! input object through them as SageMaker does (split into records, batched, filtered and
//! joined: `records`), and writes `<S3OutputPath>/<input name>.out`.

pub mod records;
mod run;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::aws::model::typed::sagemaker::{
    CreateTransformJobRequest, StopTransformJobRequest, TransformJobStatus,
};
use crate::aws::time::now_epoch;
use crate::service::described::{Record, TransformJob};
use crate::service::failure::FailureReason;
use crate::service::lifecycle::{IllegalMove, Lifecycle};
use crate::service::resources::{ListParams, Page, not_found};
use crate::service::training::staging;
use crate::service::{Input, ServiceError, ServiceResult, Services, required};
use crate::store::resources::{ListQuery, Resource, ResourceKind};

pub const LOG_GROUP: &str = "/aws/sagemaker/TransformJobs";

use TransformJobStatus::{Completed, Failed, InProgress, Stopped, Stopping};

/// A transform job's status moves. It runs InProgress until it ends; a stop passes through
/// Stopping, and a job may still complete or fail there, before the stop reaches it. Every save
/// is decided on the row it writes over (`change_state`), so a mid-job save cannot put
/// InProgress back over a stop's Stopping, and a stopped job always ends from Stopping.
pub const TRANSFORM_STATUS: Lifecycle<TransformJobStatus> = Lifecycle {
    family: "transform job",
    initial: &[InProgress],
    moves: &[
        (InProgress, Completed),
        (InProgress, Failed),
        (InProgress, Stopping),
        (Stopping, Stopped),
        (Stopping, Completed),
        (Stopping, Failed),
    ],
};

impl Services {
    pub async fn create_transform_job(
        &self,
        input: Input<CreateTransformJobRequest>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = &input.members;
        let name = required(req.transform_job_name.clone(), "TransformJobName")?;
        let model = required(req.model_name.clone(), "ModelName")?;
        if self
            .store
            .resource(ResourceKind::Model, &model)
            .await?
            .is_none()
        {
            return Err(not_found(self, ResourceKind::Model, &model));
        }
        let input_uri = req
            .transform_input
            .as_ref()
            .and_then(|i| i.data_source.as_ref())
            .and_then(|d| d.s3_data_source.as_ref())
            .and_then(|s| s.s3_uri.as_deref());
        let output_uri = req
            .transform_output
            .as_ref()
            .and_then(|o| o.s3_output_path.as_deref());
        for (member, uri) in [
            ("transformInput.dataSource.s3DataSource.s3Uri", input_uri),
            ("transformOutput.s3OutputPath", output_uri),
        ] {
            let uri = uri.unwrap_or_default();
            if staging::parse_s3_uri(uri).is_none() {
                return Err(ServiceError::Validation(format!(
                    "1 validation error detected: Value '{uri}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$"
                )));
            }
        }
        let arn = self.sagemaker_arn("transform-job", &name);
        let derived = json!({ "LastModifiedTime": now_epoch() });
        let res = match self
            .create_resource(
                ResourceKind::TransformJob,
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
        let stop = self.transforms.register(&res.name);
        tokio::spawn(run::run(self.clone(), res.name.clone(), stop));
        Ok(res)
    }

    pub async fn describe_transform_job(&self, name: &str) -> ServiceResult<TransformJob> {
        let res = self.transform_job(name).await?;
        Ok(TransformJob {
            record: Record::from(&*res),
            status: shown_status(&res),
        })
    }

    pub async fn list_transform_jobs(
        &self,
        params: ListParams,
    ) -> ServiceResult<Page<TransformJob>> {
        let page = self
            .list_resources(ResourceKind::TransformJob, params)
            .await?;
        Ok(page.map(|r| TransformJob {
            record: Record::from(&r),
            status: shown_status(&r),
        }))
    }

    /// The job's row, with a terminal state its runner could not save yet laid over it (see
    /// `saving`), so Describe and Stop see what List sees.
    async fn transform_job(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        let row = self
            .store
            .resource(ResourceKind::TransformJob, name)
            .await?
            .ok_or_else(|| {
                ServiceError::Validation(format!("Could not find requested job with name {name}"))
            })?;
        Ok(self.unsaved.overlay(ResourceKind::TransformJob, row))
    }

    /// Moves an InProgress job to Stopping and signals its runner, decided on the row as it
    /// stands when it is written (see `change_state`): a job that has just ended refuses.
    pub async fn stop_transform_job(&self, req: StopTransformJobRequest) -> ServiceResult<()> {
        let name = required(req.transform_job_name, "TransformJobName")?;
        let res = self.transform_job(&name).await?;
        let stopped = self
            .change_state(
                ResourceKind::TransformJob,
                &res.name,
                |row, _| match stored_status(row)? {
                    Some(InProgress) => Ok(Some(Stopping.as_str().to_string())),
                    Some(Stopping) | None => Ok(None),
                    Some(other) => Err(ServiceError::Validation(format!(
                        "The request was rejected because the transform job is in status {other}."
                    ))),
                },
            )
            .await?;
        if stopped {
            self.transforms.stop(&res.name);
        }
        Ok(())
    }

    /// Moves `name` to status `to` and writes what `edit` changes in its derived members, both
    /// decided on the row as it stands when it is written (see `change_state`). A move
    /// `TRANSFORM_STATUS` does not allow is a bug in the caller: it is logged with the job's name
    /// and refused as an internal error.
    #[cfg(test)]
    pub(crate) async fn save_transform(
        &self,
        name: &str,
        to: TransformJobStatus,
        edit: impl Fn(&mut Map<String, Value>),
    ) -> ServiceResult<()> {
        self.change_state(ResourceKind::TransformJob, name, |row, d| {
            check_move(row, to).map_err(|e| ServiceError::Internal(e.to_string()))?;
            edit(d);
            Ok(Some(to.as_str().to_string()))
        })
        .await
        .map(|_| ())
    }

    /// Writes what `edit` changes in `name`'s derived members and leaves its status as it is
    /// when the write lands (a stop may have moved it to Stopping meanwhile).
    pub(crate) async fn note_transform(
        &self,
        name: &str,
        edit: impl Fn(&mut Map<String, Value>),
    ) -> ServiceResult<()> {
        self.change_state(ResourceKind::TransformJob, name, |row, d| {
            let status = stored_status(row)?.unwrap_or(InProgress);
            edit(d);
            Ok(Some(status.as_str().to_string()))
        })
        .await
        .map(|_| ())
    }

    /// Whether `TRANSFORM_STATUS` lets `name` move from the status it shows now (a terminal one
    /// not saved yet included) to `to`; a refusal is logged. A job that is gone, or whose status
    /// cannot be read, is let through: the write itself then finds it gone or fails.
    #[cfg(test)]
    pub(crate) async fn transform_may_move(
        &self,
        name: &str,
        to: TransformJobStatus,
    ) -> Result<(), IllegalMove> {
        let res = match self.store.resource(ResourceKind::TransformJob, name).await {
            Ok(Some(res)) => self.unsaved.overlay(ResourceKind::TransformJob, res),
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::warn!("transform job {name}: cannot read its status to check a move: {e}");
                return Ok(());
            }
        };
        check_move(&res, to)
    }

    /// At startup: transform jobs cut short by a restart fail (or stop, if they were stopping);
    /// their containers are swept. Returns no ARN to keep.
    pub async fn recover_transforms(&self) -> HashSet<String> {
        let restarted = FailureReason::InternalServerError(
            "sagebox restarted while this job was running; start it again under a new name.".into(),
        );
        for (from, to, reason) in [
            (InProgress, Failed, Some(&restarted)),
            (Stopping, Stopped, None),
        ] {
            let query = ListQuery::every(Some(from.as_str()));
            let jobs = self
                .store
                .list_resources(ResourceKind::TransformJob, query)
                .await
                .unwrap_or_default();
            for job in jobs {
                if let Err(e) = TRANSFORM_STATUS.check(&job.name, from, to) {
                    tracing::error!("{e}: refused");
                    continue;
                }
                let ended = now_epoch();
                self.persist_state(ResourceKind::TransformJob, &job.name, to.as_str(), |d| {
                    d.insert("TransformEndTime".into(), json!(ended));
                    if let Some(r) = reason {
                        d.insert("FailureReason".into(), json!(r));
                    }
                })
                .await;
            }
        }
        HashSet::new()
    }
}

/// Whether `TRANSFORM_STATUS` lets job `res` move from the status it shows to `to`; a refusal
/// (a damaged status included) is logged.
pub(crate) fn check_move(res: &Resource, to: TransformJobStatus) -> Result<(), IllegalMove> {
    let from = match stored_status(res) {
        Ok(s) => s.unwrap_or(InProgress),
        Err(e) => {
            tracing::error!("{e}");
            return Err(IllegalMove {
                family: TRANSFORM_STATUS.family,
                name: res.name.clone(),
                from: res.status.clone().unwrap_or_default(),
                to: to.to_string(),
            });
        }
    };
    TRANSFORM_STATUS
        .check(&res.name, from, to)
        .inspect_err(|e| {
            tracing::error!("{e}: refused");
        })
}

/// The status a row holds; None before its first save. Text that is no TransformJobStatus is
/// a damaged row, named in the error.
fn stored_status(res: &Resource) -> ServiceResult<Option<TransformJobStatus>> {
    res.status
        .as_deref()
        .map(|s| {
            s.parse().map_err(|text| {
                ServiceError::Internal(format!(
                    "transform job {}: stored status {text:?} is no TransformJobStatus",
                    res.name
                ))
            })
        })
        .transpose()
}

/// The status Describe and List show; a damaged one is logged and shown as not yet saved.
fn shown_status(res: &Resource) -> Option<TransformJobStatus> {
    stored_status(res).unwrap_or_else(|e| {
        tracing::error!("{e}");
        None
    })
}
