//! SageMaker control plane (awsJson 1.1, `X-Amz-Target: SageMaker.<Operation>`). Each operation
//! decodes its members, calls `Services`, and renders the output shape named in the model.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::json;

mod hold;
mod list;
mod pipelines;
mod processing;
mod registry;
mod render;
mod tuning;
use crate::aws::AwsError;
use crate::aws::model::sagemaker::MODEL;
use crate::aws::model::typed::decode;
use crate::aws::model::typed::sagemaker::{
    AddTagsInput, DeleteTagsInput, ListEndpointConfigsInput, ListEndpointsInput, ListModelsInput,
    ListNotebookInstanceLifecycleConfigsInput, ListTagsInput, ListTrainingJobsRequest,
    ListTransformJobsRequest,
};
use crate::service::{Input, Request, ServiceError, Services, required, required_str};
use list::{ListInput, list_params};

pub use hold::Caller;

pub async fn handle(
    services: &Services,
    op: &str,
    body: &[u8],
    request_id: &str,
    caller: Caller,
) -> Response {
    json::serve(&MODEL, op, body, request_id, map_error, |req| async move {
        match hold::rule(op, caller) {
            // a client's Describe of a resource in transition answers when the transition ends
            Some(rule) => {
                let hold = std::time::Duration::from_secs(services.config().describe_hold);
                rule.held(hold, req, |r| dispatch(services, op, r)).await
            }
            None => dispatch(services, op, req).await,
        }
    })
    .await
}

/// A SageMaker call from inside sagebox: what the pipeline executor's steps make.
pub fn call(
    services: Services,
    op: &'static str,
    body: Value,
) -> crate::service::pipelines::api::ApiFuture {
    Box::pin(async move {
        json::call(&MODEL, op, &body, map_error, |req| {
            dispatch(&services, op, req)
        })
        .await
        .map_err(|e| crate::service::pipelines::api::ApiError {
            code: e.code.to_string(),
            message: e.message,
        })
    })
}

/// SageMaker's error codes for each service error.
fn map_error(e: ServiceError) -> AwsError {
    match e {
        ServiceError::Validation(m)
        | ServiceError::InvalidParameter(m)
        | ServiceError::Duplicate(m) => AwsError::bad_request("ValidationException", m),
        ServiceError::NotFound(m) => AwsError::bad_request("ResourceNotFound", m),
        ServiceError::AlreadyExists(m) | ServiceError::InUse(m) => {
            AwsError::bad_request("ResourceInUse", m)
        }
        ServiceError::LimitExceeded(m) => AwsError::bad_request("ResourceLimitExceeded", m),
        ServiceError::Conflict(m) => AwsError::bad_request("ConflictException", m),
        ServiceError::Internal(m) => {
            AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", m)
        }
    }
}

type Answer = Result<Value, ServiceError>;

/// The operation table: each name maps to its handler and nothing else, so the table reads as
/// the list of what is implemented. An operation the model tables know but this table lacks is
/// an emulator bug, answered as InternalFailure.
async fn dispatch(s: &Services, op: &str, req: Request) -> Answer {
    match op {
        "CreateModel" => create_model(s, req).await,
        "DescribeModel" => describe_model(s, req).await,
        "DeleteModel" => delete_model(s, req).await,
        "ListModels" => list_models(s, req).await,
        "CreateEndpointConfig" => create_endpoint_config(s, req).await,
        "DescribeEndpointConfig" => describe_endpoint_config(s, req).await,
        "DeleteEndpointConfig" => delete_endpoint_config(s, req).await,
        "ListEndpointConfigs" => list_endpoint_configs(s, req).await,
        "CreateTrainingJob" => create_training_job(s, req).await,
        "DescribeTrainingJob" => describe_training_job(s, req).await,
        "ListTrainingJobs" => list_training_jobs(s, req).await,
        "StopTrainingJob" => stop_training_job(s, req).await,
        "CreateEndpoint" => create_endpoint(s, req).await,
        "DescribeEndpoint" => describe_endpoint(s, req).await,
        "ListEndpoints" => list_endpoints(s, req).await,
        "UpdateEndpoint" => update_endpoint(s, req).await,
        "UpdateEndpointWeightsAndCapacities" => update_endpoint_weights(s, req).await,
        "DeleteEndpoint" => delete_endpoint(s, req).await,
        "CreateTransformJob" => create_transform_job(s, req).await,
        "DescribeTransformJob" => describe_transform_job(s, req).await,
        "ListTransformJobs" => list_transform_jobs(s, req).await,
        "StopTransformJob" => stop_transform_job(s, req).await,
        "CreateProcessingJob" => processing::create(s, req).await,
        "DescribeProcessingJob" => processing::describe(s, req).await,
        "ListProcessingJobs" => processing::list(s, req).await,
        "StopProcessingJob" => processing::stop(s, req).await,
        "CreateNotebookInstance" => create_notebook(s, req).await,
        "DescribeNotebookInstance" => describe_notebook(s, req).await,
        "ListNotebookInstances" => list_notebooks(s, req).await,
        "StartNotebookInstance" => start_notebook(s, req).await,
        "StopNotebookInstance" => stop_notebook(s, req).await,
        "DeleteNotebookInstance" => delete_notebook(s, req).await,
        "UpdateNotebookInstance" => update_notebook(s, req).await,
        "CreatePresignedNotebookInstanceUrl" => presigned_notebook_url(s, req).await,
        "CreateNotebookInstanceLifecycleConfig" => create_lifecycle_config(s, req).await,
        "DescribeNotebookInstanceLifecycleConfig" => describe_lifecycle_config(s, req).await,
        "ListNotebookInstanceLifecycleConfigs" => list_lifecycle_configs(s, req).await,
        "UpdateNotebookInstanceLifecycleConfig" => update_lifecycle_config(s, req).await,
        "DeleteNotebookInstanceLifecycleConfig" => delete_lifecycle_config(s, req).await,
        "CreateHyperParameterTuningJob" => tuning::create(s, req).await,
        "DescribeHyperParameterTuningJob" => tuning::describe(s, req).await,
        "ListHyperParameterTuningJobs" => tuning::list(s, req).await,
        "StopHyperParameterTuningJob" => tuning::stop(s, req).await,
        "ListTrainingJobsForHyperParameterTuningJob" => tuning::list_training_jobs(s, req).await,
        "CreatePipeline" => pipelines::create_pipeline(s, req).await,
        "DescribePipeline" => pipelines::describe_pipeline(s, req).await,
        "UpdatePipeline" => pipelines::update_pipeline(s, req).await,
        "DeletePipeline" => pipelines::delete_pipeline(s, req).await,
        "ListPipelines" => pipelines::list_pipelines(s, req).await,
        "ListPipelineVersions" => pipelines::list_pipeline_versions(s, req).await,
        "StartPipelineExecution" => pipelines::start_pipeline_execution(s, req).await,
        "DescribePipelineExecution" => pipelines::describe_pipeline_execution(s, req).await,
        "ListPipelineExecutions" => pipelines::list_pipeline_executions(s, req).await,
        "ListPipelineExecutionSteps" => pipelines::list_pipeline_execution_steps(s, req).await,
        "ListPipelineParametersForExecution" => {
            pipelines::list_pipeline_parameters_for_execution(s, req).await
        }
        "DescribePipelineDefinitionForExecution" => {
            pipelines::describe_pipeline_definition_for_execution(s, req).await
        }
        "StopPipelineExecution" => pipelines::stop_pipeline_execution(s, req).await,
        "RetryPipelineExecution" => pipelines::retry_pipeline_execution(s, req).await,
        "UpdatePipelineExecution" => pipelines::update_pipeline_execution(s, req).await,
        "SendPipelineExecutionStepSuccess" => {
            pipelines::send_pipeline_execution_step_success(s, req).await
        }
        "SendPipelineExecutionStepFailure" => {
            pipelines::send_pipeline_execution_step_failure(s, req).await
        }
        "CreateModelPackageGroup" => registry::create_model_package_group(s, req).await,
        "DescribeModelPackageGroup" => registry::describe_model_package_group(s, req).await,
        "ListModelPackageGroups" => registry::list_model_package_groups(s, req).await,
        "DeleteModelPackageGroup" => registry::delete_model_package_group(s, req).await,
        "CreateModelPackage" => registry::create_model_package(s, req).await,
        "DescribeModelPackage" => registry::describe_model_package(s, req).await,
        "ListModelPackages" => registry::list_model_packages(s, req).await,
        "UpdateModelPackage" => registry::update_model_package(s, req).await,
        "DeleteModelPackage" => registry::delete_model_package(s, req).await,
        "BatchDescribeModelPackage" => registry::batch_describe_model_package(s, req).await,
        "AddTags" => add_tags(s, req).await,
        "ListTags" => list_tags(s, req).await,
        "DeleteTags" => delete_tags(s, req).await,
        other => Err(ServiceError::Internal(format!(
            "operation {other} is listed in the model tables but not dispatched"
        ))),
    }
}

/// Every Delete/Stop/Start/Update answers an empty object.
fn empty() -> Answer {
    Ok(json!({}))
}

// Models and endpoint configurations.

async fn create_model(s: &Services, req: Request) -> Answer {
    Ok(json!({ "ModelArn": s.create_model(Input::decode(req)?).await?.arn }))
}

async fn describe_model(s: &Services, req: Request) -> Answer {
    let m = s.describe_model(required_str(&req, "ModelName")?).await?;
    Ok(render::describe_model(m))
}

async fn delete_model(s: &Services, req: Request) -> Answer {
    s.delete_model(required_str(&req, "ModelName")?).await?;
    empty()
}

async fn list_models(s: &Services, req: Request) -> Answer {
    Ok(render::list_models(
        s.list_models(list_params::<ListModelsInput>(&req)?).await?,
    ))
}

async fn create_endpoint_config(s: &Services, req: Request) -> Answer {
    let config = s.create_endpoint_config(Input::decode(req)?).await?;
    Ok(json!({ "EndpointConfigArn": config.arn }))
}

async fn describe_endpoint_config(s: &Services, req: Request) -> Answer {
    let c = s
        .describe_endpoint_config(required_str(&req, "EndpointConfigName")?)
        .await?;
    Ok(render::describe_endpoint_config(c))
}

async fn delete_endpoint_config(s: &Services, req: Request) -> Answer {
    s.delete_endpoint_config(required_str(&req, "EndpointConfigName")?)
        .await?;
    empty()
}

async fn list_endpoint_configs(s: &Services, req: Request) -> Answer {
    let page = s
        .list_endpoint_configs(list_params::<ListEndpointConfigsInput>(&req)?)
        .await?;
    Ok(render::list_endpoint_configs(page))
}

// Training jobs.

async fn create_training_job(s: &Services, req: Request) -> Answer {
    let job = s.create_training_job(Input::decode(req)?).await?;
    Ok(json!({ "TrainingJobArn": job.arn }))
}

async fn describe_training_job(s: &Services, req: Request) -> Answer {
    let j = s
        .describe_training_job(required_str(&req, "TrainingJobName")?)
        .await?;
    Ok(render::describe_training_job(j))
}

async fn list_training_jobs(s: &Services, req: Request) -> Answer {
    let page = s
        .list_training_jobs(list_params::<ListTrainingJobsRequest>(&req)?)
        .await?;
    Ok(render::list_training_jobs(page))
}

async fn stop_training_job(s: &Services, req: Request) -> Answer {
    s.stop_training_job(required_str(&req, "TrainingJobName")?)
        .await?;
    empty()
}

// Endpoints.

async fn create_endpoint(s: &Services, req: Request) -> Answer {
    Ok(json!({ "EndpointArn": s.create_endpoint(Input::decode(req)?).await?.arn }))
}

async fn describe_endpoint(s: &Services, req: Request) -> Answer {
    let e = s
        .describe_endpoint(required_str(&req, "EndpointName")?)
        .await?;
    Ok(render::describe_endpoint(&e))
}

async fn list_endpoints(s: &Services, req: Request) -> Answer {
    Ok(render::list_endpoints(
        s.list_endpoints(list_params::<ListEndpointsInput>(&req)?)
            .await?,
    ))
}

async fn update_endpoint(s: &Services, req: Request) -> Answer {
    Ok(json!({ "EndpointArn": s.update_endpoint(Input::decode(req)?.members).await? }))
}

async fn update_endpoint_weights(s: &Services, req: Request) -> Answer {
    Ok(json!({
        "EndpointArn": s.update_endpoint_weights_and_capacities(Input::decode(req)?.members).await?
    }))
}

async fn delete_endpoint(s: &Services, req: Request) -> Answer {
    s.delete_endpoint(required_str(&req, "EndpointName")?)
        .await?;
    empty()
}

// Transform jobs.

async fn create_transform_job(s: &Services, req: Request) -> Answer {
    let job = s.create_transform_job(Input::decode(req)?).await?;
    Ok(json!({ "TransformJobArn": job.arn }))
}

async fn describe_transform_job(s: &Services, req: Request) -> Answer {
    let j = s
        .describe_transform_job(required_str(&req, "TransformJobName")?)
        .await?;
    Ok(render::describe_transform_job(j))
}

async fn list_transform_jobs(s: &Services, req: Request) -> Answer {
    let page = s
        .list_transform_jobs(list_params::<ListTransformJobsRequest>(&req)?)
        .await?;
    Ok(render::list_transform_jobs(page))
}

async fn stop_transform_job(s: &Services, req: Request) -> Answer {
    s.stop_transform_job(decode(&req).map_err(ServiceError::Validation)?)
        .await?;
    empty()
}

// Notebook instances and their lifecycle configurations (typed inputs imported here, beside
// their handlers).

use crate::aws::model::typed::sagemaker::{
    CreatePresignedNotebookInstanceUrlInput, ListNotebookInstancesInput,
};

async fn create_notebook(s: &Services, req: Request) -> Answer {
    let nb = s.create_notebook_instance(Input::decode(req)?).await?;
    Ok(json!({ "NotebookInstanceArn": nb.arn }))
}

async fn describe_notebook(s: &Services, req: Request) -> Answer {
    let nb = s
        .describe_notebook_instance(required_str(&req, "NotebookInstanceName")?)
        .await?;
    Ok(render::describe_notebook_instance(&nb))
}

async fn list_notebooks(s: &Services, req: Request) -> Answer {
    let filters: ListNotebookInstancesInput = Input::decode(req)?.members;
    let page = s
        .list_notebook_instances(filters.list_params(), &filters)
        .await?;
    Ok(render::list_notebook_instances(page))
}

async fn start_notebook(s: &Services, req: Request) -> Answer {
    s.start_notebook_instance(required_str(&req, "NotebookInstanceName")?)
        .await?;
    empty()
}

async fn stop_notebook(s: &Services, req: Request) -> Answer {
    s.stop_notebook_instance(required_str(&req, "NotebookInstanceName")?)
        .await?;
    empty()
}

async fn delete_notebook(s: &Services, req: Request) -> Answer {
    s.delete_notebook_instance(required_str(&req, "NotebookInstanceName")?)
        .await?;
    empty()
}

async fn update_notebook(s: &Services, req: Request) -> Answer {
    s.update_notebook_instance(Input::decode(req)?.members)
        .await?;
    empty()
}

async fn presigned_notebook_url(s: &Services, req: Request) -> Answer {
    let req: CreatePresignedNotebookInstanceUrlInput = Input::decode(req)?.members;
    let url = s.create_presigned_notebook_url(&req).await?;
    Ok(json!({ "AuthorizedUrl": url }))
}

const LIFECYCLE_NAME: &str = "NotebookInstanceLifecycleConfigName";

async fn create_lifecycle_config(s: &Services, req: Request) -> Answer {
    let c = s
        .create_notebook_lifecycle_config(Input::decode(req)?)
        .await?;
    Ok(json!({ "NotebookInstanceLifecycleConfigArn": c.arn }))
}

async fn describe_lifecycle_config(s: &Services, req: Request) -> Answer {
    let c = s
        .describe_notebook_lifecycle_config(required_str(&req, LIFECYCLE_NAME)?)
        .await?;
    Ok(render::describe_notebook_lifecycle_config(&c))
}

async fn list_lifecycle_configs(s: &Services, req: Request) -> Answer {
    let page = s
        .list_notebook_lifecycle_configs(list_params::<ListNotebookInstanceLifecycleConfigsInput>(
            &req,
        )?)
        .await?;
    Ok(render::list_notebook_lifecycle_configs(page))
}

async fn update_lifecycle_config(s: &Services, req: Request) -> Answer {
    s.update_notebook_lifecycle_config(Input::decode(req)?.members)
        .await?;
    empty()
}

async fn delete_lifecycle_config(s: &Services, req: Request) -> Answer {
    s.delete_notebook_lifecycle_config(required_str(&req, LIFECYCLE_NAME)?)
        .await?;
    empty()
}

// Tags.

async fn add_tags(s: &Services, req: Request) -> Answer {
    let input: AddTagsInput = decode(&req).map_err(ServiceError::Validation)?;
    let arn = required(input.resource_arn, "ResourceArn")?;
    let added = s
        .add_tags(&arn, crate::service::resources::tag_pairs(input.tags))
        .await?;
    Ok(json!({ "Tags": tag_list(added) }))
}

async fn list_tags(s: &Services, req: Request) -> Answer {
    let input: ListTagsInput = decode(&req).map_err(ServiceError::Validation)?;
    let arn = required(input.resource_arn, "ResourceArn")?;
    let max = list::max_results(input.max_results, 50);
    let page = s.list_tags(&arn, max, input.next_token.as_deref()).await?;
    let mut out = json!({ "Tags": tag_list(page.items) });
    if let Some(t) = page.next_token {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

async fn delete_tags(s: &Services, req: Request) -> Answer {
    let input: DeleteTagsInput = decode(&req).map_err(ServiceError::Validation)?;
    let arn = required(input.resource_arn, "ResourceArn")?;
    s.delete_tags(&arn, input.tag_keys.unwrap_or_default())
        .await?;
    empty()
}

fn tag_list(tags: Vec<(String, String)>) -> Value {
    Value::Array(
        tags.into_iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}
