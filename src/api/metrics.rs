//! The SageMaker Metrics API (restJson1: `PUT /BatchPutMetrics`, `POST /BatchGetMetrics`): the
//! metric values the SDK's `Run.log_metric` sends for a trial component, and their series read
//! back. Both bodies are plain JSON objects of the input members, so the awsJson plumbing
//! validates and serves them.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::json;
use crate::aws::AwsError;
use crate::aws::model::sagemaker_metrics::MODEL;
use crate::service::experiments::MetricQuery;
use crate::service::{Request, ServiceError, Services, required_str};

/// The path each operation is served at, with its method.
pub fn operation(method: &axum::http::Method, path: &str) -> Option<&'static str> {
    match (method.as_str(), path) {
        ("PUT", "/BatchPutMetrics") => Some("BatchPutMetrics"),
        ("POST", "/BatchGetMetrics") => Some("BatchGetMetrics"),
        _ => None,
    }
}

pub async fn handle(services: &Services, op: &str, body: &[u8], request_id: &str) -> Response {
    json::serve(&MODEL, op, body, request_id, map_error, |req| async move {
        match op {
            "BatchPutMetrics" => put(services, req).await,
            _ => get(services, req).await,
        }
    })
    .await
}

fn map_error(e: ServiceError) -> AwsError {
    match e {
        ServiceError::Internal(m) => {
            AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", m)
        }
        other => AwsError::bad_request("ValidationException", other.to_string()),
    }
}

async fn put(s: &Services, req: Request) -> Result<Value, ServiceError> {
    let component = required_str(&req, "TrialComponentName")?;
    let data = req
        .get("MetricData")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let errors = s.put_trial_metrics(component, &data).await?;
    Ok(if errors.is_empty() {
        json!({})
    } else {
        json!({ "Errors": errors })
    })
}

async fn get(s: &Services, req: Request) -> Result<Value, ServiceError> {
    let text = |q: &Value, m: &str| {
        q.get(m)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let queries = req
        .get("MetricQueries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|q| MetricQuery {
            resource_arn: text(q, "ResourceArn"),
            metric_name: text(q, "MetricName"),
            stat: text(q, "MetricStat"),
            period: text(q, "Period"),
            x_axis: text(q, "XAxisType"),
            start: q.get("Start").and_then(Value::as_i64),
            end: q.get("End").and_then(Value::as_i64),
        })
        .collect();
    let results: Vec<Value> = s
        .get_trial_metrics(queries)
        .await?
        .into_iter()
        .map(|r| match r {
            Ok(series) => json!({
                "Status": "Complete",
                "XAxisValues": series.x,
                "MetricValues": series.values,
            }),
            Err(message) => json!({
                "Status": "ValidationError",
                "Message": message,
                "XAxisValues": [],
                "MetricValues": [],
            }),
        })
        .collect();
    Ok(json!({ "MetricQueryResults": results }))
}
