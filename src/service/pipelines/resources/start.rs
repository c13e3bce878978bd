//! StartPipelineExecution: picks the version, types the parameters, works out the parallelism
//! and the selective execution, resolves the experiment config, writes the execution's row
//! (`<pipeline>/execution/<id>`, status Executing, derived an `ExecutionState`) and hands it to
//! the executor.

use serde_json::{Map, Value, json};

use super::versions::{self, PipelineVersion};
use super::{ACTIVE, Services};
use crate::aws::model::typed::sagemaker::{
    PipelineExecutionStatus, SelectiveExecutionConfig, StartPipelineExecutionRequest,
};
use crate::aws::time::{iso8601, now_epoch};
use crate::service::pipelines::definition::{Definition, StepDef};
use crate::service::pipelines::expr::{self, Scope};
use crate::service::pipelines::state::ExecutionState;
use crate::service::{Input, ServiceError, ServiceResult, required};
use crate::store::resources::{Resource, ResourceKind};

/// Steps run at once when neither the execution nor the pipeline says otherwise.
pub const DEFAULT_MAX_PARALLEL: u32 = 50;

/// An execution id: 12 random lowercase letters and digits, as SageMaker's.
pub fn execution_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    uuid::Uuid::new_v4().as_bytes()[..12]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// MaxParallelExecutionSteps from a ParallelismConfiguration member, if it holds a usable one.
pub fn max_parallel_of(config: Option<&Value>) -> Option<u32> {
    config?
        .get("MaxParallelExecutionSteps")?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// What the experiment config's expressions read when an execution starts: its parameters
/// and execution variables; no step has run yet.
struct StartScope<'a> {
    parameters: &'a [(String, Value)],
    variables: Map<String, Value>,
}

impl Scope for StartScope<'_> {
    fn parameter(&self, name: &str) -> Option<Value> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
    fn execution_variable(&self, name: &str) -> Option<Value> {
        self.variables.get(name).cloned()
    }
    fn step_properties(&self, _: &str) -> Option<&Value> {
        None
    }
    fn step_def(&self, _: &str) -> Option<&StepDef> {
        None
    }
    fn read_s3_json(&self, uri: &str) -> Result<Value, String> {
        Err(format!(
            "{uri}: no property file can be read before a step has run"
        ))
    }
}

impl Services {
    pub async fn start_pipeline_execution(
        &self,
        input: Input<StartPipelineExecutionRequest>,
    ) -> ServiceResult<String> {
        let req = &input.members;
        let pipeline = self
            .pipeline_row(&required(req.pipeline_name.clone(), "PipelineName")?)
            .await?;
        if let Some(arn) = self
            .started_before(&pipeline, req.client_request_token.as_deref())
            .await?
        {
            return Ok(arn);
        }
        if req.pipeline_version_alias.is_some() {
            return Err(ServiceError::Validation(
                "PipelineVersionAlias is not supported by sagebox; give PipelineVersionId.".into(),
            ));
        }
        let all = versions::versions(&pipeline.derived);
        let version = versions::pick(&all, req.pipeline_version_id)
            .cloned()
            .ok_or_else(|| {
                ServiceError::Validation(format!(
                    "Pipeline version {} of pipeline '{}' does not exist.",
                    req.pipeline_version_id.unwrap_or(1),
                    pipeline.arn
                ))
            })?;
        let def = Definition::parse(&version.definition).map_err(ServiceError::Validation)?;
        let given: Vec<(String, String)> = req
            .pipeline_parameters
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        let mut values = def
            .resolve_parameters(&given)
            .map_err(ServiceError::Validation)?;
        let parameters: Vec<(String, Value)> = def
            .parameters
            .iter()
            .filter_map(|p| values.remove(&p.name).map(|v| (p.name.clone(), v)))
            .collect();
        let (selected, source) = self
            .selection(&pipeline, &def, req.selective_execution_config.as_ref())
            .await?;
        self.record_execution(input, &pipeline, version, def, parameters, selected, source)
            .await
    }

    /// Writes the execution's row, notes it on the pipeline and starts its executor.
    #[allow(clippy::too_many_arguments)]
    async fn record_execution(
        &self,
        input: Input<StartPipelineExecutionRequest>,
        pipeline: &Resource,
        version: PipelineVersion,
        def: Definition,
        parameters: Vec<(String, Value)>,
        selected: Vec<String>,
        source: Option<String>,
    ) -> ServiceResult<String> {
        let id = execution_id();
        let row_name = format!("{}/execution/{id}", pipeline.name);
        let arn = self.sagemaker_arn("pipeline", &row_name);
        let now = now_epoch();
        let effective = |m: &str| {
            pipeline
                .derived
                .get(m)
                .or_else(|| pipeline.request.get(m))
                .cloned()
        };
        let role = input
            .raw
            .get("RoleArn")
            .cloned()
            .or_else(|| effective("RoleArn"));
        let max_parallel = max_parallel_of(input.raw.get("ParallelismConfiguration"))
            .or_else(|| max_parallel_of(effective("ParallelismConfiguration").as_ref()))
            .unwrap_or(DEFAULT_MAX_PARALLEL);
        let variables = execution_variables(&pipeline.name, &pipeline.arn, &id, &arn, now, role);
        let experiment_config = match def.experiment_config.as_ref().filter(|v| !v.is_null()) {
            Some(v) => {
                let scope = StartScope {
                    parameters: &parameters,
                    variables,
                };
                Some(expr::resolve(v, &scope).map_err(ServiceError::Validation)?)
            }
            None => None,
        };
        if let Some((experiment, trial)) = experiment_and_trial(experiment_config.as_ref()) {
            self.ensure_experiment_trial(&experiment, &trial).await?;
        }
        let state = ExecutionState {
            version_id: version.id,
            definition: version.definition,
            parameters,
            experiment_config,
            max_parallel,
            selected: selected.clone(),
            source_execution: source.clone(),
            last_modified: Some(now),
            ..Default::default()
        };
        let mut derived = match serde_json::to_value(&state) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        derived.insert("PipelineArn".into(), json!(pipeline.arn));
        if !input.raw.contains_key("PipelineExecutionDisplayName") {
            // SageMaker names an execution by its start time in milliseconds
            let name = format!("execution-{}", (now * 1000.0) as u64);
            derived.insert("PipelineExecutionDisplayName".into(), json!(name));
        }
        if !selected.is_empty() {
            derived.insert(
                "SelectiveExecutionConfig".into(),
                json!({
                    "SourcePipelineExecutionArn": source,
                    "SelectedSteps": selected.iter().map(|s| json!({"StepName": s})).collect::<Vec<_>>(),
                }),
            );
        }
        let status = PipelineExecutionStatus::Executing.as_str();
        self.create_resource(
            ResourceKind::PipelineExecution,
            &row_name,
            input.raw,
            Value::Object(derived),
            Some(status),
        )
        .await
        .map_err(|e| match e {
            ServiceError::Duplicate(m) => ServiceError::Internal(m),
            e => e,
        })?;
        self.note_run(pipeline, version.id, &arn, now).await;
        crate::service::pipelines::executor::spawn(self.clone(), row_name);
        Ok(arn)
    }

    /// Marks the pipeline's LastRunTime and its version's last execution (not a change to the
    /// pipeline: its LastModifiedTime stays).
    async fn note_run(&self, pipeline: &Resource, version: i64, arn: &str, now: f64) {
        let modified = pipeline
            .derived
            .get("LastModifiedTime")
            .cloned()
            .unwrap_or(json!(pipeline.modified));
        let saved = self
            .update_status(ResourceKind::Pipeline, &pipeline.name, ACTIVE, |d| {
                d.insert("LastModifiedTime".into(), modified.clone());
                d.insert("LastRunTime".into(), json!(now));
                let mut vs = versions::versions(&Value::Object(d.clone()));
                versions::note_execution(&mut vs, version, arn);
                versions::put_versions(d, &vs);
            })
            .await;
        if let Err(e) = saved {
            tracing::warn!(
                "pipeline {}: cannot note execution {arn}: {e}",
                pipeline.name
            );
        }
    }

    /// The execution an earlier StartPipelineExecution with this ClientRequestToken started.
    async fn started_before(
        &self,
        pipeline: &Resource,
        token: Option<&str>,
    ) -> ServiceResult<Option<String>> {
        let Some(token) = token else { return Ok(None) };
        Ok(self
            .execution_rows(&pipeline.name)
            .await?
            .into_iter()
            .find(|e| e.request.get("ClientRequestToken").and_then(Value::as_str) == Some(token))
            .map(|e| e.arn))
    }

    /// SelectiveExecutionConfig checked: the selected steps exist in the definition, and the
    /// source is an ended execution of the same pipeline (when none is named, its latest
    /// Succeeded one).
    async fn selection(
        &self,
        pipeline: &Resource,
        def: &Definition,
        config: Option<&SelectiveExecutionConfig>,
    ) -> ServiceResult<(Vec<String>, Option<String>)> {
        let Some(config) = config else {
            return Ok((Vec::new(), None));
        };
        let selected: Vec<String> = config
            .selected_steps
            .iter()
            .flatten()
            .filter_map(|s| s.step_name.clone())
            .collect();
        let unknown: Vec<&str> = selected
            .iter()
            .filter(|s| def.step(s).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(ServiceError::Validation(format!(
                "Selected steps [{}] do not exist in the pipeline definition.",
                unknown.join(", ")
            )));
        }
        let source = match config.source_pipeline_execution_arn.as_deref() {
            Some(arn) => self.selection_source(pipeline, arn).await?,
            None => self.latest_succeeded(pipeline).await?,
        };
        Ok((selected, Some(source)))
    }

    async fn selection_source(&self, pipeline: &Resource, arn: &str) -> ServiceResult<String> {
        let row = self.pipeline_execution_row(arn).await?;
        let prefix = format!("{}/execution/", pipeline.name.to_ascii_lowercase());
        if !row.name.to_ascii_lowercase().starts_with(&prefix) {
            return Err(ServiceError::Validation(format!(
                "Source pipeline execution {arn} is not an execution of pipeline '{}'.",
                pipeline.arn
            )));
        }
        match row.status.as_deref() {
            Some("Succeeded" | "Failed") => Ok(row.arn.clone()),
            other => Err(ServiceError::Validation(format!(
                "Source pipeline execution {arn} is in status {}; it must be Succeeded or Failed.",
                other.unwrap_or("Executing")
            ))),
        }
    }

    async fn latest_succeeded(&self, pipeline: &Resource) -> ServiceResult<String> {
        self.execution_rows(&pipeline.name)
            .await?
            .into_iter()
            .filter(|e| e.status.as_deref() == Some("Succeeded"))
            .max_by(|a, b| a.created.total_cmp(&b.created))
            .map(|e| e.arn)
            .ok_or_else(|| {
                ServiceError::Validation(format!(
                    "Pipeline '{}' has no Succeeded execution to take the steps not selected from; give SourcePipelineExecutionArn.",
                    pipeline.arn
                ))
            })
    }
}

/// The `Execution.*` variables as they stand when the execution starts.
fn execution_variables(
    pipeline: &str,
    pipeline_arn: &str,
    id: &str,
    arn: &str,
    now: f64,
    role: Option<Value>,
) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("PipelineName".into(), json!(pipeline));
    v.insert("PipelineArn".into(), json!(pipeline_arn));
    v.insert("PipelineExecutionId".into(), json!(id));
    v.insert("PipelineExecutionArn".into(), json!(arn));
    v.insert("StartDateTime".into(), json!(iso8601(now)));
    v.insert("CurrentDateTime".into(), json!(iso8601(now)));
    if let Some(r) = role {
        v.insert("PipelineRoleArn".into(), r);
    }
    v
}

/// The (ExperimentName, TrialName) of a resolved PipelineExperimentConfig that names both.
pub(crate) fn experiment_and_trial(config: Option<&Value>) -> Option<(String, String)> {
    let config = config?;
    let name = |m: &str| {
        config
            .get(m)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Some((name("ExperimentName")?, name("TrialName")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_ids_are_twelve_lowercase_alphanumerics_and_differ() {
        let a = execution_id();
        assert_eq!(a.len(), 12);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(a, execution_id());
    }

    #[test]
    fn parallelism_reads_only_positive_counts() {
        let c = json!({"MaxParallelExecutionSteps": 3});
        assert_eq!(max_parallel_of(Some(&c)), Some(3));
        assert_eq!(
            max_parallel_of(Some(&json!({"MaxParallelExecutionSteps": 0}))),
            None
        );
        assert_eq!(max_parallel_of(None), None);
    }

    #[test]
    fn the_start_scope_knows_parameters_and_execution_variables() {
        let params = vec![("N".to_string(), json!(3))];
        let scope = StartScope {
            parameters: &params,
            variables: execution_variables("p", "arn:p", "id1", "arn:e", 0.0, None),
        };
        assert_eq!(scope.parameter("N"), Some(json!(3)));
        assert_eq!(scope.parameter("M"), None);
        assert_eq!(
            scope.execution_variable("PipelineExecutionId"),
            Some(json!("id1"))
        );
        assert_eq!(scope.execution_variable("PipelineName"), Some(json!("p")));
        assert!(scope.read_s3_json("s3://b/k").is_err());
    }
}
