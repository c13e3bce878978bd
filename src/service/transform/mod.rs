//! Batch transform jobs: CreateTransformJob, DescribeTransformJob, ListTransformJobs,
//! StopTransformJob. A job runs the model's serving containers (`hosting::fleet`), sends every
//! input object through them as SageMaker does (split into records, batched, filtered and
//! joined: `records`), and writes `<S3OutputPath>/<input name>.out`.

pub mod records;
mod run;

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::aws::time::now_epoch;
use crate::service::described::{Record, TransformJob};
use crate::service::resources::{ListParams, Page, not_found};
use crate::service::training::staging;
use crate::service::{Request, ServiceError, ServiceResult, Services, required_str};
use crate::store::resources::{ListQuery, Resource, ResourceKind};

pub const LOG_GROUP: &str = "/aws/sagemaker/TransformJobs";

impl Services {
    pub async fn create_transform_job(&self, req: Request) -> ServiceResult<Arc<Resource>> {
        let name = required_str(&req, "TransformJobName")?.to_string();
        let model = required_str(&req, "ModelName")?.to_string();
        if self
            .store
            .resource(ResourceKind::Model, &model)
            .await?
            .is_none()
        {
            return Err(not_found(self, ResourceKind::Model, &model));
        }
        for (member, path) in [
            (
                "transformInput.dataSource.s3DataSource.s3Uri",
                "/TransformInput/DataSource/S3DataSource/S3Uri",
            ),
            (
                "transformOutput.s3OutputPath",
                "/TransformOutput/S3OutputPath",
            ),
        ] {
            let uri = Value::Object(req.clone())
                .pointer(path)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if staging::parse_s3_uri(&uri).is_none() {
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
                req,
                derived,
                Some("InProgress"),
            )
            .await
        {
            Ok(r) => r,
            Err(ServiceError::Validation(m)) if m.starts_with("Cannot create already existing") => {
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
            status: res.status.clone(),
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
            status: r.status,
        }))
    }

    async fn transform_job(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        self.store
            .resource(ResourceKind::TransformJob, name)
            .await?
            .ok_or_else(|| {
                ServiceError::Validation(format!("Could not find requested job with name {name}"))
            })
    }

    pub async fn stop_transform_job(&self, name: &str) -> ServiceResult<()> {
        let res = self.transform_job(name).await?;
        match res.status.as_deref() {
            Some("InProgress") => {
                self.save_transform(&res.name, "Stopping", |_| {}).await?;
                self.transforms.stop(&res.name);
                Ok(())
            }
            Some("Stopping") => Ok(()),
            Some(other) => Err(ServiceError::Validation(format!(
                "The request was rejected because the transform job is in status {other}."
            ))),
            None => Ok(()),
        }
    }

    pub(crate) async fn save_transform(
        &self,
        name: &str,
        status: &str,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> ServiceResult<()> {
        self.update_status(ResourceKind::TransformJob, name, status, edit)
            .await
    }

    /// At startup: transform jobs cut short by a restart fail (or stop, if they were stopping);
    /// their containers are swept. Returns no ARN to keep.
    pub async fn recover_transforms(&self) -> HashSet<String> {
        for status in ["InProgress", "Stopping"] {
            let query = ListQuery::every(Some(status));
            let jobs = self
                .store
                .list_resources(ResourceKind::TransformJob, query)
                .await
                .unwrap_or_default();
            for job in jobs {
                let (final_status, reason) = if status == "Stopping" {
                    ("Stopped", None)
                } else {
                    (
                        "Failed",
                        Some(
                            "InternalServerError: sagebox restarted while this job was running; start it again under a new name.",
                        ),
                    )
                };
                let ended = now_epoch();
                self.persist_state(ResourceKind::TransformJob, &job.name, final_status, |d| {
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
