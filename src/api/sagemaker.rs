//! SageMaker control plane (awsJson 1.1, `X-Amz-Target: SageMaker.<Operation>`). Each operation
//! decodes its members, calls `Services`, and renders the output shape named in the model.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::json::{self, timestamp};
use crate::aws::AwsError;
use crate::aws::model::sagemaker::MODEL;
use crate::service::resources::{ListParams, Page};
use crate::service::{Request, ServiceError, Services, required_str, str_member};
use crate::store::resources::{ListQuery, Resource, SortKey};

pub async fn handle(services: &Services, op: &str, body: &[u8], request_id: &str) -> Response {
    json::serve(&MODEL, op, body, request_id, map_error, |req| {
        dispatch(services, op, req)
    })
    .await
}

/// SageMaker's error codes for each service error.
fn map_error(e: ServiceError) -> AwsError {
    match e {
        ServiceError::Validation(m) | ServiceError::InvalidParameter(m) => {
            AwsError::bad_request("ValidationException", m)
        }
        ServiceError::NotFound(m) => AwsError::bad_request("ResourceNotFound", m),
        ServiceError::AlreadyExists(m) | ServiceError::InUse(m) => {
            AwsError::bad_request("ResourceInUse", m)
        }
        ServiceError::LimitExceeded(m) => AwsError::bad_request("ResourceLimitExceeded", m),
        ServiceError::Internal(m) => {
            AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", m)
        }
    }
}

async fn dispatch(s: &Services, op: &str, req: Request) -> Result<Value, ServiceError> {
    match op {
        "CreateModel" => Ok(json!({ "ModelArn": s.create_model(req).await?.arn })),
        "DescribeModel" => {
            let m = s.describe_model(required_str(&req, "ModelName")?).await?;
            Ok(describe(&m, "ModelName", "ModelArn"))
        }
        "DeleteModel" => {
            s.delete_model(required_str(&req, "ModelName")?).await?;
            Ok(json!({}))
        }
        "ListModels" => {
            let page = s.list_models(list_params(&req)).await?;
            Ok(summaries(page, "Models", "ModelName", "ModelArn"))
        }
        "CreateEndpointConfig" => {
            Ok(json!({ "EndpointConfigArn": s.create_endpoint_config(req).await?.arn }))
        }
        "DescribeEndpointConfig" => {
            let c = s
                .describe_endpoint_config(required_str(&req, "EndpointConfigName")?)
                .await?;
            Ok(describe(&c, "EndpointConfigName", "EndpointConfigArn"))
        }
        "DeleteEndpointConfig" => {
            s.delete_endpoint_config(required_str(&req, "EndpointConfigName")?)
                .await?;
            Ok(json!({}))
        }
        "ListEndpointConfigs" => {
            let page = s.list_endpoint_configs(list_params(&req)).await?;
            Ok(summaries(
                page,
                "EndpointConfigs",
                "EndpointConfigName",
                "EndpointConfigArn",
            ))
        }
        "CreateTrainingJob" => {
            Ok(json!({ "TrainingJobArn": s.create_training_job(req).await?.arn }))
        }
        "DescribeTrainingJob" => {
            let j = s
                .describe_training_job(required_str(&req, "TrainingJobName")?)
                .await?;
            let mut out = describe(&j, "TrainingJobName", "TrainingJobArn");
            out["TrainingJobStatus"] = json!(j.status.as_deref().unwrap_or("InProgress"));
            Ok(out)
        }
        "ListTrainingJobs" => {
            let page = s.list_training_jobs(list_params(&req)).await?;
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|j| {
                    let mut v = json!({
                        "TrainingJobName": j.name,
                        "TrainingJobArn": j.arn,
                        "CreationTime": j.created,
                        "TrainingJobStatus": j.status.as_deref().unwrap_or("InProgress"),
                        "LastModifiedTime": j.derived.get("LastModifiedTime").cloned().unwrap_or(json!(j.modified)),
                    });
                    for m in ["TrainingEndTime", "SecondaryStatus"] {
                        if let Some(x) = j.derived.get(m) {
                            v[m] = x.clone();
                        }
                    }
                    v
                })
                .collect();
            let mut out = json!({ "TrainingJobSummaries": items });
            if let Some(t) = page.next_token {
                out["NextToken"] = json!(t);
            }
            Ok(out)
        }
        "StopTrainingJob" => {
            s.stop_training_job(required_str(&req, "TrainingJobName")?)
                .await?;
            Ok(json!({}))
        }
        "CreateEndpoint" => Ok(json!({ "EndpointArn": s.create_endpoint(req).await?.arn })),
        "DescribeEndpoint" => {
            s.describe_endpoint(required_str(&req, "EndpointName")?)
                .await
        }
        "ListEndpoints" => {
            let (items, token) = s.list_endpoints(list_params(&req)).await?;
            let mut out = json!({ "Endpoints": items });
            if let Some(t) = token {
                out["NextToken"] = json!(t);
            }
            Ok(out)
        }
        "UpdateEndpoint" => Ok(json!({ "EndpointArn": s.update_endpoint(req).await? })),
        "UpdateEndpointWeightsAndCapacities" => Ok(json!({
            "EndpointArn": s.update_endpoint_weights_and_capacities(req).await?
        })),
        "DeleteEndpoint" => {
            s.delete_endpoint(required_str(&req, "EndpointName")?)
                .await?;
            Ok(json!({}))
        }
        "CreateTransformJob" => {
            Ok(json!({ "TransformJobArn": s.create_transform_job(req).await?.arn }))
        }
        "DescribeTransformJob" => {
            s.describe_transform_job(required_str(&req, "TransformJobName")?)
                .await
        }
        "ListTransformJobs" => {
            let (items, token) = s.list_transform_jobs(list_params(&req)).await?;
            let mut out = json!({ "TransformJobSummaries": items });
            if let Some(t) = token {
                out["NextToken"] = json!(t);
            }
            Ok(out)
        }
        "StopTransformJob" => {
            s.stop_transform_job(required_str(&req, "TransformJobName")?)
                .await?;
            Ok(json!({}))
        }
        "CreateNotebookInstance" => Ok(json!({
            "NotebookInstanceArn": s.create_notebook_instance(req).await?.arn
        })),
        "DescribeNotebookInstance" => {
            s.describe_notebook_instance(required_str(&req, "NotebookInstanceName")?)
                .await
        }
        "ListNotebookInstances" => {
            let (items, token) = s.list_notebook_instances(list_params(&req), &req).await?;
            Ok(page_of("NotebookInstances", items, token))
        }
        "StartNotebookInstance" => {
            s.start_notebook_instance(required_str(&req, "NotebookInstanceName")?)
                .await?;
            Ok(json!({}))
        }
        "StopNotebookInstance" => {
            s.stop_notebook_instance(required_str(&req, "NotebookInstanceName")?)
                .await?;
            Ok(json!({}))
        }
        "DeleteNotebookInstance" => {
            s.delete_notebook_instance(required_str(&req, "NotebookInstanceName")?)
                .await?;
            Ok(json!({}))
        }
        "UpdateNotebookInstance" => {
            s.update_notebook_instance(req).await?;
            Ok(json!({}))
        }
        "CreatePresignedNotebookInstanceUrl" => {
            let session = req
                .get("SessionExpirationDurationInSeconds")
                .and_then(Value::as_u64);
            let url = s
                .create_presigned_notebook_url(required_str(&req, "NotebookInstanceName")?, session)
                .await?;
            Ok(json!({ "AuthorizedUrl": url }))
        }
        "CreateNotebookInstanceLifecycleConfig" => Ok(json!({
            "NotebookInstanceLifecycleConfigArn": s.create_notebook_lifecycle_config(req).await?.arn
        })),
        "DescribeNotebookInstanceLifecycleConfig" => {
            s.describe_notebook_lifecycle_config(required_str(
                &req,
                "NotebookInstanceLifecycleConfigName",
            )?)
            .await
        }
        "ListNotebookInstanceLifecycleConfigs" => {
            let (items, token) = s.list_notebook_lifecycle_configs(list_params(&req)).await?;
            Ok(page_of("NotebookInstanceLifecycleConfigs", items, token))
        }
        "UpdateNotebookInstanceLifecycleConfig" => {
            s.update_notebook_lifecycle_config(req).await?;
            Ok(json!({}))
        }
        "DeleteNotebookInstanceLifecycleConfig" => {
            s.delete_notebook_lifecycle_config(required_str(
                &req,
                "NotebookInstanceLifecycleConfigName",
            )?)
            .await?;
            Ok(json!({}))
        }
        "AddTags" => {
            let arn = required_str(&req, "ResourceArn")?;
            let added = s
                .add_tags(arn, crate::service::resources::tags_member(&req))
                .await?;
            Ok(json!({ "Tags": tag_list(added) }))
        }
        "ListTags" => {
            let max = max_results(&req, 50);
            let page = s
                .list_tags(
                    required_str(&req, "ResourceArn")?,
                    max,
                    str_member(&req, "NextToken"),
                )
                .await?;
            let mut out = json!({ "Tags": tag_list(page.items) });
            if let Some(t) = page.next_token {
                out["NextToken"] = json!(t);
            }
            Ok(out)
        }
        "DeleteTags" => {
            let keys = req
                .get("TagKeys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            s.delete_tags(required_str(&req, "ResourceArn")?, keys)
                .await?;
            Ok(json!({}))
        }
        other => Err(ServiceError::Internal(format!(
            "operation {other} is listed in the model tables but not dispatched"
        ))),
    }
}

/// Describe output: the stored request, the derived members over it, then identity and time.
fn describe(res: &Resource, name_member: &str, arn_member: &str) -> Value {
    let mut out: Map<String, Value> = res.request.as_object().cloned().unwrap_or_default();
    if let Some(d) = res.derived.as_object() {
        out.extend(d.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out.insert(name_member.into(), json!(res.name));
    out.insert(arn_member.into(), json!(res.arn));
    out.insert("CreationTime".into(), json!(res.created));
    Value::Object(out)
}

fn summaries(
    page: Page<Resource>,
    list_member: &str,
    name_member: &str,
    arn_member: &str,
) -> Value {
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|r| json!({ name_member: r.name, arn_member: r.arn, "CreationTime": r.created }))
        .collect();
    let mut out = json!({ list_member: items });
    if let Some(t) = page.next_token {
        out["NextToken"] = json!(t);
    }
    out
}

/// A List* answer: the items under `member`, and NextToken when there are more.
fn page_of(member: &str, items: Vec<Value>, token: Option<String>) -> Value {
    let mut out = json!({ member: items });
    if let Some(t) = token {
        out["NextToken"] = json!(t);
    }
    out
}

fn tag_list(tags: Vec<(String, String)>) -> Value {
    Value::Array(
        tags.into_iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

/// SageMaker list operations return 10 items per page unless asked otherwise.
const DEFAULT_MAX_RESULTS: usize = 10;

fn max_results(req: &Request, default: usize) -> usize {
    req.get("MaxResults")
        .and_then(Value::as_u64)
        .map_or(default, |n| n as usize)
}

/// The filters and order shared by SageMaker's List* operations. Defaults as documented:
/// newest first (SortBy CreationTime, SortOrder Descending).
fn list_params(req: &Request) -> ListParams {
    ListParams {
        query: ListQuery {
            name_contains: str_member(req, "NameContains").map(str::to_string),
            created_after: timestamp(req, "CreationTimeAfter"),
            created_before: timestamp(req, "CreationTimeBefore"),
            status_equals: str_member(req, "StatusEquals").map(str::to_string),
            sort: match str_member(req, "SortBy") {
                Some("Name") => SortKey::Name,
                _ => SortKey::CreationTime,
            },
            descending: str_member(req, "SortOrder") != Some("Ascending"),
            after: None,
            limit: max_results(req, DEFAULT_MAX_RESULTS),
        },
        next_token: str_member(req, "NextToken").map(str::to_string),
    }
}
