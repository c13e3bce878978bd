//! Expressions inside a pipeline definition's step arguments, as the SageMaker Python SDK
//! writes them: `{"Get": "Parameters.X"}`, `{"Get": "Execution.Y"}`,
//! `{"Get": "Steps.S.<property path>"}`, `{"Get": "PipelineExperimentConfig.Z"}`,
//! `{"Std:Join": {"On", "Values"}}` and `{"Std:JsonGet": {"PropertyFile" | "S3Uri", "Path"}}`.
//! An expression is an object with exactly one of those keys; anything else is data, walked
//! through so that expressions nest anywhere.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::definition::StepDef;

#[path = "expr_path.rs"]
mod path;

pub use path::{PathSegment, navigate, parse_path};

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
    /// `PipelineExperimentConfig.<name>` (ExperimentName, TrialName) as the execution resolved
    /// it; None where the execution has none.
    fn experiment_config(&self, name: &str) -> Option<Value> {
        let _ = name;
        None
    }
}

/// `v` with every expression in it replaced by its value. The error names the expression or
/// path that could not be resolved.
pub fn resolve(v: &Value, scope: &dyn Scope) -> Result<Value, String> {
    match v {
        Value::Object(obj) => match expression(obj) {
            Some(("Get", arg)) => resolve_get(arg, scope),
            Some(("Std:Join", arg)) => resolve_join(arg, scope),
            Some(("Std:JsonGet", arg)) => resolve_json_get(arg, scope),
            Some((f, _)) => Err(format!("Unknown function {f} in expression {v}")),
            None => obj
                .iter()
                .map(|(k, item)| Ok((k.clone(), resolve(item, scope)?)))
                .collect::<Result<Map<_, _>, String>>()
                .map(Value::Object),
        },
        Value::Array(items) => items
            .iter()
            .map(|item| resolve(item, scope))
            .collect::<Result<Vec<_>, String>>()
            .map(Value::Array),
        _ => Ok(v.clone()),
    }
}

/// The steps whose properties `v` references anywhere inside it.
pub fn references(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_references(v, &mut out);
    out
}

fn collect_references(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(obj) => {
            if let Some(("Get", Value::String(path))) = expression(obj) {
                if let Some(rest) = path.strip_prefix("Steps.") {
                    let step = rest.split(['.', '[']).next().unwrap_or(rest);
                    out.insert(step.to_string());
                }
                return;
            }
            obj.values().for_each(|item| collect_references(item, out));
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, out)),
        _ => {}
    }
}

/// How a resolved value is shown in ListPipelineParametersForExecution and joined by
/// `Std:Join`: strings as they are, numbers and booleans as JSON writes them (`3`, `0.5`,
/// `true`), null as the empty string, lists and objects as JSON text.
pub fn to_display_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The S3 URI of `step`'s property file `file`: its output's
/// `ProcessingOutputConfig.Outputs[OutputName].S3Output.S3Uri`, then `/`, then its FilePath.
pub fn property_file_uri(step: &StepDef, properties: &Value, file: &str) -> Option<String> {
    let pf = step.property_files.iter().find(|p| p.name == file)?;
    let outputs = properties
        .get("ProcessingOutputConfig")?
        .get("Outputs")?
        .as_array()?;
    let output = outputs
        .iter()
        .find(|o| o.get("OutputName").and_then(Value::as_str) == Some(pf.output_name.as_str()))?;
    let base = output.get("S3Output")?.get("S3Uri")?.as_str()?;
    let path = pf.file_path.trim_start_matches('/');
    Some(format!("{}/{}", base.trim_end_matches('/'), path))
}

/// `(function, argument)` when `obj` is an expression: one member, `Get` or `Std:*`.
fn expression(obj: &Map<String, Value>) -> Option<(&str, &Value)> {
    if obj.len() != 1 {
        return None;
    }
    let (k, v) = obj.iter().next()?;
    (k == "Get" || k.starts_with("Std:")).then_some((k.as_str(), v))
}

fn resolve_get(arg: &Value, scope: &dyn Scope) -> Result<Value, String> {
    let Some(path) = arg.as_str() else {
        return Err(format!(
            "Cannot resolve {{\"Get\": {arg}}}: Get takes a string"
        ));
    };
    let cannot = |why: String| format!("Cannot resolve {path}: {why}");
    if let Some(name) = path.strip_prefix("Parameters.") {
        return scope
            .parameter(name)
            .ok_or_else(|| cannot(format!("no parameter named '{name}'")));
    }
    if let Some(name) = path.strip_prefix("Execution.") {
        return scope
            .execution_variable(name)
            .ok_or_else(|| cannot(format!("no execution variable named '{name}'")));
    }
    if let Some(name) = path.strip_prefix("PipelineExperimentConfig.") {
        return scope
            .experiment_config(name)
            .ok_or_else(|| cannot("the execution has no PipelineExperimentConfig".into()));
    }
    let Some(rest) = path.strip_prefix("Steps.") else {
        return Err(cannot(
            "a Get names Parameters.*, Execution.*, PipelineExperimentConfig.* or Steps.*".into(),
        ));
    };
    let (step, property_path) = split_step(rest);
    let properties = scope
        .step_properties(step)
        .ok_or_else(|| cannot(format!("step '{step}' has not succeeded")))?;
    let segments = parse_path(property_path).map_err(&cannot)?;
    navigate(properties, &segments)
        .cloned()
        .ok_or_else(|| cannot(format!("step '{step}' has no property {property_path}")))
}

/// `S.A.B` → (`S`, `A.B`); `S` alone → (`S`, ``).
fn split_step(rest: &str) -> (&str, &str) {
    match rest.find(['.', '[']) {
        Some(i) if rest[i..].starts_with('.') => (&rest[..i], &rest[i + 1..]),
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    }
}

fn resolve_join(arg: &Value, scope: &dyn Scope) -> Result<Value, String> {
    let on = match arg.get("On") {
        None | Some(Value::Null) => String::new(),
        Some(on) => to_display_string(&resolve(on, scope)?),
    };
    let Some(Value::Array(values)) = arg.get("Values") else {
        return Err(format!(
            "Cannot resolve Std:Join {arg}: Values must be a list"
        ));
    };
    let parts = values
        .iter()
        .map(|v| resolve(v, scope).map(|r| to_display_string(&r)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Value::String(parts.join(&on)))
}

fn resolve_json_get(arg: &Value, scope: &dyn Scope) -> Result<Value, String> {
    let Some(json_path) = arg.get("Path").and_then(Value::as_str) else {
        return Err(format!(
            "Cannot resolve Std:JsonGet {arg}: Path must be a string"
        ));
    };
    let uri = match (arg.get("PropertyFile"), arg.get("S3Uri")) {
        (Some(file), None) => property_file_location(file, scope)?,
        (None, Some(uri)) => match resolve(uri, scope)? {
            Value::String(s) => s,
            other => {
                return Err(format!(
                    "Cannot resolve Std:JsonGet: S3Uri resolved to {other}, not a string"
                ));
            }
        },
        _ => {
            return Err(format!(
                "Cannot resolve Std:JsonGet {arg}: it needs either PropertyFile or S3Uri"
            ));
        }
    };
    let cannot = |why: String| format!("Cannot resolve Std:JsonGet {json_path} in {uri}: {why}");
    let document = scope.read_s3_json(&uri).map_err(&cannot)?;
    let trimmed = json_path.trim_start_matches('$').trim_start_matches('.');
    let segments = parse_path(trimmed).map_err(&cannot)?;
    navigate(&document, &segments)
        .cloned()
        .ok_or_else(|| cannot("the path is not in the document".into()))
}

/// `{"Get": "Steps.S.PropertyFiles.F"}` → the S3 URI of S's property file F.
fn property_file_location(file: &Value, scope: &dyn Scope) -> Result<String, String> {
    let reference = file.get("Get").and_then(Value::as_str).unwrap_or_default();
    let parsed = reference
        .strip_prefix("Steps.")
        .and_then(|rest| rest.split_once(".PropertyFiles."));
    let Some((step, name)) = parsed else {
        return Err(format!(
            "Cannot resolve Std:JsonGet PropertyFile {file}: expected {{\"Get\": \
             \"Steps.<step>.PropertyFiles.<name>\"}}"
        ));
    };
    let cannot = |why: String| format!("Cannot resolve {reference}: {why}");
    let def = scope
        .step_def(step)
        .ok_or_else(|| cannot(format!("no step named '{step}'")))?;
    if !def.property_files.iter().any(|p| p.name == name) {
        return Err(cannot(format!(
            "step '{step}' has no property file '{name}'"
        )));
    }
    let properties = scope
        .step_properties(step)
        .ok_or_else(|| cannot(format!("step '{step}' has not succeeded")))?;
    property_file_uri(def, properties, name).ok_or_else(|| {
        cannot(format!(
            "step '{step}' has no processing output for property file '{name}'"
        ))
    })
}

#[cfg(test)]
#[path = "expr_tests.rs"]
pub(super) mod tests;
