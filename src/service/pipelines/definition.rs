//! A pipeline definition (JSON, `"Version": "2020-12-01"`) as the executor reads it: the
//! parameters, every step (a Condition's branch steps flattened beside the others) and the DAG
//! their DependsOn, property references and branches make. `parse` checks what SageMaker checks
//! at CreatePipeline (names, references, cycles, step members) so that an execution never meets
//! a malformed definition; its errors are ValidationException messages.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

#[path = "definition_steps.rs"]
mod steps;

pub use steps::iso8601_duration_secs;
use steps::parse_steps;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    String,
    Integer,
    Float,
    Boolean,
}

/// One entry of `Parameters`.
#[derive(Debug, Clone)]
pub struct ParameterDef {
    pub name: String,
    pub kind: ParameterType,
    pub default: Option<Value>,
    pub enum_values: Option<Vec<Value>>,
}

/// `CacheConfig` of a step whose cache is Enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// ExpireAfter (an ISO 8601 duration) in seconds; None: never expires.
    pub expire_after_secs: Option<f64>,
}

/// One entry of a step's `RetryPolicies`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// `Step.SERVICE_FAULT`, `Step.THROTTLING`, `SageMaker.JOB_INTERNAL_ERROR`,
    /// `SageMaker.CAPACITY_ERROR`, `SageMaker.RESOURCE_LIMIT`, as written.
    pub exception_types: Vec<String>,
    pub interval_secs: f64,
    pub backoff_rate: f64,
    pub max_attempts: Option<u32>,
    pub expire_after_secs: Option<f64>,
}

/// One entry of a step's `PropertyFiles`.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyFile {
    pub name: String,
    pub output_name: String,
    pub file_path: String,
}

/// One step, wherever it sits (top level or inside a Condition's branches).
#[derive(Debug, Clone)]
pub struct StepDef {
    pub name: String,
    /// `Type` as written: Processing, Training, Tuning, Transform, CreateModel, Model,
    /// RegisterModel, Condition, Fail, Callback, Lambda, QualityCheck, ClarifyCheck, EMR, AutoML…
    pub kind: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// `Arguments`, expressions unresolved. For a Condition step: its `Conditions` only.
    pub arguments: Value,
    /// `DependsOn` as written.
    pub depends_on: Vec<String>,
    /// Steps whose properties (or property files) the arguments reference.
    pub references: BTreeSet<String>,
    /// For a step inside a Condition's branch: (the Condition step, true for IfSteps).
    pub branch_of: Option<(String, bool)>,
    /// For a Condition step: the names of its IfSteps and ElseSteps.
    pub if_steps: Vec<String>,
    pub else_steps: Vec<String>,
    pub cache: Option<CacheConfig>,
    pub retry_policies: Vec<RetryPolicy>,
    pub property_files: Vec<PropertyFile>,
    /// For a Callback or Lambda step: its OutputParameters (OutputName, OutputType).
    pub output_parameters: Vec<(String, String)>,
    /// The step's other top-level members as written (expressions unresolved): a Callback's
    /// `SqsQueueUrl`, a Lambda's `FunctionArn` and `Timeout`, a check step's `CheckType`,
    /// `SkipCheck`, `ModelPackageGroupName`…, an EMR step's `ClusterId`.
    pub extra: BTreeMap<String, Value>,
}

/// A parsed definition.
#[derive(Debug, Clone)]
pub struct Definition {
    pub parameters: Vec<ParameterDef>,
    /// Every step, branch steps included, in the order the definition lists them.
    pub steps: Vec<StepDef>,
    /// `PipelineExperimentConfig` as written (expressions unresolved).
    pub experiment_config: Option<Value>,
}

/// The only definition version SageMaker (and the SDK) writes.
pub const VERSION: &str = "2020-12-01";

/// Every step `Type` the SageMaker Python SDK can emit.
pub const STEP_TYPES: &[&str] = &[
    "Processing",
    "Training",
    "Tuning",
    "Transform",
    "Model",
    "RegisterModel",
    "Condition",
    "Fail",
    "Callback",
    "Lambda",
    "QualityCheck",
    "ClarifyCheck",
    "EMR",
    "AutoML",
    "EndpointConfig",
    "Endpoint",
    "InferenceComponent",
    "Lineage",
];

/// The exception types a RetryPolicy may name.
pub const RETRY_EXCEPTION_TYPES: &[&str] = &[
    "Step.SERVICE_FAULT",
    "Step.THROTTLING",
    "SageMaker.JOB_INTERNAL_ERROR",
    "SageMaker.CAPACITY_ERROR",
    "SageMaker.RESOURCE_LIMIT",
];

const TOP_LEVEL_MEMBERS: &[&str] = &[
    "Version",
    "Metadata",
    "Parameters",
    "PipelineExperimentConfig",
    "Steps",
];

impl Definition {
    /// Parses and checks a definition; the error is a ValidationException message.
    pub fn parse(text: &str) -> Result<Definition, String> {
        let root: Value = serde_json::from_str(text)
            .map_err(|e| format!("Unable to parse pipeline definition: {e}"))?;
        let Some(root) = root.as_object() else {
            return Err("Unable to parse pipeline definition: it must be a JSON object".into());
        };
        if let Some(key) = root
            .keys()
            .find(|k| !TOP_LEVEL_MEMBERS.contains(&k.as_str()))
        {
            return Err(format!(
                "Invalid pipeline definition: unknown member '{key}' (expected {})",
                TOP_LEVEL_MEMBERS.join(", ")
            ));
        }
        match root.get("Version") {
            Some(Value::String(v)) if v == VERSION => {}
            Some(v) => {
                return Err(format!(
                    "Invalid pipeline definition: Version {v} is not supported; use \"{VERSION}\""
                ));
            }
            None => return Err("Invalid pipeline definition: Version is required".into()),
        }
        let parameters = parse_parameters(root.get("Parameters"))?;
        let mut steps = Vec::new();
        match root.get("Steps") {
            Some(Value::Array(list)) => parse_steps(list, None, &mut steps)?,
            Some(_) => return Err("Invalid pipeline definition: Steps must be a list".into()),
            None => return Err("Invalid pipeline definition: Steps is required".into()),
        }
        let experiment_config = root
            .get("PipelineExperimentConfig")
            .filter(|v| !v.is_null())
            .cloned();
        let definition = Definition {
            parameters,
            steps,
            experiment_config,
        };
        definition.check_graph()?;
        Ok(definition)
    }

    pub fn step(&self, name: &str) -> Option<&StepDef> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The steps `name` waits for: its DependsOn, the steps it references, and (for a branch
    /// step) its Condition step.
    pub fn upstream(&self, name: &str) -> BTreeSet<String> {
        let Some(step) = self.step(name) else {
            return BTreeSet::new();
        };
        let mut up: BTreeSet<String> = step.depends_on.iter().cloned().collect();
        up.extend(step.references.iter().cloned());
        if let Some((condition, _)) = &step.branch_of {
            up.insert(condition.clone());
        }
        up
    }

    /// The execution's parameter values, typed: the defaults, overridden by `given` (as
    /// StartPipelineExecution sends them, all strings). An unknown name, a value of the wrong
    /// type, a value outside the enum, or a parameter with neither default nor value is an
    /// error (ValidationException message).
    pub fn resolve_parameters(
        &self,
        given: &[(String, String)],
    ) -> Result<BTreeMap<String, Value>, String> {
        let mut values = BTreeMap::new();
        for (name, text) in given {
            let Some(def) = self.parameters.iter().find(|p| &p.name == name) else {
                return Err(format!(
                    "Parameter '{name}' is not defined in the pipeline definition"
                ));
            };
            let value = typed_value(def.kind, text).ok_or_else(|| {
                format!(
                    "Parameter '{name}' value '{text}' is not a valid {}",
                    kind_name(def.kind)
                )
            })?;
            values.insert(name.clone(), value);
        }
        for def in &self.parameters {
            if !values.contains_key(&def.name) {
                let Some(default) = &def.default else {
                    return Err(format!(
                        "Parameter '{}' has no default value and was not given a value",
                        def.name
                    ));
                };
                values.insert(def.name.clone(), default.clone());
            }
            if let (Some(allowed), Some(value)) = (&def.enum_values, values.get(&def.name))
                && !allowed.contains(value)
            {
                return Err(format!(
                    "Parameter '{}' value {} is not one of its EnumValues {}",
                    def.name,
                    value,
                    Value::Array(allowed.clone())
                ));
            }
        }
        Ok(values)
    }

    /// Unknown DependsOn names and references, then cycles over every upstream edge.
    fn check_graph(&self) -> Result<(), String> {
        for step in &self.steps {
            for dep in &step.depends_on {
                if self.step(dep).is_none() {
                    return Err(format!(
                        "Step '{}' DependsOn '{dep}', which is not a step of this pipeline",
                        step.name
                    ));
                }
            }
            for referenced in &step.references {
                if self.step(referenced).is_none() {
                    return Err(format!(
                        "Step '{}' references the properties of step '{referenced}', which is \
                         not a step of this pipeline",
                        step.name
                    ));
                }
            }
        }
        self.check_acyclic()
    }

    /// A depth-first walk over upstream edges; a step met again while on the walk's path
    /// closes a cycle, which the error spells out.
    fn check_acyclic(&self) -> Result<(), String> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let index: BTreeMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut marks = vec![Mark::New; self.steps.len()];
        for start in 0..self.steps.len() {
            if marks[start] != Mark::New {
                continue;
            }
            // (step, its upstream names, next one to visit)
            let mut stack: Vec<(usize, Vec<String>, usize)> = Vec::new();
            marks[start] = Mark::OnPath;
            let up = self.upstream(&self.steps[start].name).into_iter().collect();
            stack.push((start, up, 0));
            while let Some((at, ups, next)) = stack.last_mut() {
                let at = *at;
                let Some(up) = ups.get(*next).cloned() else {
                    marks[at] = Mark::Done;
                    stack.pop();
                    continue;
                };
                *next += 1;
                let Some(&j) = index.get(up.as_str()) else {
                    continue;
                };
                match marks[j] {
                    Mark::Done => {}
                    Mark::OnPath => {
                        let from = stack.iter().position(|(i, _, _)| *i == j).unwrap_or(0);
                        let mut path: Vec<&str> = stack[from..]
                            .iter()
                            .map(|(i, _, _)| self.steps[*i].name.as_str())
                            .collect();
                        path.push(self.steps[j].name.as_str());
                        path.reverse();
                        return Err(format!(
                            "Invalid pipeline definition: the steps form a cycle: {}",
                            path.join(" -> ")
                        ));
                    }
                    Mark::New => {
                        marks[j] = Mark::OnPath;
                        let up = self.upstream(&self.steps[j].name).into_iter().collect();
                        stack.push((j, up, 0));
                    }
                }
            }
        }
        Ok(())
    }
}

fn kind_name(kind: ParameterType) -> &'static str {
    match kind {
        ParameterType::String => "String",
        ParameterType::Integer => "Integer",
        ParameterType::Float => "Float",
        ParameterType::Boolean => "Boolean",
    }
}

/// A StartPipelineExecution value (always a string on the wire) as the parameter's type.
fn typed_value(kind: ParameterType, text: &str) -> Option<Value> {
    match kind {
        ParameterType::String => Some(Value::String(text.to_string())),
        ParameterType::Integer => text.trim().parse::<i64>().ok().map(Value::from),
        ParameterType::Float => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from),
        ParameterType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

/// Whether a definition's DefaultValue (or EnumValues entry) is of the parameter's type.
fn value_fits(kind: ParameterType, v: &Value) -> bool {
    match kind {
        ParameterType::String => v.is_string(),
        ParameterType::Integer => v.is_i64() || v.is_u64(),
        ParameterType::Float => v.is_number(),
        ParameterType::Boolean => v.is_boolean(),
    }
}

fn parse_parameters(v: Option<&Value>) -> Result<Vec<ParameterDef>, String> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("Invalid pipeline definition: Parameters must be a list".into()),
    };
    let mut out: Vec<ParameterDef> = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let def = parse_parameter(i, p)?;
        if out.iter().any(|o| o.name == def.name) {
            return Err(format!(
                "Invalid pipeline definition: parameter '{}' is defined more than once",
                def.name
            ));
        }
        out.push(def);
    }
    Ok(out)
}

fn parse_parameter(i: usize, p: &Value) -> Result<ParameterDef, String> {
    let name = match p.get("Name") {
        Some(Value::String(n)) if valid_name(n, 256) => n.clone(),
        Some(n) => {
            return Err(format!(
                "Invalid pipeline definition: parameter name {n} must be 1 to 256 letters, \
                 digits, '-' or '_'"
            ));
        }
        None => {
            return Err(format!(
                "Invalid pipeline definition: Parameters[{i}] has no Name"
            ));
        }
    };
    let kind = match p.get("Type").and_then(Value::as_str) {
        Some("String") => ParameterType::String,
        Some("Integer") => ParameterType::Integer,
        Some("Float") => ParameterType::Float,
        Some("Boolean") => ParameterType::Boolean,
        other => {
            return Err(format!(
                "Invalid pipeline definition: parameter '{name}' Type {} is not one of \
                 String, Integer, Float, Boolean",
                other.unwrap_or("(missing)")
            ));
        }
    };
    let default = p.get("DefaultValue").filter(|v| !v.is_null()).cloned();
    if let Some(d) = &default
        && !value_fits(kind, d)
    {
        return Err(format!(
            "Invalid pipeline definition: parameter '{name}' DefaultValue {d} is not a {}",
            kind_name(kind)
        ));
    }
    let enum_values = match p.get("EnumValues") {
        None | Some(Value::Null) => None,
        Some(Value::Array(values)) if values.iter().all(|v| value_fits(kind, v)) => {
            Some(values.clone())
        }
        Some(_) => {
            return Err(format!(
                "Invalid pipeline definition: parameter '{name}' EnumValues must be a list of {} values",
                kind_name(kind)
            ));
        }
    };
    if let (Some(d), Some(allowed)) = (&default, &enum_values)
        && !allowed.contains(d)
    {
        return Err(format!(
            "Invalid pipeline definition: parameter '{name}' DefaultValue {d} is not one of \
             its EnumValues"
        ));
    }
    Ok(ParameterDef {
        name,
        kind,
        default,
        enum_values,
    })
}

/// Step and parameter names: SageMaker's pattern `[A-Za-z0-9\-_]*`, 1 to `max` characters.
fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
#[path = "definition_tests.rs"]
mod tests;
