//! Expressions inside a pipeline definition's step arguments.
//! SKELETON: signatures fixed; bodies are being written.

use std::collections::BTreeSet;

use serde_json::Value;

use super::definition::StepDef;

/// What expressions read while an execution runs.
pub trait Scope {
    /// A parameter's typed value.
    fn parameter(&self, name: &str) -> Option<Value>;
    /// `Execution.<name>`: PipelineExecutionId, PipelineExecutionArn, PipelineName,
    /// PipelineArn, StartDateTime, CurrentDateTime, PipelineRoleArn…
    fn execution_variable(&self, name: &str) -> Option<Value>;
    /// The properties of a step that has succeeded (its Describe* output); None otherwise.
    fn step_properties(&self, step: &str) -> Option<&Value>;
    /// The step's definition (for its PropertyFiles).
    fn step_def(&self, step: &str) -> Option<&StepDef>;
    /// A JSON document stored in S3 (a property file).
    fn read_s3_json(&self, uri: &str) -> Result<Value, String>;
}

/// `v` with every expression in it replaced by its value. The error names the expression or
/// path that could not be resolved.
pub fn resolve(v: &Value, scope: &dyn Scope) -> Result<Value, String> {
    let _ = scope;
    Ok(v.clone())
}

/// The steps whose properties `v` references anywhere inside it.
pub fn references(v: &Value) -> BTreeSet<String> {
    let _ = v;
    BTreeSet::new()
}

/// How a resolved value reads as text (Join, ListPipelineParametersForExecution).
pub fn to_display_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
