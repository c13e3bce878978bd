//! What a pipeline execution stores in its row (the status column holds its
//! PipelineExecutionStatus; `derived` holds an `ExecutionState`), and the legal moves of its
//! statuses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::model::typed::sagemaker::{PipelineExecutionStatus, StepStatus};
use crate::service::lifecycle::Lifecycle;

/// An execution runs Executing until its steps are done; a stop passes through Stopping.
/// RetryPipelineExecution moves a Failed execution back to Executing.
pub const EXECUTION: Lifecycle<PipelineExecutionStatus> = {
    use PipelineExecutionStatus::*;
    Lifecycle {
        family: "pipeline execution",
        initial: &[Executing],
        moves: &[
            (Executing, Succeeded),
            (Executing, Failed),
            (Executing, Stopping),
            (Stopping, Stopped),
            (Stopping, Failed),
            (Failed, Executing),
        ],
    }
};

/// The execution's own members, stored in its row's `derived`. Members whose names start with
/// `_` are sagebox's own and never rendered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutionState {
    /// The pipeline version this execution runs.
    #[serde(rename = "PipelineVersionId")]
    pub version_id: i64,
    /// The definition text of that version, as the execution started with it.
    #[serde(rename = "_Definition")]
    pub definition: String,
    /// The parameters' typed values (defaults and the ones given), in definition order.
    #[serde(rename = "_Parameters")]
    pub parameters: Vec<(String, Value)>,
    /// PipelineExperimentConfig with its expressions resolved.
    #[serde(
        rename = "PipelineExperimentConfig",
        skip_serializing_if = "Option::is_none"
    )]
    pub experiment_config: Option<Value>,
    /// Why the execution failed.
    #[serde(rename = "FailureReason", skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// ParallelismConfiguration.MaxParallelExecutionSteps in force (execution's, else the
    /// pipeline's, else 50).
    #[serde(rename = "_MaxParallel")]
    pub max_parallel: u32,
    /// Steps selected by SelectiveExecutionConfig (empty: all); the others take their results
    /// from `_SourceExecution`.
    #[serde(rename = "_Selected")]
    pub selected: Vec<String>,
    #[serde(rename = "_SourceExecution", skip_serializing_if = "Option::is_none")]
    pub source_execution: Option<String>,
    /// Every step that has started, in the order they started.
    #[serde(rename = "_Steps")]
    pub steps: Vec<StepRun>,
    /// The LastModifiedTime the state was saved at.
    #[serde(rename = "LastModifiedTime", skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<f64>,
}

impl ExecutionState {
    pub fn step(&self, name: &str) -> Option<&StepRun> {
        self.steps.iter().find(|s| s.name == name)
    }

    pub fn step_mut(&mut self, name: &str) -> Option<&mut StepRun> {
        self.steps.iter_mut().find(|s| s.name == name)
    }

    /// The step waiting on callback `token`.
    pub fn step_with_token(&self, token: &str) -> Option<&StepRun> {
        self.steps
            .iter()
            .find(|s| s.callback_token.as_deref() == Some(token))
    }
}

/// One step of an execution, as ListPipelineExecutionSteps shows it (PipelineExecutionStep),
/// plus what the executor needs to go on after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StepRun {
    pub name: String,
    /// The step's `Type`.
    pub kind: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub status: StepStatus,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub failure_reason: Option<String>,
    /// PipelineExecutionStepMetadata: `{"TrainingJob": {"Arn": …}}`, `{"Condition":
    /// {"Outcome": "True"}}`, `{"Callback": {"CallbackToken": …}}`, …
    pub metadata: Value,
    /// What later steps' `Get Steps.<name>.…` read: the job's Describe* output, a callback's
    /// OutputParameters, a condition's Outcome.
    pub properties: Value,
    pub attempt_count: u32,
    /// The execution whose result this step reused (CacheHitResult).
    pub cache_source: Option<String>,
    /// The name of the SageMaker resource the step created (job, model, package ARN), so a
    /// restarted executor finds it again instead of creating another.
    pub resource: Option<String>,
    pub callback_token: Option<String>,
    /// The step's resolved arguments (a resource step's Create* members), kept for a restart
    /// and for retries.
    pub arguments: Option<Value>,
    /// A hash of the step's resolved arguments, for CacheConfig.
    pub cache_key: Option<String>,
    /// SelectiveExecutionResult's SourcePipelineExecutionArn for a step not selected.
    pub selective_source: Option<String>,
}

impl Default for StepRun {
    fn default() -> StepRun {
        StepRun {
            name: String::new(),
            kind: String::new(),
            display_name: None,
            description: None,
            status: StepStatus::Starting,
            start: None,
            end: None,
            failure_reason: None,
            metadata: Value::Object(Default::default()),
            properties: Value::Null,
            attempt_count: 0,
            cache_source: None,
            resource: None,
            callback_token: None,
            arguments: None,
            cache_key: None,
            selective_source: None,
        }
    }
}

impl StepRun {
    pub fn is_done(&self) -> bool {
        matches!(
            self.status,
            StepStatus::Succeeded | StepStatus::Failed | StepStatus::Stopped
        )
    }
}
