//! SageMaker control plane (awsJson 1.1, `X-Amz-Target: SageMaker.<Operation>`). Each operation
//! decodes its members, calls `Services`, and renders the output shape named in the model.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::json;

mod components;
mod experiments;
mod featurestore;
mod hold;
mod list;
mod pipelines;
mod processing;
mod registry;
mod render;
mod search;
mod stored;
mod studio;
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
use crate::store::ResourceKind as Kind;
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

/// An operation's answer, boxed: each operation's future is allocated at its own size, so the
/// request's future does not carry (and copy, when a server boxes it) room for the largest.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The operation table: each name maps to its handler and nothing else, so the table reads as
/// the list of what is implemented by hand. Every other operation of the model goes to the
/// stored-resource engine (`stored`), which answers it by the catalog's rule.
fn dispatch<'a>(s: &'a Services, op: &str, req: Request) -> BoxFuture<'a, Answer> {
    match op {
        "CreateModel" => Box::pin(create_model(s, req)),
        "DescribeModel" => Box::pin(describe_model(s, req)),
        "DeleteModel" => Box::pin(delete_model(s, req)),
        "ListModels" => Box::pin(list_models(s, req)),
        "CreateEndpointConfig" => Box::pin(create_endpoint_config(s, req)),
        "DescribeEndpointConfig" => Box::pin(describe_endpoint_config(s, req)),
        "DeleteEndpointConfig" => Box::pin(delete_endpoint_config(s, req)),
        "ListEndpointConfigs" => Box::pin(list_endpoint_configs(s, req)),
        "CreateTrainingJob" => Box::pin(create_training_job(s, req)),
        "DescribeTrainingJob" => Box::pin(describe_training_job(s, req)),
        "ListTrainingJobs" => Box::pin(list_training_jobs(s, req)),
        "StopTrainingJob" => Box::pin(stop_training_job(s, req)),
        "DeleteTrainingJob" => Box::pin(delete_job(s, req, Kind::TrainingJob, "TrainingJobName")),
        "DeleteProcessingJob" => {
            Box::pin(delete_job(s, req, Kind::ProcessingJob, "ProcessingJobName"))
        }
        "DeleteHyperParameterTuningJob" => Box::pin(delete_job(
            s,
            req,
            Kind::HyperParameterTuningJob,
            "HyperParameterTuningJobName",
        )),
        "CreateEndpoint" => Box::pin(create_endpoint(s, req)),
        "DescribeEndpoint" => Box::pin(describe_endpoint(s, req)),
        "ListEndpoints" => Box::pin(list_endpoints(s, req)),
        "UpdateEndpoint" => Box::pin(update_endpoint(s, req)),
        "UpdateEndpointWeightsAndCapacities" => Box::pin(update_endpoint_weights(s, req)),
        "DeleteEndpoint" => Box::pin(delete_endpoint(s, req)),
        "CreateInferenceComponent" => Box::pin(components::create(s, req)),
        "DescribeInferenceComponent" => Box::pin(components::describe(s, req)),
        "ListInferenceComponents" => Box::pin(components::list(s, req)),
        "UpdateInferenceComponent" => Box::pin(components::update(s, req)),
        "UpdateInferenceComponentRuntimeConfig" => {
            Box::pin(components::update_runtime_config(s, req))
        }
        "DeleteInferenceComponent" => Box::pin(components::delete(s, req)),
        "CreateTransformJob" => Box::pin(create_transform_job(s, req)),
        "DescribeTransformJob" => Box::pin(describe_transform_job(s, req)),
        "ListTransformJobs" => Box::pin(list_transform_jobs(s, req)),
        "StopTransformJob" => Box::pin(stop_transform_job(s, req)),
        "CreateProcessingJob" => Box::pin(processing::create(s, req)),
        "DescribeProcessingJob" => Box::pin(processing::describe(s, req)),
        "ListProcessingJobs" => Box::pin(processing::list(s, req)),
        "StopProcessingJob" => Box::pin(processing::stop(s, req)),
        "CreateNotebookInstance" => Box::pin(create_notebook(s, req)),
        "DescribeNotebookInstance" => Box::pin(describe_notebook(s, req)),
        "ListNotebookInstances" => Box::pin(list_notebooks(s, req)),
        "StartNotebookInstance" => Box::pin(start_notebook(s, req)),
        "StopNotebookInstance" => Box::pin(stop_notebook(s, req)),
        "DeleteNotebookInstance" => Box::pin(delete_notebook(s, req)),
        "UpdateNotebookInstance" => Box::pin(update_notebook(s, req)),
        "CreatePresignedNotebookInstanceUrl" => Box::pin(presigned_notebook_url(s, req)),
        "CreateNotebookInstanceLifecycleConfig" => Box::pin(create_lifecycle_config(s, req)),
        "DescribeNotebookInstanceLifecycleConfig" => Box::pin(describe_lifecycle_config(s, req)),
        "ListNotebookInstanceLifecycleConfigs" => Box::pin(list_lifecycle_configs(s, req)),
        "UpdateNotebookInstanceLifecycleConfig" => Box::pin(update_lifecycle_config(s, req)),
        "DeleteNotebookInstanceLifecycleConfig" => Box::pin(delete_lifecycle_config(s, req)),
        "CreateHyperParameterTuningJob" => Box::pin(tuning::create(s, req)),
        "DescribeHyperParameterTuningJob" => Box::pin(tuning::describe(s, req)),
        "ListHyperParameterTuningJobs" => Box::pin(tuning::list(s, req)),
        "StopHyperParameterTuningJob" => Box::pin(tuning::stop(s, req)),
        "ListTrainingJobsForHyperParameterTuningJob" => {
            Box::pin(tuning::list_training_jobs(s, req))
        }
        "CreatePipeline" => Box::pin(pipelines::create_pipeline(s, req)),
        "DescribePipeline" => Box::pin(pipelines::describe_pipeline(s, req)),
        "UpdatePipeline" => Box::pin(pipelines::update_pipeline(s, req)),
        "DeletePipeline" => Box::pin(pipelines::delete_pipeline(s, req)),
        "ListPipelines" => Box::pin(pipelines::list_pipelines(s, req)),
        "ListPipelineVersions" => Box::pin(pipelines::list_pipeline_versions(s, req)),
        "StartPipelineExecution" => Box::pin(pipelines::start_pipeline_execution(s, req)),
        "DescribePipelineExecution" => Box::pin(pipelines::describe_pipeline_execution(s, req)),
        "ListPipelineExecutions" => Box::pin(pipelines::list_pipeline_executions(s, req)),
        "ListPipelineExecutionSteps" => Box::pin(pipelines::list_pipeline_execution_steps(s, req)),
        "ListPipelineParametersForExecution" => {
            Box::pin(pipelines::list_pipeline_parameters_for_execution(s, req))
        }
        "DescribePipelineDefinitionForExecution" => Box::pin(
            pipelines::describe_pipeline_definition_for_execution(s, req),
        ),
        "StopPipelineExecution" => Box::pin(pipelines::stop_pipeline_execution(s, req)),
        "RetryPipelineExecution" => Box::pin(pipelines::retry_pipeline_execution(s, req)),
        "UpdatePipelineExecution" => Box::pin(pipelines::update_pipeline_execution(s, req)),
        "SendPipelineExecutionStepSuccess" => {
            Box::pin(pipelines::send_pipeline_execution_step_success(s, req))
        }
        "SendPipelineExecutionStepFailure" => {
            Box::pin(pipelines::send_pipeline_execution_step_failure(s, req))
        }
        "CreateModelPackageGroup" => Box::pin(registry::create_model_package_group(s, req)),
        "DescribeModelPackageGroup" => Box::pin(registry::describe_model_package_group(s, req)),
        "ListModelPackageGroups" => Box::pin(registry::list_model_package_groups(s, req)),
        "DeleteModelPackageGroup" => Box::pin(registry::delete_model_package_group(s, req)),
        "CreateModelPackage" => Box::pin(registry::create_model_package(s, req)),
        "DescribeModelPackage" => Box::pin(registry::describe_model_package(s, req)),
        "ListModelPackages" => Box::pin(registry::list_model_packages(s, req)),
        "UpdateModelPackage" => Box::pin(registry::update_model_package(s, req)),
        "DeleteModelPackage" => Box::pin(registry::delete_model_package(s, req)),
        "BatchDescribeModelPackage" => Box::pin(registry::batch_describe_model_package(s, req)),
        "CreateFeatureGroup" => Box::pin(featurestore::create_feature_group(s, req)),
        "DeleteFeatureGroup" => Box::pin(featurestore::delete_feature_group(s, req)),
        "AssociateTrialComponent" => Box::pin(experiments::associate_trial_component(s, req)),
        "DisassociateTrialComponent" => Box::pin(experiments::disassociate_trial_component(s, req)),
        "AddAssociation" => Box::pin(experiments::add_association(s, req)),
        "DeleteAssociation" => Box::pin(experiments::delete_association(s, req)),
        "ListAssociations" => Box::pin(experiments::list_associations(s, req)),
        "ListTrialComponents" => Box::pin(experiments::list_trial_components(s, req)),
        "ListTrials" => Box::pin(experiments::list_trials(s, req)),
        "DescribeTrialComponent" => Box::pin(experiments::describe_trial_component(s, req)),
        "DeleteTrial" => Box::pin(experiments::delete_experiment_resource(
            s,
            "DeleteTrial",
            req,
        )),
        "DeleteTrialComponent" => Box::pin(experiments::delete_experiment_resource(
            s,
            "DeleteTrialComponent",
            req,
        )),
        "CreateDomain" => Box::pin(studio::create_domain(s, req)),
        "DeleteDomain" => Box::pin(studio::delete_domain(s, req)),
        "CreateApp" => Box::pin(studio::create_app(s, req)),
        "DeleteApp" => Box::pin(studio::delete_app(s, req)),
        "CreatePresignedDomainUrl" => Box::pin(studio::presigned_domain_url(s, req)),
        "Search" => Box::pin(search::search(s, req)),
        "ListAliases" => Box::pin(stored::list_aliases(s, req)),
        "AddTags" => Box::pin(add_tags(s, req)),
        "ListTags" => Box::pin(list_tags(s, req)),
        "DeleteTags" => Box::pin(delete_tags(s, req)),
        // every other operation of the model: the stored-resource engine
        other => {
            let op = other.to_string();
            Box::pin(async move { stored::answer(s, &op, req).await })
        }
    }
}

/// A job's Delete, once the job has ended.
async fn delete_job(s: &Services, req: Request, kind: Kind, member: &str) -> Answer {
    s.delete_finished_job(kind, required_str(&req, member)?)
        .await?;
    empty()
}

/// One page of `items` under `member`, by the request's MaxResults (default 10) and an offset
/// NextToken.
fn paged(req: &Request, member: &str, items: Vec<Value>) -> Answer {
    let max = req
        .get("MaxResults")
        .and_then(Value::as_u64)
        .map_or(list::DEFAULT_MAX_RESULTS, |n| n.max(1) as usize);
    let token = req.get("NextToken").and_then(Value::as_str);
    let page = crate::service::pagination::offset_page(items, token, max)?;
    let mut out = json!({ member: page.items });
    if let Some(t) = page.next_token {
        out["NextToken"] = json!(t);
    }
    Ok(out)
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
