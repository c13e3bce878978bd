//! CloudWatch's operations: the validated members decoded into the generated input type, one
//! service call, and the output members rendered once for every protocol (timestamps as epoch
//! seconds; each encoder writes them its own way).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::aws::AwsError;
use crate::aws::model::typed::decode;
use crate::service::Services;
use crate::service::metrics::{MetricsError, Stat};
use crate::store::metrics::MetricKey;

type Answer = Result<Map<String, Value>, AwsError>;

pub async fn dispatch(s: &Services, op: &str, members: Map<String, Value>) -> Answer {
    match op {
        "PutMetricData" => {
            s.put_metric_data(input(&members)?)
                .await
                .map_err(map_error)?;
            Ok(Map::new())
        }
        "GetMetricStatistics" => get_metric_statistics(s, &members).await,
        "GetMetricData" => get_metric_data(s, &members).await,
        "ListMetrics" => list_metrics(s, &members).await,
        other => Err(AwsError::internal(format!(
            "operation {other} is listed in the model tables but not dispatched"
        ))),
    }
}

fn input<T: serde::de::DeserializeOwned>(members: &Map<String, Value>) -> Result<T, AwsError> {
    decode(members).map_err(|e| AwsError::bad_request("ValidationError", e))
}

/// CloudWatch's query error codes for each service error.
fn map_error(e: MetricsError) -> AwsError {
    match e {
        MetricsError::InvalidValue(m) => AwsError::bad_request("InvalidParameterValue", m),
        MetricsError::Combination(m) => AwsError::bad_request("InvalidParameterCombination", m),
        MetricsError::Missing(m) => AwsError::bad_request("MissingParameter", m),
        MetricsError::NextToken(m) => AwsError::bad_request("InvalidNextToken", m),
        MetricsError::Internal(m) => {
            AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServiceError", m)
        }
    }
}

async fn get_metric_statistics(s: &Services, members: &Map<String, Value>) -> Answer {
    let answer = s
        .get_metric_statistics(input(members)?)
        .await
        .map_err(map_error)?;
    let points: Vec<Value> = answer
        .points
        .iter()
        .map(|p| {
            let mut point = Map::new();
            point.insert("Timestamp".into(), epoch(p.timestamp));
            let mut extended = Map::new();
            for (stat, v) in &p.values {
                match stat {
                    Stat::Percentile(_, name) => extended.insert(name.clone(), json!(v)),
                    basic => point.insert(basic.name().to_string(), json!(v)),
                };
            }
            point.insert("Unit".into(), json!(p.unit));
            if !extended.is_empty() {
                point.insert("ExtendedStatistics".into(), Value::Object(extended));
            }
            Value::Object(point)
        })
        .collect();
    Ok(object(
        json!({ "Label": answer.label, "Datapoints": points }),
    ))
}

async fn get_metric_data(s: &Services, members: &Map<String, Value>) -> Answer {
    let answer = s
        .get_metric_data(input(members)?)
        .await
        .map_err(map_error)?;
    let results: Vec<Value> = answer
        .results
        .iter()
        .map(|r| {
            json!({
                "Id": r.id,
                "Label": r.label,
                "Timestamps": r.timestamps.iter().map(|t| epoch(*t)).collect::<Vec<_>>(),
                "Values": r.values,
                "StatusCode": if r.complete { "Complete" } else { "PartialData" },
            })
        })
        .collect();
    let mut out = object(json!({ "MetricDataResults": results, "Messages": [] }));
    if let Some(t) = answer.next_token {
        out.insert("NextToken".into(), json!(t));
    }
    Ok(out)
}

async fn list_metrics(s: &Services, members: &Map<String, Value>) -> Answer {
    let page = s.list_metrics(input(members)?).await.map_err(map_error)?;
    let metrics: Vec<Value> = page.metrics.iter().map(metric).collect();
    let mut out = object(json!({ "Metrics": metrics }));
    if let Some(t) = page.next_token {
        out.insert("NextToken".into(), json!(t));
    }
    Ok(out)
}

fn metric(k: &MetricKey) -> Value {
    let dims: Vec<Value> = k
        .dimensions
        .iter()
        .map(|(n, v)| json!({ "Name": n, "Value": v }))
        .collect();
    json!({ "Namespace": k.namespace, "MetricName": k.name, "Dimensions": dims })
}

/// Epoch seconds, as an integer when whole (period starts always are).
fn epoch(t: f64) -> Value {
    if t.fract() == 0.0 && t.abs() < 9.0e15 {
        json!(t as i64)
    } else {
        json!(t)
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
