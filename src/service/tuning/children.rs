//! A tuning job's training jobs: their names (`<tuning job>-<NNN>-<8 hex>`, as SageMaker names
//! them), the CreateTrainingJob request each is started with (a definition plus its
//! hyperparameters), and what each reports back (HyperParameterTrainingJobSummary), read from
//! the training job's own row.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::plan::Plan;
use super::state::{Objective, TrainingJobSummary, objective_status};
use crate::aws::model::typed::sagemaker::TrainingJobStatus;
use crate::service::Services;

/// Derived member holding the launched training jobs, in launch order.
pub const LAUNCHED: &str = "_TrainingJobs";

/// One launched training job, as the tuning job's row records it before starting it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Launched {
    #[serde(rename = "Name")]
    pub name: String,
    /// Index of its definition (0 for TrainingJobDefinition).
    #[serde(rename = "Definition")]
    pub definition: usize,
    #[serde(rename = "Tuned")]
    pub tuned: BTreeMap<String, String>,
    /// Why CreateTrainingJob refused it, when it did.
    #[serde(rename = "Error", default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Stopped by early stopping (not by a stop of the tuning job).
    #[serde(
        rename = "EarlyStopped",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub early_stopped: bool,
}

/// The launched training jobs a tuning job's derived members list.
pub fn launched(derived: &Value) -> Vec<Launched> {
    derived
        .get(LAUNCHED)
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// The `n`th (1-based) training job's name: the tuning job's name, a three-digit count and
/// eight hex digits.
pub fn child_name(tuning_job: &str, n: usize) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{tuning_job}-{n:03}-{}", &hex[..8])
}

/// Members of a HyperParameterTrainingJobDefinition that CreateTrainingJob takes as they are.
const COPIED: [&str; 11] = [
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "VpcConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "Environment",
];

/// The CreateTrainingJob request of a training job: `definition` (as the client sent it) with
/// its static hyperparameters and the tuned ones.
pub fn training_request(
    name: &str,
    definition: &Value,
    tuned: &BTreeMap<String, String>,
) -> Map<String, Value> {
    let mut req = Map::new();
    req.insert("TrainingJobName".into(), json!(name));
    for m in COPIED {
        if let Some(v) = definition.get(m) {
            req.insert(m.into(), v.clone());
        }
    }
    if !req.contains_key("ResourceConfig")
        && let Some(hp) = definition.get("HyperParameterTuningResourceConfig")
    {
        let mut rc = Map::new();
        for m in [
            "InstanceType",
            "InstanceCount",
            "VolumeSizeInGB",
            "VolumeKmsKeyId",
        ] {
            if let Some(v) = hp.get(m) {
                rc.insert(m.into(), v.clone());
            }
        }
        if let Some(first) = hp.get("InstanceConfigs").and_then(|c| c.get(0)) {
            for m in ["InstanceType", "InstanceCount", "VolumeSizeInGB"] {
                if let Some(v) = first.get(m) {
                    rc.entry(m).or_insert(v.clone());
                }
            }
        }
        req.insert("ResourceConfig".into(), Value::Object(rc));
    }
    // SageMaker's tuning service fills in an empty KmsKeyId, as DescribeTrainingJob shows it
    // (the SDK's Estimator.attach reads it)
    if let Some(Value::Object(out)) = req.get_mut("OutputDataConfig") {
        out.entry("KmsKeyId").or_insert(json!(""));
    }
    if let Some(algo) = definition.get("AlgorithmSpecification") {
        let mut a = Map::new();
        for m in [
            "TrainingImage",
            "AlgorithmName",
            "TrainingInputMode",
            "MetricDefinitions",
        ] {
            if let Some(v) = algo.get(m) {
                a.insert(m.into(), v.clone());
            }
        }
        req.insert("AlgorithmSpecification".into(), Value::Object(a));
    }
    let mut hps: Map<String, Value> = definition
        .get("StaticHyperParameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in tuned {
        hps.insert(k.clone(), json!(v));
    }
    req.insert("HyperParameters".into(), Value::Object(hps));
    req
}

/// The definitions of a stored request as sent: TrainingJobDefinition alone, or each of
/// TrainingJobDefinitions.
pub fn raw_definitions(request: &Value) -> Vec<Value> {
    match request.get("TrainingJobDefinition") {
        Some(d) => vec![d.clone()],
        None => request
            .get("TrainingJobDefinitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}

/// A launched training job as it stands, with its stored request (for its metric series).
pub struct Child {
    pub launched: Launched,
    pub summary: TrainingJobSummary,
    pub request: Value,
}

impl Services {
    /// Every training job tuning job `tuning_job` launched, as each stands now.
    pub(crate) async fn tuning_children(
        &self,
        tuning_job: &str,
        plan: &Plan,
        launched: &[Launched],
    ) -> Vec<Child> {
        let mut out = Vec::with_capacity(launched.len());
        for l in launched {
            let objective = plan
                .definitions
                .get(l.definition)
                .map(|d| d.objective.clone())
                .unwrap_or(Objective {
                    metric: String::new(),
                    minimize: true,
                });
            let definition_name = plan
                .definitions
                .get(l.definition)
                .and_then(|d| d.definition.definition_name.clone());
            let row = self.stored_training_job(&l.name).await.ok();
            let summary = match &row {
                Some(row) => {
                    let status = row
                        .status
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(TrainingJobStatus::InProgress);
                    let d = &row.derived;
                    let value = final_value(d, &objective.metric);
                    TrainingJobSummary {
                        name: row.name.clone(),
                        arn: row.arn.clone(),
                        tuning_job_name: tuning_job.to_string(),
                        definition_name,
                        created: row.created,
                        training_start: d.get("TrainingStartTime").and_then(Value::as_f64),
                        training_end: d.get("TrainingEndTime").and_then(Value::as_f64),
                        status,
                        tuned: l.tuned.clone(),
                        failure_reason: d
                            .get("FailureReason")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        objective_status: objective_status(status, value),
                        objective: value.map(|v| (objective, v)),
                    }
                }
                // CreateTrainingJob refused it: it counts as a failed training job
                None => TrainingJobSummary {
                    name: l.name.clone(),
                    arn: self.sagemaker_arn("training-job", &l.name),
                    tuning_job_name: tuning_job.to_string(),
                    definition_name,
                    created: 0.0,
                    training_start: None,
                    training_end: None,
                    status: TrainingJobStatus::Failed,
                    tuned: l.tuned.clone(),
                    failure_reason: Some(
                        l.error
                            .clone()
                            .unwrap_or_else(|| "The training job could not be created.".into()),
                    ),
                    objective: None,
                    objective_status: crate::aws::model::typed::sagemaker::ObjectiveStatus::Failed,
                },
            };
            out.push(Child {
                launched: l.clone(),
                summary,
                request: row.map(|r| r.request.clone()).unwrap_or(Value::Null),
            });
        }
        out
    }
}

/// The objective metric's final value in a training job's FinalMetricDataList.
fn final_value(derived: &Value, metric: &str) -> Option<f64> {
    derived
        .get("FinalMetricDataList")?
        .as_array()?
        .iter()
        .find(|m| m.get("MetricName").and_then(Value::as_str) == Some(metric))?
        .get("Value")?
        .as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_named_as_sagemaker_names_them() {
        let n = child_name("xgb-tune", 7);
        let re = regex::Regex::new("^xgb-tune-007-[0-9a-f]{8}$").expect("regex");
        assert!(re.is_match(&n), "{n}");
    }

    #[test]
    fn a_training_request_is_the_definition_with_every_hyperparameter() {
        let def = json!({
            "DefinitionName": "d",
            "StaticHyperParameters": {"objective": "reg:squarederror", "num_round": "5"},
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "RoleArn": "r",
            "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 100},
            "HyperParameterTuningResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        });
        let tuned = BTreeMap::from([("eta".to_string(), "0.3".to_string())]);
        let req = training_request("t-001-abcdef01", &def, &tuned);
        assert_eq!(
            Value::Object(req),
            json!({
                "TrainingJobName": "t-001-abcdef01",
                "RoleArn": "r",
                "OutputDataConfig": {"S3OutputPath": "s3://b/o", "KmsKeyId": ""},
                "StoppingCondition": {"MaxRuntimeInSeconds": 100},
                "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
                "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
                "HyperParameters": {"objective": "reg:squarederror", "num_round": "5", "eta": "0.3"},
            })
        );
    }

    #[test]
    fn the_objective_is_read_from_the_final_metrics() {
        let d = json!({"FinalMetricDataList": [
            {"MetricName": "train:rmse", "Value": 1.5}, {"MetricName": "validation:rmse", "Value": 2.5}]});
        assert_eq!(final_value(&d, "validation:rmse"), Some(2.5));
        assert_eq!(final_value(&d, "validation:auc"), None);
    }
}
