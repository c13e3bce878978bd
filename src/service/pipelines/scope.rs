//! What an execution's expressions read: its parameters, its execution variables, the
//! properties of the steps that have succeeded, and property files in S3. Built from the
//! executor's state, and used off the async workers (reading a property file blocks).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::definition::{Definition, StepDef};
use super::expr::{self, Scope};
use crate::service::Services;

/// The execution variables (`Execution.<name>`).
#[derive(Debug, Clone)]
pub struct ExecutionVars {
    pub pipeline_name: String,
    pub pipeline_arn: String,
    pub execution_id: String,
    pub execution_arn: String,
    pub start: f64,
    pub role_arn: Option<String>,
}

impl ExecutionVars {
    fn get(&self, name: &str) -> Option<Value> {
        let iso = |t: f64| json!(crate::aws::time::iso8601(t));
        Some(match name {
            "PipelineName" => json!(self.pipeline_name),
            "PipelineArn" => json!(self.pipeline_arn),
            "PipelineExecutionId" => json!(self.execution_id),
            "PipelineExecutionArn" => json!(self.execution_arn),
            "StartDateTime" => iso(self.start),
            "CurrentDateTime" => iso(crate::aws::time::now_epoch()),
            "PipelineRoleArn" => json!(self.role_arn.clone()?),
            _ => return None,
        })
    }
}

/// A snapshot of what expressions may read, owned so it can move to a blocking thread.
pub struct RunScope {
    pub definition: Arc<Definition>,
    pub parameters: BTreeMap<String, Value>,
    pub vars: ExecutionVars,
    /// Properties of the steps that have succeeded.
    pub properties: HashMap<String, Value>,
    /// When set, execution variables read as placeholders (`{Execution.X}`): the form the
    /// cache key is computed from, so that a step whose arguments differ only by execution id
    /// hits the cache as it does on SageMaker.
    pub placeholders: bool,
    pub services: Services,
    pub handle: tokio::runtime::Handle,
}

impl Scope for RunScope {
    fn parameter(&self, name: &str) -> Option<Value> {
        self.parameters.get(name).cloned()
    }

    fn execution_variable(&self, name: &str) -> Option<Value> {
        if self.placeholders {
            return self
                .vars
                .get(name)
                .map(|_| json!(format!("{{Execution.{name}}}")));
        }
        self.vars.get(name)
    }

    fn step_properties(&self, step: &str) -> Option<&Value> {
        self.properties.get(step)
    }

    fn step_def(&self, step: &str) -> Option<&StepDef> {
        self.definition.step(step)
    }

    fn read_s3_json(&self, uri: &str) -> Result<Value, String> {
        let (bucket, key) = crate::service::training::staging::parse_s3_uri(uri)
            .ok_or_else(|| format!("{uri} is not an S3 URI"))?;
        let objects = self.services.objects().clone();
        // Read through the object service, which checks that the file it read is still the
        // object's (a deleted object's file may be written again as another's).
        let bytes = self
            .handle
            .block_on(async move {
                let (row, _) = objects.object(&bucket, &key).await?;
                objects.read_small(&row, 0, row.size as usize).await
            })
            .map_err(|e| format!("cannot read {uri}: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{uri} is not a JSON document: {e}"))
    }
}

impl RunScope {
    /// Resolves `v` on a blocking thread (property files are read synchronously).
    pub async fn resolve(self, v: Value) -> Result<Value, String> {
        tokio::task::spawn_blocking(move || expr::resolve(&v, &self))
            .await
            .map_err(|e| format!("resolving the step's arguments failed: {e}"))?
    }

    /// Evaluates a Condition step's conditions on a blocking thread.
    pub async fn evaluate(self, conditions: Vec<Value>) -> Result<bool, String> {
        tokio::task::spawn_blocking(move || super::condition::evaluate_all(&conditions, &self))
            .await
            .map_err(|e| format!("evaluating the conditions failed: {e}"))?
    }
}

/// The cache key of a step: its type and its arguments resolved with execution variables as
/// placeholders.
pub fn cache_key(step_type: &str, resolved: &Value) -> String {
    let mut h = Sha256::new();
    h.update(step_type.as_bytes());
    h.update([0]);
    h.update(resolved.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
