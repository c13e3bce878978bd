//! Executions as resources: DescribePipelineExecution, ListPipelineExecutions,
//! ListPipelineExecutionSteps, ListPipelineParametersForExecution,
//! DescribePipelineDefinitionForExecution and UpdatePipelineExecution. The executor owns an
//! execution's status and steps; these read them and change only what UpdatePipelineExecution
//! may (display name, description, parallelism).

use std::sync::Arc;

use serde_json::{Value, json};

use super::listing::{page_of, within};
use super::start::max_parallel_of;
use super::{Services, execution_row_name};
use crate::aws::model::typed::sagemaker::{
    PipelineExecutionStatus, UpdatePipelineExecutionRequest,
};
use crate::service::described::Record;
use crate::service::pipelines::state::{ExecutionState, StepRun};
use crate::service::resources::Page;
use crate::service::{Input, ServiceError, ServiceResult, required, stored};
use crate::store::resources::{ListQuery, Resource, ResourceKind};

/// A pipeline execution (DescribePipelineExecution, ListPipelineExecutions).
#[derive(Debug, Clone)]
pub struct PipelineExecution {
    pub record: Record,
    pub status: PipelineExecutionStatus,
    pub state: ExecutionState,
}

impl PipelineExecution {
    fn from_row(r: &Resource) -> ServiceResult<PipelineExecution> {
        Ok(PipelineExecution {
            record: Record::from(r),
            status: r
                .status
                .as_deref()
                .and_then(|s| s.parse().ok())
                .unwrap_or(PipelineExecutionStatus::Executing),
            state: stored(&format!("pipeline execution {}", r.name), &r.derived)?,
        })
    }
}

/// ListPipelineExecutions' filters and order.
#[derive(Debug, Clone, Default)]
pub struct ExecutionListParams {
    pub created_after: Option<f64>,
    pub created_before: Option<f64>,
    /// SortBy PipelineExecutionArn (else CreationTime).
    pub by_arn: bool,
    pub descending: bool,
    pub max_results: usize,
    pub next_token: Option<String>,
}

/// A parameter's value as ListPipelineParametersForExecution shows it.
pub fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Services {
    /// The stored row of execution `arn`, with a state its executor could not save yet laid
    /// over it.
    pub(crate) async fn pipeline_execution_row(&self, arn: &str) -> ServiceResult<Arc<Resource>> {
        let missing =
            || ServiceError::NotFound(format!("Pipeline execution with ARN {arn} does not exist"));
        let name = execution_row_name(arn).ok_or_else(missing)?;
        let row = self
            .store
            .resource(ResourceKind::PipelineExecution, &name)
            .await?
            .ok_or_else(missing)?;
        Ok(self.unsaved.overlay(ResourceKind::PipelineExecution, row))
    }

    /// Every execution row of pipeline `pipeline` (its stored name), oldest first.
    pub(crate) async fn execution_rows(&self, pipeline: &str) -> ServiceResult<Vec<Resource>> {
        let prefix = format!("{}/execution/", pipeline.to_ascii_lowercase());
        let query = ListQuery {
            name_contains: Some(prefix.clone()),
            ..ListQuery::every(None)
        };
        Ok(self
            .store
            .list_resources(ResourceKind::PipelineExecution, query)
            .await?
            .into_iter()
            .filter(|r| r.name.to_ascii_lowercase().starts_with(&prefix))
            .map(|r| {
                Arc::unwrap_or_clone(
                    self.unsaved
                        .overlay(ResourceKind::PipelineExecution, Arc::new(r)),
                )
            })
            .collect())
    }

    pub async fn describe_pipeline_execution(&self, arn: &str) -> ServiceResult<PipelineExecution> {
        PipelineExecution::from_row(&*self.pipeline_execution_row(arn).await?)
    }

    pub async fn list_pipeline_executions(
        &self,
        pipeline: &str,
        p: ExecutionListParams,
    ) -> ServiceResult<Page<PipelineExecution>> {
        let row = self.pipeline_row(pipeline).await?;
        let mut found = self
            .execution_rows(&row.name)
            .await?
            .iter()
            .filter(|r| within(r.created, p.created_after, p.created_before))
            .map(PipelineExecution::from_row)
            .collect::<ServiceResult<Vec<_>>>()?;
        found.sort_by(|a, b| {
            let (a, b) = (&a.record, &b.record);
            let order = if p.by_arn {
                a.arn.cmp(&b.arn)
            } else {
                a.created
                    .total_cmp(&b.created)
                    .then_with(|| a.arn.cmp(&b.arn))
            };
            if p.descending { order.reverse() } else { order }
        });
        page_of(&found, p.max_results, p.next_token.as_deref())
    }

    /// The execution's steps in the order they started (most recent first when `descending`).
    pub async fn list_pipeline_execution_steps(
        &self,
        arn: &str,
        descending: bool,
        max_results: usize,
        next_token: Option<&str>,
    ) -> ServiceResult<Page<StepRun>> {
        let mut steps = self.describe_pipeline_execution(arn).await?.state.steps;
        steps.sort_by(|a, b| {
            let start = |s: &StepRun| s.start.unwrap_or(f64::MAX);
            start(a).total_cmp(&start(b))
        });
        if descending {
            steps.reverse();
        }
        page_of(&steps, max_results, next_token)
    }

    /// The execution's parameters (defaults and values given), in definition order, as text.
    pub async fn list_pipeline_parameters_for_execution(
        &self,
        arn: &str,
        max_results: usize,
        next_token: Option<&str>,
    ) -> ServiceResult<Page<(String, String)>> {
        let state = self.describe_pipeline_execution(arn).await?.state;
        let shown: Vec<(String, String)> = state
            .parameters
            .iter()
            .map(|(n, v)| (n.clone(), display_value(v)))
            .collect();
        page_of(&shown, max_results, next_token)
    }

    /// The definition the execution runs, and when the execution was created.
    pub async fn describe_pipeline_definition_for_execution(
        &self,
        arn: &str,
    ) -> ServiceResult<(String, f64)> {
        let e = self.describe_pipeline_execution(arn).await?;
        Ok((e.state.definition, e.record.created))
    }

    /// Changes the execution's display name, description or parallelism; answers its ARN.
    pub async fn update_pipeline_execution(
        &self,
        input: Input<UpdatePipelineExecutionRequest>,
    ) -> ServiceResult<String> {
        let arn = required(
            input.members.pipeline_execution_arn.clone(),
            "PipelineExecutionArn",
        )?;
        let row = self.pipeline_execution_row(&arn).await?;
        let kind = ResourceKind::PipelineExecution;
        let _rows = self.pipelines.lock_rows().await;
        let members = [
            "PipelineExecutionDisplayName",
            "PipelineExecutionDescription",
            "ParallelismConfiguration",
        ];
        let changed: Vec<(&str, Value)> = members
            .iter()
            .filter_map(|m| input.raw.get(*m).map(|v| (*m, v.clone())))
            .collect();
        let max_parallel = max_parallel_of(input.raw.get("ParallelismConfiguration"));
        // the status stays the one stored when the write lands (the executor may move it)
        let written = self
            .change_state(kind, &row.name, |stored, d| {
                for (m, v) in &changed {
                    d.insert((*m).into(), v.clone());
                }
                if let Some(n) = max_parallel {
                    d.insert("_MaxParallel".into(), json!(n));
                }
                Ok(Some(stored.status.clone().unwrap_or_else(|| {
                    PipelineExecutionStatus::Executing.as_str().into()
                })))
            })
            .await?;
        if !written {
            return Err(ServiceError::NotFound(format!(
                "Pipeline execution with ARN {arn} does not exist"
            )));
        }
        if let Some(n) = max_parallel {
            self.pipelines
                .send(&row.name, super::super::executor::Event::Parallelism(n));
        }
        Ok(row.arn.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_values_show_as_text() {
        assert_eq!(display_value(&json!("a b")), "a b");
        assert_eq!(display_value(&json!(3)), "3");
        assert_eq!(display_value(&json!(0.5)), "0.5");
        assert_eq!(display_value(&json!(true)), "true");
    }

    #[test]
    fn a_stored_execution_reads_back_with_its_status_and_state() {
        let state = ExecutionState {
            version_id: 2,
            definition: "{}".into(),
            parameters: vec![("N".into(), json!(1))],
            max_parallel: 50,
            ..Default::default()
        };
        let row = Resource {
            name: "p/execution/abc".into(),
            arn: "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/abc".into(),
            status: Some("Succeeded".into()),
            created: 1.0,
            modified: 2.0,
            request: json!({}),
            derived: serde_json::to_value(&state).expect("serializes"),
        };
        let e = PipelineExecution::from_row(&row).expect("decodes");
        assert_eq!(e.status, PipelineExecutionStatus::Succeeded);
        assert_eq!(e.state.version_id, 2);
        assert_eq!(e.state.parameters, state.parameters);
    }
}
