//! What each step type runs. Job steps (Processing, Training, Tuning, Transform) and resource
//! steps (Model, RegisterModel, EndpointConfig, Endpoint) call SageMaker's own Create*
//! operation with the step's resolved arguments, then follow the resource with its Describe*
//! until it ends; the Describe* output becomes the step's properties, which later steps read
//! with `Get Steps.<name>.…`. Step types sagebox cannot run are refused with a reason.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::api::ApiError;
use super::definition::RetryPolicy;
use crate::service::Services;

/// How a step's work ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Succeeded {
        properties: Value,
    },
    Failed {
        reason: String,
        /// The RetryPolicies exception type this failure counts as, if any.
        retry_as: Option<&'static str>,
    },
    Stopped,
}

/// A SageMaker resource a step creates and follows.
#[derive(Debug)]
pub struct ResourceStep {
    pub create: &'static str,
    pub describe: &'static str,
    pub stop: Option<&'static str>,
    /// The member that names the resource in Create* and Describe* (None: RegisterModel, whose
    /// package is named by the ARN Create* answers).
    pub name_member: Option<&'static str>,
    /// The Describe* member holding the resource's status (None: done once created).
    pub status_member: Option<&'static str>,
    pub success: &'static str,
    pub arn_member: &'static str,
    /// The PipelineExecutionStepMetadata member (`{"TrainingJob": {"Arn": …}}`).
    pub metadata: &'static str,
    /// The longest name SageMaker accepts for the resource.
    pub max_name: usize,
}

const fn job(
    noun: &'static str,
    metadata: &'static str,
    max_name: usize,
    ops: [&'static str; 6],
) -> ResourceStep {
    let _ = noun;
    ResourceStep {
        create: ops[0],
        describe: ops[1],
        stop: Some(ops[2]),
        name_member: Some(ops[3]),
        status_member: Some(ops[4]),
        success: "Completed",
        arn_member: ops[5],
        metadata,
        max_name,
    }
}

static PROCESSING: ResourceStep = job(
    "processing",
    "ProcessingJob",
    63,
    [
        "CreateProcessingJob",
        "DescribeProcessingJob",
        "StopProcessingJob",
        "ProcessingJobName",
        "ProcessingJobStatus",
        "ProcessingJobArn",
    ],
);
static TRAINING: ResourceStep = job(
    "training",
    "TrainingJob",
    63,
    [
        "CreateTrainingJob",
        "DescribeTrainingJob",
        "StopTrainingJob",
        "TrainingJobName",
        "TrainingJobStatus",
        "TrainingJobArn",
    ],
);
static TUNING: ResourceStep = job(
    "tuning",
    "TuningJob",
    32,
    [
        "CreateHyperParameterTuningJob",
        "DescribeHyperParameterTuningJob",
        "StopHyperParameterTuningJob",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
        "HyperParameterTuningJobArn",
    ],
);
static TRANSFORM: ResourceStep = job(
    "transform",
    "TransformJob",
    63,
    [
        "CreateTransformJob",
        "DescribeTransformJob",
        "StopTransformJob",
        "TransformJobName",
        "TransformJobStatus",
        "TransformJobArn",
    ],
);
static MODEL: ResourceStep = ResourceStep {
    create: "CreateModel",
    describe: "DescribeModel",
    stop: None,
    name_member: Some("ModelName"),
    status_member: None,
    success: "",
    arn_member: "ModelArn",
    metadata: "Model",
    max_name: 63,
};
static REGISTER_MODEL: ResourceStep = ResourceStep {
    create: "CreateModelPackage",
    describe: "DescribeModelPackage",
    stop: None,
    name_member: None,
    status_member: Some("ModelPackageStatus"),
    success: "Completed",
    arn_member: "ModelPackageArn",
    metadata: "RegisterModel",
    max_name: 63,
};
static ENDPOINT_CONFIG: ResourceStep = ResourceStep {
    create: "CreateEndpointConfig",
    describe: "DescribeEndpointConfig",
    stop: None,
    name_member: Some("EndpointConfigName"),
    status_member: None,
    success: "",
    arn_member: "EndpointConfigArn",
    metadata: "EndpointConfig",
    max_name: 63,
};
static ENDPOINT: ResourceStep = ResourceStep {
    create: "CreateEndpoint",
    describe: "DescribeEndpoint",
    stop: None,
    name_member: Some("EndpointName"),
    status_member: Some("EndpointStatus"),
    success: "InService",
    arn_member: "EndpointArn",
    metadata: "Endpoint",
    max_name: 63,
};

/// What the executor does with a step of type `kind`.
pub enum Kind {
    Resource(&'static ResourceStep),
    Condition,
    Fail,
    Callback,
    /// Refused at execution, with the reason.
    Refused(String),
}

pub fn kind(step_type: &str) -> Kind {
    match step_type {
        "Processing" => Kind::Resource(&PROCESSING),
        "Training" => Kind::Resource(&TRAINING),
        "Tuning" => Kind::Resource(&TUNING),
        "Transform" => Kind::Resource(&TRANSFORM),
        "Model" | "CreateModel" => Kind::Resource(&MODEL),
        "RegisterModel" => Kind::Resource(&REGISTER_MODEL),
        "EndpointConfig" => Kind::Resource(&ENDPOINT_CONFIG),
        "Endpoint" => Kind::Resource(&ENDPOINT),
        "Condition" => Kind::Condition,
        "Fail" => Kind::Fail,
        "Callback" => Kind::Callback,
        other => Kind::Refused(refusal(other)),
    }
}

/// Why sagebox does not run a step of type `t`, and what to do instead.
fn refusal(t: &str) -> String {
    let why = match t {
        "Lambda" => "there is no AWS Lambda service in sagebox to invoke the function",
        "EMR" | "EMRServerless" => "there is no Amazon EMR cluster in sagebox to run the step on",
        "QualityCheck" | "ClarifyCheck" => {
            "sagebox does not emulate the Model Monitor and Clarify containers these checks run"
        }
        "AutoML" => "sagebox does not emulate SageMaker Autopilot",
        _ => "sagebox does not know this step type",
    };
    format!(
        "sagebox cannot run {t} steps: {why}. Replace the step with a ProcessingStep that does \
         the same work in a container, or remove it for local runs."
    )
}

/// A name for the resource a step creates, as SageMaker Pipelines makes them
/// (`pipelines-<execution id>-<step>-<random>`), within the resource's length limit.
pub fn resource_name(execution_id: &str, step: &str, max: usize) -> String {
    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let mut cleaned = String::new();
    for c in step.chars() {
        if c.is_ascii_alphanumeric() {
            cleaned.push(c);
        } else if !cleaned.ends_with('-') && !cleaned.is_empty() {
            cleaned.push('-');
        }
    }
    let prefix = if max <= 32 {
        format!("{execution_id}-")
    } else {
        format!("pipelines-{execution_id}-")
    };
    let room = max.saturating_sub(prefix.len() + suffix.len() + 1);
    let step_part: String = cleaned.chars().take(room).collect();
    let step_part = step_part.trim_end_matches('-');
    if step_part.is_empty() {
        format!("{prefix}{suffix}")
    } else {
        format!("{prefix}{step_part}-{suffix}")
    }
}

/// The RetryPolicies exception type an API error counts as.
fn api_retry_class(e: &ApiError) -> Option<&'static str> {
    match e.code.as_str() {
        "ThrottlingException" => Some("Step.THROTTLING"),
        "InternalFailure" | "ServiceUnavailable" | "InternalServerError" => {
            Some("Step.SERVICE_FAULT")
        }
        "ResourceLimitExceeded" => Some("SageMaker.RESOURCE_LIMIT"),
        _ => None,
    }
}

/// The RetryPolicies exception type a job's FailureReason counts as.
fn job_retry_class(reason: &str) -> Option<&'static str> {
    if reason.starts_with("InternalServerError") {
        Some("SageMaker.JOB_INTERNAL_ERROR")
    } else if reason.contains("CapacityError") || reason.contains("InsufficientCapacity") {
        Some("SageMaker.CAPACITY_ERROR")
    } else {
        None
    }
}

/// The wait before another attempt, when one of `policies` covers a failure of type `class`
/// and has attempts left: `IntervalSeconds × BackoffRate^(retries so far)`. `attempts` counts
/// the attempts made (the first included); `elapsed` is the time since the first began, which
/// `ExpireAfterMin` bounds. MaxAttempts defaults to 5.
pub fn retry_wait(
    policies: &[RetryPolicy],
    class: &str,
    attempts: u32,
    elapsed: f64,
) -> Option<f64> {
    let p = policies
        .iter()
        .find(|p| p.exception_types.iter().any(|t| t == class))?;
    let retries_done = attempts.saturating_sub(1);
    if retries_done >= p.max_attempts.unwrap_or(5) {
        return None;
    }
    if p.expire_after_secs.is_some_and(|e| elapsed > e) {
        return None;
    }
    let exp = i32::try_from(retries_done).unwrap_or(i32::MAX);
    Some(p.interval_secs.max(0.0) * p.backoff_rate.max(1.0).powi(exp))
}

fn api_failure(e: ApiError) -> Outcome {
    Outcome::Failed {
        retry_as: api_retry_class(&e),
        reason: e.to_string(),
    }
}

/// Where a resource step stands once created: its ARN for the step's metadata.
#[derive(Debug, Clone)]
pub struct Created {
    pub resource: String,
    pub arn: String,
}

impl ResourceStep {
    /// Creates the resource (named `name`, unless the arguments name it) unless `existing`
    /// names one created before a restart, then follows it until it ends. `created` is told
    /// the resource once it exists; a true on `stop` stops it.
    pub async fn run(
        &self,
        s: &Services,
        arguments: Value,
        name: &str,
        existing: Option<String>,
        created: impl FnOnce(Created),
        mut stop: watch::Receiver<bool>,
    ) -> Outcome {
        let resource = match existing {
            Some(r) if self.describe(s, &r).await.is_ok() => r,
            _ => match self.create(s, arguments, name).await {
                Ok(r) => r,
                Err(e) => return api_failure(e),
            },
        };
        let mut created = Some(created);
        let mut stop_sent = false;
        loop {
            let described = match self.describe(s, &resource).await {
                Ok(d) => d,
                Err(e) => return api_failure(e),
            };
            if let Some(tell) = created.take() {
                let arn = described[self.arn_member]
                    .as_str()
                    .unwrap_or(&resource)
                    .to_string();
                tell(Created {
                    resource: resource.clone(),
                    arn,
                });
            }
            let status = self
                .status_member
                .map(|m| described[m].as_str().unwrap_or_default().to_string());
            match status.as_deref() {
                None => return self.succeeded(s, described).await,
                Some(st) if st == self.success => return self.succeeded(s, described).await,
                Some("Failed") => {
                    let reason = described["FailureReason"]
                        .as_str()
                        .unwrap_or("the resource failed")
                        .to_string();
                    return Outcome::Failed {
                        retry_as: job_retry_class(&reason),
                        reason,
                    };
                }
                Some("Stopped") => return Outcome::Stopped,
                Some(_) => {}
            }
            if *stop.borrow() && !stop_sent {
                stop_sent = true;
                match self.stop {
                    Some(op) => {
                        let member = self.name_member.unwrap_or(self.arn_member);
                        if let Err(e) = s.call_sagemaker(op, json!({ member: resource })).await {
                            tracing::debug!("stopping {resource}: {e}");
                        }
                    }
                    None => return Outcome::Stopped,
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed(), if !stop_sent => {}
            }
        }
    }

    /// Calls Create*; answers what names the resource for Describe*.
    async fn create(&self, s: &Services, arguments: Value, name: &str) -> Result<String, ApiError> {
        let mut body = match arguments {
            Value::Object(m) => m,
            _ => Default::default(),
        };
        if let Some(member) = self.name_member {
            let given = body.get(member).and_then(Value::as_str).map(str::to_string);
            let name = given.unwrap_or_else(|| name.to_string());
            body.insert(member.into(), json!(name));
            s.call_sagemaker(self.create, Value::Object(body)).await?;
            return Ok(name);
        }
        let out = s.call_sagemaker(self.create, Value::Object(body)).await?;
        Ok(out[self.arn_member]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    async fn describe(&self, s: &Services, resource: &str) -> Result<Value, ApiError> {
        let member = self.name_member.unwrap_or("ModelPackageName");
        s.call_sagemaker(self.describe, json!({ member: resource }))
            .await
    }

    /// The step's properties: the Describe* output; a tuning step adds its training jobs, best
    /// first (`TrainingJobSummaries[0]` is the best, as the SDK's `get_top_model_s3_uri`
    /// expects).
    async fn succeeded(&self, s: &Services, mut described: Value) -> Outcome {
        if self.create == "CreateHyperParameterTuningJob" {
            let config = &described["HyperParameterTuningJobConfig"];
            let minimize = config["HyperParameterTuningJobObjective"]["Type"] == "Minimize";
            let name = described["HyperParameterTuningJobName"].clone();
            let listed = s
                .call_sagemaker(
                    "ListTrainingJobsForHyperParameterTuningJob",
                    json!({
                        "HyperParameterTuningJobName": name,
                        "SortBy": "FinalObjectiveMetricValue",
                        "SortOrder": if minimize { "Ascending" } else { "Descending" },
                        "MaxResults": 100,
                    }),
                )
                .await;
            if let Ok(l) = listed {
                described["TrainingJobSummaries"] = l["TrainingJobSummaries"].clone();
            }
        }
        Outcome::Succeeded {
            properties: described,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_fit_their_limits_and_keep_the_step_readable() {
        let n = resource_name("abcdefghijkl", "Abalone Process_step", 63);
        assert!(
            n.starts_with("pipelines-abcdefghijkl-Abalone-Process-step-"),
            "{n}"
        );
        assert!(n.len() <= 63);
        let long = resource_name("abcdefghijkl", &"x".repeat(100), 63);
        assert_eq!(long.len(), 63);
        let tuning = resource_name("abcdefghijkl", "TuneModel", 32);
        assert!(
            tuning.len() <= 32 && tuning.starts_with("abcdefghijkl-"),
            "{tuning}"
        );
    }

    #[test]
    fn unrunnable_step_types_are_refused_with_the_reason() {
        match kind("Lambda") {
            Kind::Refused(r) => assert!(r.contains("Lambda") && r.contains("ProcessingStep")),
            _ => panic!("Lambda steps must be refused"),
        }
        assert!(matches!(kind("Training"), Kind::Resource(r) if r.metadata == "TrainingJob"));
        assert!(matches!(kind("Condition"), Kind::Condition));
    }

    #[test]
    fn retries_back_off_until_their_attempts_or_time_run_out() {
        let policies = vec![RetryPolicy {
            exception_types: vec!["SageMaker.JOB_INTERNAL_ERROR".into()],
            interval_secs: 2.0,
            backoff_rate: 3.0,
            max_attempts: Some(2),
            expire_after_secs: Some(600.0),
        }];
        let class = "SageMaker.JOB_INTERNAL_ERROR";
        assert_eq!(retry_wait(&policies, class, 1, 0.0), Some(2.0));
        assert_eq!(retry_wait(&policies, class, 2, 10.0), Some(6.0));
        assert_eq!(
            retry_wait(&policies, class, 3, 20.0),
            None,
            "two retries at most"
        );
        assert_eq!(retry_wait(&policies, class, 1, 601.0), None, "expired");
        assert_eq!(
            retry_wait(&policies, "Step.THROTTLING", 1, 0.0),
            None,
            "not covered"
        );
    }

    #[test]
    fn failures_map_to_retry_policy_exception_types() {
        let e = ApiError {
            code: "ThrottlingException".into(),
            message: "slow down".into(),
        };
        assert_eq!(api_retry_class(&e), Some("Step.THROTTLING"));
        assert_eq!(
            job_retry_class("InternalServerError: We encountered an internal error"),
            Some("SageMaker.JOB_INTERNAL_ERROR")
        );
        assert_eq!(job_retry_class("AlgorithmError: boom"), None);
    }
}
