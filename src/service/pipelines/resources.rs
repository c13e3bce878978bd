//! Pipelines and executions as resources. A pipeline is a row whose request is CreatePipeline's
//! (its definition moved out) and whose derived members hold what UpdatePipeline changed and
//! the versions (`versions`); its ARN lower-cases its name, as SageMaker's do. This file holds
//! Create/Describe/Update/Delete/ListPipelines and ListPipelineVersions; `executions` holds
//! StartPipelineExecution and the operations on executions, whose rows are named
//! `<pipeline>/execution/<id>`.

mod executions;
mod listing;
pub(crate) mod start;
pub mod versions;

use std::sync::Arc;

use serde_json::{Map, Value, json};

pub use executions::{ExecutionListParams, PipelineExecution};
pub use listing::{PipelineListParams, VersionListParams};
pub use start::DEFAULT_MAX_PARALLEL;
use versions::PipelineVersion;

use super::definition::Definition;
use crate::aws::model::typed::sagemaker::{
    CreatePipelineRequest, PipelineDefinitionS3Location, UpdatePipelineRequest,
};
use crate::aws::time::now_epoch;
use crate::service::described::Record;
use crate::service::{Input, ServiceError, ServiceResult, Services, required};
use crate::store::resources::{ListQuery, Resource, ResourceKind};

/// The one PipelineStatus a pipeline sagebox holds shows (Deleting passes unseen: a delete is
/// immediate).
pub const ACTIVE: &str = "Active";

/// The members UpdatePipeline may change; the changed values sit in derived, over the request's.
const UPDATABLE: [&str; 4] = [
    "PipelineDisplayName",
    "PipelineDescription",
    "RoleArn",
    "ParallelismConfiguration",
];

/// A pipeline (DescribePipeline, ListPipelines) with its versions, oldest first.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub record: Record,
    pub status: String,
    pub versions: Vec<PipelineVersion>,
}

impl Pipeline {
    fn from_row(r: &Resource) -> Pipeline {
        Pipeline {
            record: Record::from(r),
            status: r.status.clone().unwrap_or_else(|| ACTIVE.into()),
            versions: versions::versions(&r.derived),
        }
    }

    /// When the last execution started, if any has.
    pub fn last_run(&self) -> Option<f64> {
        self.record
            .derived
            .get("LastRunTime")
            .and_then(Value::as_f64)
    }
}

/// The row name of execution `arn` (`…:pipeline/<pipeline>/execution/<id>` →
/// `<pipeline>/execution/<id>`), if it is an execution ARN.
pub fn execution_row_name(arn: &str) -> Option<String> {
    let rest = arn.split_once(":pipeline/")?.1;
    let (pipeline, id) = rest.split_once("/execution/")?;
    (!pipeline.is_empty() && !id.is_empty() && !id.contains('/'))
        .then(|| format!("{pipeline}/execution/{id}"))
}

/// The pipeline name a PipelineNameOrArn member names: the name itself, or the part of a
/// pipeline ARN after `pipeline/` (None for an ARN that names something else).
pub fn pipeline_name_of(name_or_arn: &str) -> Option<&str> {
    if !name_or_arn.starts_with("arn:") {
        return Some(name_or_arn);
    }
    let rest = name_or_arn.split_once(":pipeline/")?.1;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

impl Services {
    pub async fn create_pipeline(
        &self,
        input: Input<CreatePipelineRequest>,
    ) -> ServiceResult<String> {
        let req = &input.members;
        let name = required(req.pipeline_name.clone(), "PipelineName")?;
        if let Some(existing) = self.store.resource(ResourceKind::Pipeline, &name).await? {
            return self.created_before(&existing, req.client_request_token.as_deref());
        }
        let text = self
            .definition_text(
                req.pipeline_definition.clone(),
                req.pipeline_definition_s3_location.as_ref(),
            )
            .await?
            .ok_or_else(|| {
                ServiceError::Validation(
                    "Either PipelineDefinition or PipelineDefinitionS3Location must be provided."
                        .into(),
                )
            })?;
        let mut raw = input.raw;
        raw.remove("PipelineDefinition");
        raw.remove("PipelineDefinitionS3Location");
        let now = now_epoch();
        let mut vs = Vec::new();
        versions::push_version(&mut vs, text, now);
        let mut derived = Map::new();
        derived.insert("LastModifiedTime".into(), json!(now));
        versions::put_versions(&mut derived, &vs);
        let kind = ResourceKind::Pipeline;
        match self
            .create_resource(kind, &name, raw, Value::Object(derived), Some(ACTIVE))
            .await
        {
            Ok(res) => Ok(res.arn.clone()),
            Err(ServiceError::Duplicate(_)) => match self.store.resource(kind, &name).await? {
                Some(existing) => {
                    self.created_before(&existing, req.client_request_token.as_deref())
                }
                None => Err(duplicate(&name)),
            },
            Err(e) => Err(e),
        }
    }

    /// A CreatePipeline for a name already taken: the same request again (its
    /// ClientRequestToken) answers the pipeline's ARN, any other is refused.
    fn created_before(&self, existing: &Resource, token: Option<&str>) -> ServiceResult<String> {
        let stored = existing
            .request
            .get("ClientRequestToken")
            .and_then(Value::as_str);
        match (stored, token) {
            (Some(a), Some(b)) if a == b => Ok(existing.arn.clone()),
            _ => Err(duplicate(&existing.name)),
        }
    }

    /// The pipeline and the version asked for (the latest when `version` is None).
    pub async fn describe_pipeline(
        &self,
        name_or_arn: &str,
        version: Option<i64>,
    ) -> ServiceResult<(Pipeline, PipelineVersion)> {
        let p = Pipeline::from_row(&*self.pipeline_row(name_or_arn).await?);
        let v = versions::pick(&p.versions, version)
            .cloned()
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "Pipeline version {} of pipeline '{}' does not exist.",
                    version.unwrap_or(1),
                    p.record.arn
                ))
            })?;
        Ok((p, v))
    }

    /// Answers the pipeline's ARN and its latest version (a new one when a definition came).
    pub async fn update_pipeline(
        &self,
        input: Input<UpdatePipelineRequest>,
    ) -> ServiceResult<(String, i64)> {
        let req = &input.members;
        let name = required(req.pipeline_name.clone(), "PipelineName")?;
        let row = self.pipeline_row(&name).await?;
        let text = self
            .definition_text(
                req.pipeline_definition.clone(),
                req.pipeline_definition_s3_location.as_ref(),
            )
            .await?;
        let mut vs = versions::versions(&row.derived);
        let latest = match text {
            Some(t) => versions::push_version(&mut vs, t, now_epoch()),
            None => versions::pick(&vs, None).map_or(1, |v| v.id),
        };
        let changed: Vec<(&str, Value)> = UPDATABLE
            .iter()
            .filter_map(|m| input.raw.get(*m).map(|v| (*m, v.clone())))
            .collect();
        self.update_status(ResourceKind::Pipeline, &row.name, ACTIVE, |d| {
            for (m, v) in &changed {
                d.insert((*m).into(), v.clone());
            }
            versions::put_versions(d, &vs);
        })
        .await?;
        Ok((row.arn.clone(), latest))
    }

    /// Deletes the pipeline with its executions (those still running are stopped first);
    /// answers its ARN.
    pub async fn delete_pipeline(&self, name: &str) -> ServiceResult<String> {
        let row = self.pipeline_row(name).await?;
        for e in self.execution_rows(&row.name).await? {
            if matches!(e.status.as_deref(), Some("Executing"))
                && let Err(err) = self.stop_pipeline_execution(&e.arn).await
            {
                tracing::warn!(
                    "deleting pipeline {}: cannot stop {}: {err}",
                    row.name,
                    e.arn
                );
            }
            self.store
                .delete_resource(ResourceKind::PipelineExecution, &e.name)
                .await?;
        }
        self.store
            .delete_resource(ResourceKind::Pipeline, &row.name)
            .await?;
        Ok(row.arn.clone())
    }

    /// The row of the pipeline a PipelineNameOrArn member names.
    pub(crate) async fn pipeline_row(&self, name_or_arn: &str) -> ServiceResult<Arc<Resource>> {
        let missing = || {
            let arn = if name_or_arn.starts_with("arn:") {
                name_or_arn.to_string()
            } else {
                self.sagemaker_arn("pipeline", name_or_arn)
            };
            ServiceError::NotFound(format!("Pipeline '{arn}' does not exist."))
        };
        let name = pipeline_name_of(name_or_arn).ok_or_else(missing)?;
        self.store
            .resource(ResourceKind::Pipeline, name)
            .await?
            .ok_or_else(missing)
    }

    /// Every pipeline row.
    async fn pipeline_rows(&self) -> ServiceResult<Vec<Resource>> {
        Ok(self
            .store
            .list_resources(ResourceKind::Pipeline, ListQuery::every(None))
            .await?)
    }

    /// The definition an inline member or an S3 location gives, checked; None when neither
    /// is given.
    async fn definition_text(
        &self,
        inline: Option<String>,
        location: Option<&PipelineDefinitionS3Location>,
    ) -> ServiceResult<Option<String>> {
        let text = match (inline, location) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::Validation(
                    "Only one of PipelineDefinition or PipelineDefinitionS3Location can be provided."
                        .into(),
                ));
            }
            (Some(t), None) => t,
            (None, Some(loc)) => self.definition_from_s3(loc).await?,
            (None, None) => return Ok(None),
        };
        Definition::parse(&text).map_err(ServiceError::Validation)?;
        Ok(Some(text))
    }

    /// Reads a PipelineDefinitionS3Location from sagebox's own S3 (unversioned: only the
    /// VersionId "null" names an object there).
    async fn definition_from_s3(
        &self,
        loc: &PipelineDefinitionS3Location,
    ) -> ServiceResult<String> {
        let bucket = loc.bucket.as_deref().unwrap_or_default();
        let key = loc.object_key.as_deref().unwrap_or_default();
        let unreadable = |why: &str| {
            ServiceError::Validation(format!(
                "Unable to read the pipeline definition from s3://{bucket}/{key}: {why}"
            ))
        };
        if let Some(v) = loc.version_id.as_deref().filter(|v| *v != "null") {
            return Err(unreadable(&format!(
                "version {v} does not exist (the bucket is not versioned)."
            )));
        }
        let (_, path) = self
            .objects
            .object(bucket, key)
            .await
            .map_err(|e| unreadable(&format!("{e}.")))?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| unreadable(&format!("{e}.")))?;
        String::from_utf8(bytes).map_err(|_| unreadable("the object is not UTF-8 text."))
    }
}

/// SageMaker's answer to a CreatePipeline for a name already taken (the SDK's
/// `Pipeline.upsert` looks for "already exists" in it).
fn duplicate(name: &str) -> ServiceError {
    ServiceError::Validation(format!(
        "Pipeline names must be unique within an AWS account and region. Pipeline with name ({name}) already exists."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_name_their_rows() {
        let arn = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p-1/execution/ab12cd34ef56";
        assert_eq!(
            execution_row_name(arn).as_deref(),
            Some("p-1/execution/ab12cd34ef56")
        );
        for bad in [
            "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p-1",
            "arn:aws:sagemaker:us-east-1:000000000000:pipeline//execution/x",
            "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/x/y",
        ] {
            assert_eq!(execution_row_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn pipeline_names_come_from_names_or_pipeline_arns() {
        assert_eq!(pipeline_name_of("MyPipe"), Some("MyPipe"));
        assert_eq!(
            pipeline_name_of("arn:aws:sagemaker:us-east-1:000000000000:pipeline/mypipe"),
            Some("mypipe")
        );
        assert_eq!(
            pipeline_name_of("arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/x"),
            None
        );
        assert_eq!(
            pipeline_name_of("arn:aws:sagemaker:us-east-1:000000000000:model/m"),
            None
        );
    }

    #[test]
    fn the_duplicate_message_is_what_upsert_looks_for() {
        let ServiceError::Validation(m) = duplicate("P") else {
            panic!("a validation error")
        };
        assert!(m.contains("already exists") && m.contains("(P)"));
    }
}
