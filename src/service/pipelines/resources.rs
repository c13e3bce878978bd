//! Pipelines and executions as resources: Create/Describe/Update/Delete/ListPipelines with
//! their versions, StartPipelineExecution, DescribePipelineExecution, the List* of executions,
//! steps and parameters, DescribePipelineDefinitionForExecution, UpdatePipelineExecution.
//! SKELETON: being written.

use std::sync::Arc;

use crate::service::{ServiceError, ServiceResult, Services};
use crate::store::resources::{Resource, ResourceKind};

/// The row name of execution `arn` (`…:pipeline/<pipeline>/execution/<id>` →
/// `<pipeline>/execution/<id>`), if it is an execution ARN.
pub fn execution_row_name(arn: &str) -> Option<String> {
    let rest = arn.split_once(":pipeline/")?.1;
    let (pipeline, id) = rest.split_once("/execution/")?;
    (!pipeline.is_empty() && !id.is_empty() && !id.contains('/'))
        .then(|| format!("{pipeline}/execution/{id}"))
}

impl Services {
    /// The stored row of execution `arn`.
    pub(crate) async fn pipeline_execution_row(&self, arn: &str) -> ServiceResult<Arc<Resource>> {
        let missing =
            || ServiceError::NotFound(format!("Pipeline execution with ARN {arn} does not exist"));
        let name = execution_row_name(arn).ok_or_else(missing)?;
        self.store
            .resource(ResourceKind::PipelineExecution, &name)
            .await?
            .ok_or_else(missing)
    }
}
