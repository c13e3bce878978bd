//! Pipelines and their executions on the wire. SKELETON: being written.

use super::Answer;
use crate::service::{Request, ServiceError, Services};

pub(super) async fn create_pipeline(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "CreatePipeline is being written".into(),
    ))
}

pub(super) async fn describe_pipeline(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "DescribePipeline is being written".into(),
    ))
}

pub(super) async fn update_pipeline(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "UpdatePipeline is being written".into(),
    ))
}

pub(super) async fn delete_pipeline(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "DeletePipeline is being written".into(),
    ))
}

pub(super) async fn list_pipelines(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "ListPipelines is being written".into(),
    ))
}

pub(super) async fn list_pipeline_versions(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "ListPipelineVersions is being written".into(),
    ))
}

pub(super) async fn start_pipeline_execution(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "StartPipelineExecution is being written".into(),
    ))
}

pub(super) async fn describe_pipeline_execution(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "DescribePipelineExecution is being written".into(),
    ))
}

pub(super) async fn list_pipeline_executions(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "ListPipelineExecutions is being written".into(),
    ))
}

pub(super) async fn list_pipeline_execution_steps(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "ListPipelineExecutionSteps is being written".into(),
    ))
}

pub(super) async fn list_pipeline_parameters_for_execution(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "ListPipelineParametersForExecution is being written".into(),
    ))
}

pub(super) async fn describe_pipeline_definition_for_execution(
    s: &Services,
    req: Request,
) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "DescribePipelineDefinitionForExecution is being written".into(),
    ))
}

pub(super) async fn stop_pipeline_execution(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "StopPipelineExecution is being written".into(),
    ))
}

pub(super) async fn retry_pipeline_execution(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "RetryPipelineExecution is being written".into(),
    ))
}

pub(super) async fn update_pipeline_execution(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "UpdatePipelineExecution is being written".into(),
    ))
}

pub(super) async fn send_pipeline_execution_step_success(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "SendPipelineExecutionStepSuccess is being written".into(),
    ))
}

pub(super) async fn send_pipeline_execution_step_failure(s: &Services, req: Request) -> Answer {
    let _ = (s, req);
    Err(ServiceError::Internal(
        "SendPipelineExecutionStepFailure is being written".into(),
    ))
}
