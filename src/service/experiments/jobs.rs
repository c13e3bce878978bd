//! The trial component SageMaker makes for a training or processing job created with an
//! ExperimentConfig: `<job>-aws-training-job` / `<job>-aws-processing-job`, its Source the job,
//! its settings as Parameters, its image and inputs as InputArtifacts, in the config's trial;
//! at the end its status, end time, final metrics and outputs.

use serde_json::{Map, Value, json};

use super::family;
use crate::aws::time::now_epoch;
use crate::service::{Request, ServiceResult, Services};

/// The kinds of job that become trial components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Training,
    Processing,
}

impl JobKind {
    fn suffix(self) -> &'static str {
        match self {
            JobKind::Training => "aws-training-job",
            JobKind::Processing => "aws-processing-job",
        }
    }

    fn source_type(self) -> &'static str {
        match self {
            JobKind::Training => "SageMakerTrainingJob",
            JobKind::Processing => "SageMakerProcessingJob",
        }
    }

    /// Where the request keeps its instance settings.
    fn resources(self, request: &Request) -> Option<&Value> {
        match self {
            JobKind::Training => request.get("ResourceConfig"),
            JobKind::Processing => request
                .get("ProcessingResources")
                .and_then(|r| r.get("ClusterConfig")),
        }
    }

    fn image(self, request: &Request) -> Option<&str> {
        let (spec, member) = match self {
            JobKind::Training => ("AlgorithmSpecification", "TrainingImage"),
            JobKind::Processing => ("AppSpecification", "ImageUri"),
        };
        request
            .get(spec)
            .and_then(|a| a.get(member))
            .and_then(Value::as_str)
    }
}

/// The name of the trial component SageMaker makes for a job.
pub fn job_trial_component(kind: JobKind, job: &str) -> String {
    format!("{job}-{}", kind.suffix())
}

/// How a job ended, for its trial component.
pub struct JobEnd<'a> {
    pub status: &'a str,
    pub reason: Option<&'a str>,
    /// FinalMetricDataList (training).
    pub metrics: Option<&'a Value>,
    /// Output artifacts by name (`SageMaker.ModelArtifact`, a processing output's name).
    pub outputs: Map<String, Value>,
}

impl Services {
    /// Makes the job's trial component when its request carries an ExperimentConfig, and puts
    /// it in the config's trial.
    pub async fn start_job_trial_component(
        &self,
        kind: JobKind,
        job_arn: &str,
        job: &str,
        request: &Request,
    ) -> ServiceResult<()> {
        let Some(config) = request.get("ExperimentConfig") else {
            return Ok(());
        };
        let name = job_trial_component(kind, job);
        let mut tc = Request::new();
        tc.insert("TrialComponentName".into(), json!(name));
        let display = config
            .get("TrialComponentDisplayName")
            .and_then(Value::as_str)
            .unwrap_or(&name)
            .to_string();
        tc.insert("DisplayName".into(), json!(display));
        tc.insert(
            "Source".into(),
            json!({"SourceArn": job_arn, "SourceType": kind.source_type()}),
        );
        tc.insert("Status".into(), json!({"PrimaryStatus": "InProgress"}));
        tc.insert("StartTime".into(), json!(now_epoch()));
        tc.insert("Parameters".into(), parameters(kind, request));
        tc.insert("InputArtifacts".into(), input_artifacts(kind, request));
        tc.insert("OutputArtifacts".into(), json!({}));
        self.stored_create(family("TrialComponent"), tc).await?;
        if let Some(trial) = config.get("TrialName").and_then(Value::as_str) {
            self.associate_trial_component(&name, trial).await?;
        }
        Ok(())
    }

    /// The job's trial component takes its end.
    pub async fn end_job_trial_component(
        &self,
        kind: JobKind,
        job: &str,
        end: JobEnd<'_>,
    ) -> ServiceResult<()> {
        let name = job_trial_component(kind, job);
        let mut update = Request::new();
        update.insert("TrialComponentName".into(), json!(name));
        let mut state = json!({ "PrimaryStatus": end.status });
        if let Some(r) = end.reason {
            state["Message"] = json!(r);
        }
        update.insert("Status".into(), state);
        update.insert("EndTime".into(), json!(now_epoch()));
        if !end.outputs.is_empty() {
            update.insert("OutputArtifacts".into(), Value::Object(end.outputs));
        }
        self.stored_update(family("TrialComponent"), update).await?;
        let points: Vec<Value> = end
            .metrics
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| json!({"MetricName": m["MetricName"], "Value": m["Value"], "Timestamp": m["Timestamp"]}))
            .collect();
        if !points.is_empty() {
            self.put_trial_metrics(&name, &points).await?;
        }
        Ok(())
    }
}

/// Hyperparameters (training) and the instance settings, as SageMaker names them.
fn parameters(kind: JobKind, request: &Request) -> Value {
    let mut parameters = Map::new();
    for (k, v) in request
        .get("HyperParameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        parameters.insert(k.clone(), json!({ "StringValue": v }));
    }
    let resources = kind.resources(request);
    let member = |m: &str| resources.and_then(|r| r.get(m));
    for (k, m, number) in [
        ("SageMaker.InstanceType", "InstanceType", false),
        ("SageMaker.InstanceCount", "InstanceCount", true),
        ("SageMaker.VolumeSizeInGB", "VolumeSizeInGB", true),
    ] {
        if let Some(v) = member(m) {
            let typed = if number { "NumberValue" } else { "StringValue" };
            parameters.insert(k.into(), json!({ typed: v }));
        }
    }
    Value::Object(parameters)
}

/// The image (`SageMaker.ImageUri`) and each input's S3 URI (with its content type where the
/// request gives one): training channels by ChannelName, processing inputs by InputName.
fn input_artifacts(kind: JobKind, request: &Request) -> Value {
    let mut artifacts = Map::new();
    if let Some(image) = kind.image(request) {
        artifacts.insert("SageMaker.ImageUri".into(), json!({ "Value": image }));
    }
    let (list, name, uri) = match kind {
        JobKind::Training => (
            "InputDataConfig",
            "ChannelName",
            "/DataSource/S3DataSource/S3Uri",
        ),
        JobKind::Processing => ("ProcessingInputs", "InputName", "/S3Input/S3Uri"),
    };
    for input in request
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(n), Some(u)) = (
            input.get(name).and_then(Value::as_str),
            input.pointer(uri).and_then(Value::as_str),
        ) else {
            continue;
        };
        let mut artifact = json!({ "Value": u });
        if let Some(media) = input.get("ContentType").and_then(Value::as_str) {
            artifact["MediaType"] = json!(media);
        }
        artifacts.insert(n.into(), artifact);
    }
    Value::Object(artifacts)
}

/// A processing job's outputs by OutputName, for its trial component's OutputArtifacts.
pub fn processing_outputs(request: &Request) -> Map<String, Value> {
    request
        .get("ProcessingOutputConfig")
        .and_then(|c| c.get("Outputs"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let name = o.get("OutputName").and_then(Value::as_str)?;
            let uri = o.pointer("/S3Output/S3Uri").and_then(Value::as_str)?;
            Some((name.to_string(), json!({ "Value": uri })))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: Value) -> Request {
        match v {
            Value::Object(m) => m,
            _ => Request::new(),
        }
    }

    #[test]
    fn processing_jobs_list_their_image_inputs_settings_and_outputs() {
        let req = request(json!({
            "AppSpecification": {"ImageUri": "img:1"},
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 30}},
            "ProcessingInputs": [{"InputName": "raw", "S3Input": {"S3Uri": "s3://b/raw"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}}]},
        }));
        assert_eq!(
            input_artifacts(JobKind::Processing, &req),
            json!({"SageMaker.ImageUri": {"Value": "img:1"}, "raw": {"Value": "s3://b/raw"}})
        );
        assert_eq!(
            parameters(JobKind::Processing, &req),
            json!({
                "SageMaker.InstanceType": {"StringValue": "ml.m5.large"},
                "SageMaker.InstanceCount": {"NumberValue": 2},
                "SageMaker.VolumeSizeInGB": {"NumberValue": 30},
            })
        );
        assert_eq!(
            Value::Object(processing_outputs(&req)),
            json!({"train": {"Value": "s3://b/train"}})
        );
        assert_eq!(
            job_trial_component(JobKind::Processing, "p"),
            "p-aws-processing-job"
        );
    }

    #[test]
    fn training_jobs_list_hyperparameters_channels_with_content_types() {
        let req = request(json!({
            "AlgorithmSpecification": {"TrainingImage": "xgb:1"},
            "HyperParameters": {"eta": "0.1"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv",
                                 "DataSource": {"S3DataSource": {"S3Uri": "s3://b/t"}}}],
        }));
        assert_eq!(
            input_artifacts(JobKind::Training, &req),
            json!({"SageMaker.ImageUri": {"Value": "xgb:1"},
                   "train": {"Value": "s3://b/t", "MediaType": "text/csv"}})
        );
        assert_eq!(
            parameters(JobKind::Training, &req),
            json!({
                "eta": {"StringValue": "0.1"},
                "SageMaker.InstanceType": {"StringValue": "ml.m5.large"},
                "SageMaker.InstanceCount": {"NumberValue": 1},
            })
        );
    }
}
