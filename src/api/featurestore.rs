//! SageMaker Feature Store Runtime (`sagemaker-featurestore-runtime`, restJson1): the record API
//! of feature groups (PutRecord, GetRecord, DeleteRecord, BatchGetRecord, BatchWriteRecord,
//! ListRecords; UpdateRecord answers NotImplementedException). Requests carry their members in the path (`/FeatureGroup/{name}`), the
//! query string and a JSON body; this module gathers them into one object by the model's member
//! names, validates it against the model's tables like every other api, calls the service,
//! and renders the output shape. Errors are the model's: ValidationError (400),
//! ResourceNotFound (404), AccessForbidden (403), InternalFailure (500), ServiceUnavailable.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::aws::AwsError;
use crate::aws::error::insert_request_id;
use crate::aws::model::InputError;
use crate::aws::model::sagemaker_featurestore_runtime::MODEL;
use crate::aws::model::typed::decode;
use crate::aws::model::typed::sagemaker_featurestore_runtime::{
    BatchGetRecordRequest, BatchWriteRecordRequest, ExpirationTimeResponse, GetRecordRequest,
    ListRecordsRequest,
};
use crate::service::featurestore::FoundRecord;
use crate::service::{ServiceError, Services};

/// Largest request body read: a record's values may be up to 350 KiB each.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Paths no S3 bucket can have (bucket names are lowercase): the gateway sends them here.
pub fn is_feature_store_path(path: &str) -> bool {
    path.starts_with("/FeatureGroup/") || path == "/BatchGetRecord" || path == "/BatchWriteRecord"
}

pub async fn handle(services: &Services, req: Request, request_id: &str) -> Response {
    match serve(services, req).await {
        Ok(out) => ok(out, request_id),
        Err(e) => e.into_rest_json_response(request_id),
    }
}

/// The operation a method and path name, and the group name the path carries.
fn operation(method: &Method, path: &str) -> Option<(&'static str, Option<String>)> {
    if path == "/BatchGetRecord" && method == Method::POST {
        return Some(("BatchGetRecord", None));
    }
    if path == "/BatchWriteRecord" && method == Method::POST {
        return Some(("BatchWriteRecord", None));
    }
    let rest = path.strip_prefix("/FeatureGroup/")?;
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let name = decode_segment(name)?;
    let op = match (method.as_str(), tail) {
        ("PUT", "") => "PutRecord",
        ("GET", "") => "GetRecord",
        ("DELETE", "") => "DeleteRecord",
        ("POST", "ListRecords") => "ListRecords",
        ("POST", "Record") => "UpdateRecord",
        _ => return None,
    };
    Some((op, Some(name)))
}

/// A percent-encoded path segment ('+' stays itself, unlike in a query string).
fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The query members of each operation: (query key, member, whether it is a list).
fn query_members(op: &str) -> &'static [(&'static str, &'static str, bool)] {
    match op {
        "GetRecord" => &[
            (
                "RecordIdentifierValueAsString",
                "RecordIdentifierValueAsString",
                false,
            ),
            ("FeatureName", "FeatureNames", true),
            ("ExpirationTimeResponse", "ExpirationTimeResponse", false),
        ],
        "DeleteRecord" => &[
            (
                "RecordIdentifierValueAsString",
                "RecordIdentifierValueAsString",
                false,
            ),
            ("EventTime", "EventTime", false),
            ("TargetStores", "TargetStores", true),
            ("DeletionMode", "DeletionMode", false),
        ],
        _ => &[],
    }
}

/// Gathers the request's members: the body's, the path's group name, the query's.
async fn members(
    req: Request,
    op: &str,
    group: Option<String>,
) -> Result<Map<String, Value>, AwsError> {
    let query = req.uri().query().unwrap_or_default().to_string();
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| {
            AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationError",
                format!("Could not read the request body: {e}"),
            )
        })?;
    let mut out = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(validation(
                    "The request body is not a valid JSON object.".into(),
                ));
            }
        }
    };
    if let Some(g) = group {
        out.insert("FeatureGroupName".into(), json!(g));
    }
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some((_, member, list)) = query_members(op).iter().find(|(k, _, _)| *k == key) else {
            continue;
        };
        if *list {
            let entry = out.entry(*member).or_insert_with(|| json!([]));
            if let Value::Array(a) = entry {
                a.push(json!(value));
            }
        } else {
            out.insert((*member).into(), json!(value));
        }
    }
    Ok(out)
}

fn validation(message: String) -> AwsError {
    AwsError::bad_request("ValidationError", message)
}

async fn serve(services: &Services, req: Request) -> Result<Value, AwsError> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let Some((op, group)) = operation(&method, &path) else {
        return Err(AwsError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("No SageMaker Feature Store Runtime operation answers {method} {path}."),
        ));
    };
    let Some(operation) = MODEL.operation(op) else {
        return Err(AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplementedException",
            format!("sagebox does not implement sagemaker-featurestore-runtime.{op} yet."),
        ));
    };
    let members = members(req, op, group).await?;
    MODEL
        .validate(operation, &Value::Object(members.clone()))
        .map_err(|e| match e {
            InputError::Serialization(m) | InputError::Validation(m) => validation(m),
        })?;
    let typed = |e: String| validation(e);
    match op {
        "PutRecord" => {
            let input = decode(&members).map_err(typed)?;
            services.put_record(input).await.map_err(map_error)?;
            Ok(Value::Null)
        }
        "DeleteRecord" => {
            let input = decode(&members).map_err(typed)?;
            services.delete_record(input).await.map_err(map_error)?;
            Ok(Value::Null)
        }
        "GetRecord" => {
            let input: GetRecordRequest = decode(&members).map_err(typed)?;
            let enabled = input.expiration_time_response == Some(ExpirationTimeResponse::Enabled);
            let found = services.get_record(input).await.map_err(map_error)?;
            Ok(found.map_or_else(|| json!({}), |f| record_json(f, enabled)))
        }
        "BatchGetRecord" => {
            let input: BatchGetRecordRequest = decode(&members).map_err(typed)?;
            let enabled = input.expiration_time_response == Some(ExpirationTimeResponse::Enabled);
            let identifiers = input.identifiers.unwrap_or_default();
            let out = services
                .batch_get_record(identifiers)
                .await
                .map_err(map_error)?;
            let records: Vec<Value> = out
                .records
                .into_iter()
                .map(|(group, id, found)| {
                    let mut r = record_json(found, enabled);
                    r["FeatureGroupName"] = json!(group);
                    r["RecordIdentifierValueAsString"] = json!(id);
                    r
                })
                .collect();
            let errors: Vec<Value> = out
                .errors
                .into_iter()
                .map(|(group, id, code, message)| {
                    json!({
                        "FeatureGroupName": group, "RecordIdentifierValueAsString": id,
                        "ErrorCode": code, "ErrorMessage": message
                    })
                })
                .collect();
            Ok(json!({"Records": records, "Errors": errors, "UnprocessedIdentifiers": []}))
        }
        "BatchWriteRecord" => {
            let input: BatchWriteRecordRequest = decode(&members).map_err(typed)?;
            let entries = input.entries.unwrap_or_default();
            let failures = services
                .batch_write_record(entries, input.ttl_duration)
                .await
                .map_err(map_error)?;
            let errors: Vec<Value> = failures
                .into_iter()
                .map(|f| json!({"Entry": f.entry, "ErrorCode": f.code, "ErrorMessage": f.message}))
                .collect();
            Ok(json!({"Errors": errors, "UnprocessedEntries": []}))
        }
        "ListRecords" => {
            let input: ListRecordsRequest = decode(&members).map_err(typed)?;
            let name = input.feature_group_name.unwrap_or_default();
            let include = input.include_soft_deleted_records.unwrap_or(false);
            let (ids, next) = services
                .list_records(
                    &name,
                    input.max_results,
                    input.next_token.as_deref(),
                    include,
                )
                .await
                .map_err(map_error)?;
            let mut out = json!({ "RecordIdentifiers": ids });
            if let Some(t) = next {
                out["NextToken"] = json!(t);
            }
            Ok(out)
        }
        _ => Err(AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplementedException",
            format!("sagebox does not implement sagemaker-featurestore-runtime.{op} yet."),
        )),
    }
}

/// `{"Record": [...], "ExpiresAt": "..."}`; ExpiresAt only when asked for and set.
fn record_json(found: FoundRecord, expires: bool) -> Value {
    let mut out = json!({ "Record": found.record });
    if expires && let Some(t) = found.expires_at {
        out["ExpiresAt"] = json!(crate::service::featurestore::group::iso_time(t));
    }
    out
}

/// The Feature Store Runtime's error for each service error.
fn map_error(e: ServiceError) -> AwsError {
    match e {
        ServiceError::NotFound(m) => AwsError::new(StatusCode::NOT_FOUND, "ResourceNotFound", m),
        ServiceError::Conflict(m) => AwsError::new(StatusCode::CONFLICT, "ConflictException", m),
        ServiceError::Internal(m) => AwsError::internal(m),
        ServiceError::Validation(m)
        | ServiceError::InvalidParameter(m)
        | ServiceError::Duplicate(m)
        | ServiceError::AlreadyExists(m)
        | ServiceError::InUse(m)
        | ServiceError::LimitExceeded(m) => validation(m),
    }
}

/// 200 with the output as JSON; an operation without output answers an empty body.
fn ok(out: Value, request_id: &str) -> Response {
    let body = if out.is_null() {
        Body::empty()
    } else {
        Body::from(out.to_string())
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert_request_id(h, "x-amzn-requestid", request_id);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_paths_name_the_operations() {
        let get = operation(&Method::GET, "/FeatureGroup/my-group").unwrap();
        assert_eq!(get, ("GetRecord", Some("my-group".to_string())));
        let arn = operation(
            &Method::PUT,
            "/FeatureGroup/arn%3Aaws%3Asagemaker%3Aus-east-1%3A000000000000%3Afeature-group%2Ffg",
        )
        .unwrap();
        assert_eq!(
            arn.1.as_deref(),
            Some("arn:aws:sagemaker:us-east-1:000000000000:feature-group/fg")
        );
        assert_eq!(
            operation(&Method::DELETE, "/FeatureGroup/g").unwrap().0,
            "DeleteRecord"
        );
        assert_eq!(
            operation(&Method::POST, "/BatchGetRecord").unwrap().0,
            "BatchGetRecord"
        );
        assert!(operation(&Method::POST, "/FeatureGroup/g/Other").is_none());
        assert!(operation(&Method::GET, "/FeatureGroup/%zz").is_none());
        assert!(is_feature_store_path("/FeatureGroup/g"));
        assert!(!is_feature_store_path("/featuregroup/g"));
    }
}
