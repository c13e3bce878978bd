//! What a transform job runs with, read from its typed request: the settings (the request's,
//! else the container's GET /execution-parameters, else SageMaker's defaults), recorded for
//! DescribeTransformJob, and the environment its containers get.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::records::{self, AssembleWith, BatchStrategy, SplitType};
use crate::aws::model::typed::sagemaker::{
    CreateTransformJobRequest, JoinSource, TransformS3DataSource,
};
use crate::service::Services;
use crate::service::failure::FailureReason;
use crate::service::hosting::routes::Instance;
use crate::store::resources::Resource;

pub(super) const MIB: usize = 1024 * 1024;

/// The job as its supervisor reads it: the row (name, ARN) and the request it was created with.
pub(super) struct Job<'a> {
    pub(super) row: &'a Resource,
    pub(super) req: CreateTransformJobRequest,
}

/// The settings a job runs with: the request's, else the container's /execution-parameters,
/// else SageMaker's defaults.
pub(super) struct Settings {
    pub(super) split: SplitType,
    pub(super) strategy: BatchStrategy,
    pub(super) max_payload: usize,
    pub(super) concurrency: usize,
    pub(super) assemble: AssembleWith,
    pub(super) content_type: String,
    pub(super) accept: Option<String>,
    pub(super) input_filter: Option<String>,
    pub(super) join_input: bool,
    pub(super) output_filter: Option<String>,
    pub(super) timeout: Duration,
    pub(super) retries: u64,
}

impl Job<'_> {
    pub(super) fn name(&self) -> &str {
        &self.row.name
    }

    pub(super) fn arn(&self) -> &str {
        &self.row.arn
    }

    pub(super) fn s3_source(&self) -> Option<&TransformS3DataSource> {
        self.req
            .transform_input
            .as_ref()?
            .data_source
            .as_ref()?
            .s3_data_source
            .as_ref()
    }

    pub(super) fn output_path(&self) -> &str {
        self.req
            .transform_output
            .as_ref()
            .and_then(|o| o.s3_output_path.as_deref())
            .unwrap_or_default()
    }
}

/// A count member as the job uses it; a negative one (the model forbids them) reads as absent.
pub(super) fn count(n: Option<i64>) -> Option<u64> {
    n.and_then(|n| u64::try_from(n).ok())
}

/// What SageMaker sets in a transform job's containers, then the job's own Environment.
pub(super) fn batch_environment(job: &Job<'_>) -> Vec<(String, String)> {
    let req = &job.req;
    let mut env = vec![("SAGEMAKER_BATCH".to_string(), "true".to_string())];
    for (var, n) in [
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", req.max_payload_in_mb),
        (
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS",
            req.max_concurrent_transforms,
        ),
    ] {
        if let Some(n) = count(n) {
            env.push((var.to_string(), n.to_string()));
        }
    }
    if let Some(b) = req.batch_strategy {
        let v = match b {
            BatchStrategy::MultiRecord => "MULTI_RECORD",
            BatchStrategy::SingleRecord => "SINGLE_RECORD",
        };
        env.push(("SAGEMAKER_BATCH_STRATEGY".to_string(), v.to_string()));
    }
    env.extend(
        req.environment
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    env
}

/// The settings the job runs with, as DescribeTransformJob shows them.
pub(super) async fn record_settings(
    services: &Services,
    job: &Job<'_>,
    settings: &Settings,
) -> Result<(), FailureReason> {
    services
        .note_transform(job.name(), |d| {
            d.insert("BatchStrategy".into(), json!(settings.strategy));
            d.insert("MaxPayloadInMB".into(), json!(settings.max_payload / MIB));
            d.insert(
                "MaxConcurrentTransforms".into(),
                json!(settings.concurrency),
            );
        })
        .await
        .map_err(|e| FailureReason::Plain(e.to_string()))
}

/// What a container's GET /execution-parameters may answer. Each member is read on its own,
/// so one of the wrong type is ignored rather than the whole answer.
#[derive(Debug, Default, serde::Deserialize)]
struct ExecutionParameters {
    #[serde(rename = "BatchStrategy", default)]
    batch_strategy: Value,
    #[serde(rename = "MaxPayloadInMB", default)]
    max_payload_in_mb: Value,
    #[serde(rename = "MaxConcurrentTransforms", default)]
    max_concurrent_transforms: Value,
}

/// The container's execution parameters; none when it does not answer, or not with an object.
async fn execution_parameters(services: &Services, first: &Instance) -> ExecutionParameters {
    let port = first.members[0].port.load(Ordering::Relaxed);
    if let Ok(req) = http::Request::get(format!("http://127.0.0.1:{port}/execution-parameters"))
        .body(Body::empty())
        && let Ok(Ok(resp)) =
            tokio::time::timeout(Duration::from_secs(5), services.hosting.client.request(req)).await
        && resp.status().is_success()
        && let Ok(body) = resp.into_body().collect().await
        && let Ok(answer @ Value::Object(_)) = serde_json::from_slice(&body.to_bytes())
    {
        return serde_json::from_value(answer).unwrap_or_default();
    }
    ExecutionParameters::default()
}

/// What the request sets, else what the container's GET /execution-parameters says, else the
/// defaults (SingleRecord, 6 MB, one request at a time).
pub(super) async fn resolve(services: &Services, job: &Job<'_>, first: &Instance) -> Settings {
    let exec = execution_parameters(services, first).await;
    let req = &job.req;
    let strategy = req.batch_strategy.or_else(|| {
        exec.batch_strategy.as_str().map(|s| {
            if s.eq_ignore_ascii_case("MULTI_RECORD") {
                BatchStrategy::MultiRecord
            } else {
                BatchStrategy::SingleRecord
            }
        })
    });
    let max_payload_mb = count(req.max_payload_in_mb)
        .or_else(|| exec.max_payload_in_mb.as_u64())
        .unwrap_or(6);
    let concurrency = count(req.max_concurrent_transforms)
        .filter(|n| *n > 0)
        .or_else(|| exec.max_concurrent_transforms.as_u64())
        .unwrap_or(1)
        .max(1);
    let input = req.transform_input.as_ref();
    let output = req.transform_output.as_ref();
    let processing = req.data_processing.as_ref();
    // "$" selects the whole record: no filter at all
    let filter = |f: Option<&String>| f.filter(|f| *f != "$").cloned();
    let client = req.model_client_config.as_ref();
    Settings {
        split: records::split_type(input.and_then(|i| i.split_type)),
        strategy: records::batch_strategy(strategy),
        max_payload: (max_payload_mb as usize) * MIB,
        concurrency: concurrency as usize,
        assemble: records::assemble_with(output.and_then(|o| o.assemble_with)),
        content_type: input
            .and_then(|i| i.content_type.clone())
            .unwrap_or_default(),
        accept: output.and_then(|o| o.accept.clone()),
        input_filter: filter(processing.and_then(|p| p.input_filter.as_ref())),
        join_input: processing.and_then(|p| p.join_source) == Some(JoinSource::Input),
        output_filter: filter(processing.and_then(|p| p.output_filter.as_ref())),
        timeout: Duration::from_secs(
            count(client.and_then(|c| c.invocations_timeout_in_seconds)).unwrap_or(600),
        ),
        retries: count(client.and_then(|c| c.invocations_max_retries)).unwrap_or(3),
    }
}
