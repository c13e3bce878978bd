//! The operations that act on a running execution: StopPipelineExecution,
//! RetryPipelineExecution, SendPipelineExecutionStepSuccess / Failure, and the recovery of
//! executions a restart interrupted. Each one hands an event to the execution's task (the one
//! writer of its state) or, when no task runs, writes the row itself.

use std::time::Duration;

use serde_json::Value;

use super::executor::{self, DEFAULT_MAX_PARALLEL, Event};
use super::state::ExecutionState;
use crate::aws::model::typed::sagemaker::{PipelineExecutionStatus as Status, StepStatus};
use crate::service::{ServiceError, ServiceResult, Services};
use crate::store::resources::{ListQuery, Resource, ResourceKind};

fn status_of(row: &Resource) -> Status {
    row.status
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(Status::Executing)
}

fn state_of(row: &Resource) -> ServiceResult<ExecutionState> {
    crate::service::stored(&format!("pipeline execution {}", row.name), &row.derived)
}

impl Services {
    pub async fn stop_pipeline_execution(&self, arn: &str) -> ServiceResult<()> {
        let row = self.pipeline_execution_row(arn).await?;
        match status_of(&row) {
            Status::Executing => {
                if !self.pipelines.send(&row.name, Event::Stop) {
                    self.update_status(
                        ResourceKind::PipelineExecution,
                        &row.name,
                        Status::Stopped.as_str(),
                        |_| {},
                    )
                    .await?;
                    return Ok(());
                }
                // answer once the execution shows Stopping (or has ended)
                for _ in 0..50 {
                    let now = self.pipeline_execution_row(arn).await?;
                    if status_of(&now) != Status::Executing {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(())
            }
            Status::Stopping | Status::Stopped => Ok(()),
            other => Err(ServiceError::Conflict(format!(
                "Pipeline execution {} is in status {other} and cannot be stopped.",
                row.arn
            ))),
        }
    }

    /// Runs a Failed execution again from its failed steps: steps that succeeded keep their
    /// results; failed and stopped ones run again.
    pub async fn retry_pipeline_execution(
        &self,
        arn: &str,
        max_parallel: Option<u32>,
    ) -> ServiceResult<()> {
        let row = self.pipeline_execution_row(arn).await?;
        let status = status_of(&row);
        if status != Status::Failed || self.pipelines.is_running(&row.name) {
            return Err(ServiceError::Conflict(format!(
                "Pipeline execution {} is in status {status}; only a Failed execution can be retried.",
                row.arn
            )));
        }
        let rows_guard = self.pipelines.lock_rows().await;
        let mut state = state_of(&row)?;
        state.steps.retain(|s| s.status == StepStatus::Succeeded);
        state.failure_reason = None;
        if let Some(m) = max_parallel {
            state.max_parallel = m;
        } else if state.max_parallel == 0 {
            state.max_parallel = DEFAULT_MAX_PARALLEL;
        }
        let Value::Object(members) =
            serde_json::to_value(&state).map_err(|e| ServiceError::Internal(e.to_string()))?
        else {
            return Err(ServiceError::Internal(
                "execution state is not an object".into(),
            ));
        };
        self.update_status(
            ResourceKind::PipelineExecution,
            &row.name,
            Status::Executing.as_str(),
            |d| {
                d.remove("FailureReason");
                d.extend(members.clone());
            },
        )
        .await?;
        drop(rows_guard);
        executor::spawn(self.clone(), row.name.clone());
        Ok(())
    }

    /// Completes the Callback step waiting on `token`; answers its execution's ARN.
    pub async fn send_pipeline_execution_step_success(
        &self,
        token: &str,
        outputs: Vec<(String, String)>,
    ) -> ServiceResult<String> {
        self.complete_callback(token, Ok(outputs)).await
    }

    /// Fails the Callback step waiting on `token`; answers its execution's ARN.
    pub async fn send_pipeline_execution_step_failure(
        &self,
        token: &str,
        reason: Option<String>,
    ) -> ServiceResult<String> {
        let reason = reason.unwrap_or_else(|| "The callback reported a failure.".into());
        self.complete_callback(token, Err(reason)).await
    }

    async fn complete_callback(
        &self,
        token: &str,
        result: Result<Vec<(String, String)>, String>,
    ) -> ServiceResult<String> {
        let (row, state) = self.execution_with_token(token).await?;
        let waiting = state
            .step_with_token(token)
            .is_some_and(|s| s.status == StepStatus::Executing);
        if !waiting || status_of(&row) != Status::Executing {
            return Err(ServiceError::Conflict(format!(
                "The callback token {token} belongs to a step that is no longer waiting for it."
            )));
        }
        let event = Event::Callback {
            token: token.to_string(),
            result,
        };
        if !self.pipelines.send(&row.name, event) {
            return Err(ServiceError::Internal(format!(
                "pipeline execution {} has no executor running; restart sagebox to resume it",
                row.arn
            )));
        }
        // answer once the step's new state is saved, so a List right after sees it
        for _ in 0..100 {
            let now = self.pipeline_execution_row(&row.arn).await?;
            if state_of(&now)?
                .step_with_token(token)
                .is_none_or(|s| s.status != StepStatus::Executing)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(row.arn.clone())
    }

    /// The execution whose step waits on callback `token`.
    async fn execution_with_token(&self, token: &str) -> ServiceResult<(Resource, ExecutionState)> {
        let rows = self
            .store
            .list_resources(ResourceKind::PipelineExecution, ListQuery::every(None))
            .await?;
        for row in rows.into_iter().rev() {
            let Ok(state) = state_of(&row) else { continue };
            if state.step_with_token(token).is_some() {
                return Ok((row, state));
            }
        }
        Err(ServiceError::NotFound(format!(
            "Callback token {token} does not belong to any pipeline execution step."
        )))
    }

    /// At startup: executions an earlier run left Executing or Stopping get their task back;
    /// their job steps find their jobs (which training's and processing's own recovery
    /// re-adopted or failed) by the names they saved.
    pub(crate) async fn recover_pipelines(&self) {
        for status in [Status::Executing, Status::Stopping] {
            let rows = match self
                .store
                .list_resources(
                    ResourceKind::PipelineExecution,
                    ListQuery::every(Some(status.as_str())),
                )
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!("cannot list pipeline executions to recover: {e}");
                    continue;
                }
            };
            for row in rows {
                tracing::info!("resuming pipeline execution {}", row.arn);
                executor::spawn(self.clone(), row.name.clone());
            }
        }
    }
}
