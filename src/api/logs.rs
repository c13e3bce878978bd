//! CloudWatch Logs (awsJson 1.1, `X-Amz-Target: Logs_20140328.<Operation>`). Each operation
//! decodes its members, calls the logs service, and renders the output shape the model names;
//! times are epoch milliseconds on the wire, as in the model's `Timestamp` (a long).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::json;
use crate::aws::AwsError;
use crate::aws::model::logs::MODEL;
use crate::service::logs::{
    self as logs_service, CreateLogGroup, DescribeLogGroups, DescribeLogStreams, FilterLogEvents,
    GetLogEvents, log_group_ref,
};
use crate::service::{Request, ServiceError, Services, required_str, str_member};
use crate::store::logs::{LogGroup, LogStream, StreamOrder};

pub async fn handle(services: &Services, op: &str, body: &[u8], request_id: &str) -> Response {
    json::serve(&MODEL, op, body, request_id, map_error, |req| {
        dispatch(services, op, req)
    })
    .await
}

/// CloudWatch Logs' error codes for each service error.
fn map_error(e: ServiceError) -> AwsError {
    match e {
        ServiceError::InvalidParameter(m) => AwsError::bad_request("InvalidParameterException", m),
        ServiceError::Validation(m) => AwsError::bad_request("ValidationException", m),
        ServiceError::NotFound(m) => AwsError::bad_request("ResourceNotFoundException", m),
        ServiceError::AlreadyExists(m) | ServiceError::Duplicate(m) => {
            AwsError::bad_request("ResourceAlreadyExistsException", m)
        }
        ServiceError::Conflict(m) => AwsError::bad_request("OperationAbortedException", m),
        ServiceError::LimitExceeded(m) => AwsError::bad_request("LimitExceededException", m),
        ServiceError::InUse(m) => AwsError::bad_request("OperationAbortedException", m),
        ServiceError::Internal(m) => AwsError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceUnavailableException",
            m,
        ),
    }
}

type Answer = Result<Value, ServiceError>;

/// The operation table: each name maps to its handler and nothing else. An operation the model
/// tables know but this table lacks is an emulator bug, answered as ServiceUnavailable.
async fn dispatch(s: &Services, op: &str, req: Request) -> Answer {
    match op {
        "CreateLogGroup" => create_log_group(s, req).await,
        "CreateLogStream" => create_log_stream(s, req).await,
        "DeleteLogGroup" => delete_log_group(s, req).await,
        "DeleteLogStream" => delete_log_stream(s, req).await,
        "DescribeLogGroups" => describe_log_groups(s, req).await,
        "DescribeLogStreams" => describe_log_streams(s, req).await,
        "PutLogEvents" => put_log_events(s, req).await,
        "GetLogEvents" => get_log_events(s, req).await,
        "FilterLogEvents" => filter_log_events(s, req).await,
        other => Err(ServiceError::Internal(format!(
            "operation {other} is listed in the model tables but not dispatched"
        ))),
    }
}

async fn create_log_group(s: &Services, req: Request) -> Answer {
    let p = CreateLogGroup {
        name: required_str(&req, "logGroupName")?.to_string(),
        class: owned(&req, "logGroupClass"),
        kms_key_id: owned(&req, "kmsKeyId"),
        deletion_protection: boolean(&req, "deletionProtectionEnabled").unwrap_or(false),
        tags: tag_map(&req),
    };
    s.create_log_group(p).await?;
    Ok(json!({}))
}

async fn create_log_stream(s: &Services, req: Request) -> Answer {
    s.create_log_stream(
        required_str(&req, "logGroupName")?,
        required_str(&req, "logStreamName")?,
    )
    .await?;
    Ok(json!({}))
}

async fn delete_log_group(s: &Services, req: Request) -> Answer {
    s.delete_log_group(required_str(&req, "logGroupName")?)
        .await?;
    Ok(json!({}))
}

async fn delete_log_stream(s: &Services, req: Request) -> Answer {
    s.delete_log_stream(
        required_str(&req, "logGroupName")?,
        required_str(&req, "logStreamName")?,
    )
    .await?;
    Ok(json!({}))
}

async fn describe_log_groups(s: &Services, req: Request) -> Answer {
    let p = DescribeLogGroups {
        prefix: owned(&req, "logGroupNamePrefix"),
        pattern: owned(&req, "logGroupNamePattern"),
        class: owned(&req, "logGroupClass"),
        identifiers: strings(&req, "logGroupIdentifiers"),
        limit: count(&req, "limit"),
        next_token: owned(&req, "nextToken"),
    };
    let page = s.describe_log_groups(p).await?;
    let groups: Vec<Value> = page.items.iter().map(|g| log_group(s, g)).collect();
    Ok(with_token(
        json!({ "logGroups": groups }),
        "nextToken",
        page.next_token,
    ))
}

async fn describe_log_streams(s: &Services, req: Request) -> Answer {
    let group = group_of(&req)?;
    let p = DescribeLogStreams {
        prefix: owned(&req, "logStreamNamePrefix"),
        order: match str_member(&req, "orderBy") {
            Some("LastEventTime") => StreamOrder::LastEventTime,
            _ => StreamOrder::Name,
        },
        descending: boolean(&req, "descending").unwrap_or(false),
        limit: count(&req, "limit"),
        next_token: owned(&req, "nextToken"),
        group,
    };
    let group = p.group.clone();
    let page = s.describe_log_streams(p).await?;
    let streams: Vec<Value> = page
        .items
        .iter()
        .map(|st| log_stream(s, &group, st))
        .collect();
    Ok(with_token(
        json!({ "logStreams": streams }),
        "nextToken",
        page.next_token,
    ))
}

async fn put_log_events(s: &Services, req: Request) -> Answer {
    let events = req
        .get("logEvents")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    let t = e.get("timestamp").and_then(millis).unwrap_or(0);
                    (
                        t,
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let r = s
        .put_log_events(
            required_str(&req, "logGroupName")?,
            required_str(&req, "logStreamName")?,
            events,
        )
        .await?;
    let mut out = json!({ "nextSequenceToken": r.next_sequence_token });
    if let Some(rejected) = r.rejected {
        let mut info = Map::new();
        if let Some(i) = rejected.too_new_start {
            info.insert("tooNewLogEventStartIndex".into(), json!(i));
        }
        if let Some(i) = rejected.too_old_end {
            info.insert("tooOldLogEventEndIndex".into(), json!(i));
        }
        out["rejectedLogEventsInfo"] = Value::Object(info);
    }
    Ok(out)
}

async fn get_log_events(s: &Services, req: Request) -> Answer {
    let p = GetLogEvents {
        group: group_of(&req)?,
        stream: required_str(&req, "logStreamName")?.to_string(),
        start: req.get("startTime").and_then(millis),
        end: req.get("endTime").and_then(millis),
        limit: count(&req, "limit"),
        start_from_head: boolean(&req, "startFromHead").unwrap_or(false),
        next_token: owned(&req, "nextToken"),
    };
    let page = s.get_log_events(p).await?;
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| json!({ "timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion }))
        .collect();
    Ok(json!({
        "events": events,
        "nextForwardToken": page.next_forward_token,
        "nextBackwardToken": page.next_backward_token,
    }))
}

async fn filter_log_events(s: &Services, req: Request) -> Answer {
    let p = FilterLogEvents {
        group: group_of(&req)?,
        stream_names: strings(&req, "logStreamNames"),
        stream_prefix: owned(&req, "logStreamNamePrefix"),
        start: req.get("startTime").and_then(millis),
        end: req.get("endTime").and_then(millis),
        pattern: owned(&req, "filterPattern"),
        limit: count(&req, "limit"),
        next_token: owned(&req, "nextToken"),
    };
    let page = s.filter_log_events(p).await?;
    let events: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "logStreamName": e.stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion,
                "eventId": logs_service::event_id(e),
            })
        })
        .collect();
    // searchedLogStreams is deprecated and AWS answers it empty.
    Ok(with_token(
        json!({ "events": events, "searchedLogStreams": [] }),
        "nextToken",
        page.next_token,
    ))
}

fn log_group(s: &Services, g: &LogGroup) -> Value {
    let arn = s.log_group_arn(&g.name);
    let mut out = json!({
        "logGroupName": g.name,
        "creationTime": g.created,
        "metricFilterCount": 0,
        "arn": format!("{arn}:*"),
        "storedBytes": g.stored_bytes,
        "logGroupClass": g.class,
        "logGroupArn": arn,
        "deletionProtectionEnabled": g.deletion_protection,
    });
    if let Some(days) = g.retention_days {
        out["retentionInDays"] = json!(days);
    }
    if let Some(key) = &g.kms_key_id {
        out["kmsKeyId"] = json!(key);
    }
    out
}

fn log_stream(s: &Services, group: &str, st: &LogStream) -> Value {
    let mut out = json!({
        "logStreamName": st.name,
        "creationTime": st.created,
        "arn": s.log_stream_arn(group, &st.name),
        // AWS has reported 0 for streams since 2019; the group total is still kept.
        "storedBytes": 0,
    });
    let optional = [
        ("firstEventTimestamp", st.first_event.map(Value::from)),
        ("lastEventTimestamp", st.last_event.map(Value::from)),
        ("lastIngestionTime", st.last_ingestion.map(Value::from)),
        (
            "uploadSequenceToken",
            logs_service::sequence_token(st.upload_seq).map(Value::from),
        ),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            out[name] = v;
        }
    }
    out
}

/// The group named by `logGroupName` or `logGroupIdentifier`.
fn group_of(req: &Request) -> Result<String, ServiceError> {
    log_group_ref(
        str_member(req, "logGroupName"),
        str_member(req, "logGroupIdentifier"),
    )
}

fn owned(req: &Request, name: &str) -> Option<String> {
    str_member(req, name).map(str::to_string)
}

fn boolean(req: &Request, name: &str) -> Option<bool> {
    req.get(name).and_then(Value::as_bool)
}

fn count(req: &Request, name: &str) -> Option<usize> {
    req.get(name).and_then(Value::as_u64).map(|n| n as usize)
}

/// A `Timestamp` member: epoch milliseconds as a JSON integer.
fn millis(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

fn strings(req: &Request, name: &str) -> Option<Vec<String>> {
    let list = req.get(name)?.as_array()?;
    Some(
        list.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    )
}

/// `tags: {key: value}` from CreateLogGroup.
fn tag_map(req: &Request) -> Vec<(String, String)> {
    req.get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn with_token(mut out: Value, member: &str, token: Option<String>) -> Value {
    if let Some(t) = token {
        out[member] = json!(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_map_to_logs_error_codes() {
        let code = |e| map_error(e).code.into_owned();
        assert_eq!(
            code(ServiceError::InvalidParameter("x".into())),
            "InvalidParameterException"
        );
        assert_eq!(
            code(ServiceError::NotFound("x".into())),
            "ResourceNotFoundException"
        );
        assert_eq!(
            code(ServiceError::AlreadyExists("x".into())),
            "ResourceAlreadyExistsException"
        );
        assert_eq!(
            map_error(ServiceError::NotFound("x".into())).status,
            StatusCode::BAD_REQUEST
        );
    }
}
