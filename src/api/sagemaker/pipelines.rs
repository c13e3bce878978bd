//! Pipelines and their executions on the wire: each operation decodes its typed input, calls
//! one `Services` method and renders the output shape (DescribePipeline, PipelineSummary,
//! PipelineVersionSummary, DescribePipelineExecution, PipelineExecutionSummary,
//! PipelineExecutionStep, Parameter).

use serde_json::{Map, Value, json};

use super::Answer;
use super::list::{DEFAULT_MAX_RESULTS, max_results};
use super::render::{last_modified, page_of};
use crate::aws::model::typed::decode;
use crate::aws::model::typed::sagemaker::{
    DescribePipelineRequest, ListPipelineExecutionStepsRequest, ListPipelineExecutionsRequest,
    ListPipelineParametersForExecutionRequest, ListPipelineVersionsRequest, ListPipelinesRequest,
    RetryPipelineExecutionRequest, SendPipelineExecutionStepFailureRequest,
    SendPipelineExecutionStepSuccessRequest, SortOrder, SortPipelineExecutionsBy, SortPipelinesBy,
};
use crate::service::described::Record;
use crate::service::pipelines::resources::versions::PipelineVersion;
use crate::service::pipelines::resources::{
    ExecutionListParams, Pipeline, PipelineExecution, PipelineListParams, VersionListParams,
};
use crate::service::pipelines::state::StepRun;
use crate::service::{Input, Request, ServiceError, Services, required, required_str};

const EXECUTION_ARN: &str = "PipelineExecutionArn";
/// Steps and parameters come in larger pages: the SDK reads only the first.
const LONG_PAGE: usize = 50;

fn typed<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ServiceError> {
    decode(req).map_err(ServiceError::Validation)
}

pub(super) async fn create_pipeline(s: &Services, req: Request) -> Answer {
    let arn = s.create_pipeline(Input::decode(req)?).await?;
    Ok(json!({ "PipelineArn": arn }))
}

pub(super) async fn describe_pipeline(s: &Services, req: Request) -> Answer {
    let input: DescribePipelineRequest = typed(&req)?;
    if input.pipeline_version_alias.is_some() {
        return Err(ServiceError::Validation(
            "PipelineVersionAlias is not supported by sagebox; give PipelineVersionId.".into(),
        ));
    }
    let name = required(input.pipeline_name, "PipelineName")?;
    let (p, v) = s
        .describe_pipeline(&name, input.pipeline_version_id)
        .await?;
    Ok(render_pipeline(&p, &v))
}

pub(super) async fn update_pipeline(s: &Services, req: Request) -> Answer {
    let (arn, version) = s.update_pipeline(Input::decode(req)?).await?;
    Ok(json!({ "PipelineArn": arn, "PipelineVersionId": version }))
}

pub(super) async fn delete_pipeline(s: &Services, req: Request) -> Answer {
    let arn = s
        .delete_pipeline(required_str(&req, "PipelineName")?)
        .await?;
    Ok(json!({ "PipelineArn": arn }))
}

pub(super) async fn list_pipelines(s: &Services, req: Request) -> Answer {
    let l: ListPipelinesRequest = typed(&req)?;
    let params = PipelineListParams {
        name_prefix: l.pipeline_name_prefix,
        created_after: l.created_after.map(|t| t.0),
        created_before: l.created_before.map(|t| t.0),
        by_name: l.sort_by == Some(SortPipelinesBy::Name),
        descending: l.sort_order != Some(SortOrder::Ascending),
        max_results: max_results(l.max_results, DEFAULT_MAX_RESULTS),
        next_token: l.next_token,
    };
    let page = s.list_pipelines(params).await?;
    Ok(page_of("PipelineSummaries", page, pipeline_summary))
}

pub(super) async fn list_pipeline_versions(s: &Services, req: Request) -> Answer {
    let l: ListPipelineVersionsRequest = typed(&req)?;
    let name = required(l.pipeline_name, "PipelineName")?;
    let params = VersionListParams {
        created_after: l.created_after.map(|t| t.0),
        created_before: l.created_before.map(|t| t.0),
        descending: l.sort_order != Some(SortOrder::Ascending),
        max_results: max_results(l.max_results, DEFAULT_MAX_RESULTS),
        next_token: l.next_token,
    };
    let (arn, page) = s.list_pipeline_versions(&name, params).await?;
    Ok(page_of("PipelineVersionSummaries", page, |v| {
        version_summary(&arn, v)
    }))
}

pub(super) async fn start_pipeline_execution(s: &Services, req: Request) -> Answer {
    let arn = s.start_pipeline_execution(Input::decode(req)?).await?;
    Ok(json!({ EXECUTION_ARN: arn }))
}

pub(super) async fn describe_pipeline_execution(s: &Services, req: Request) -> Answer {
    let e = s
        .describe_pipeline_execution(required_str(&req, EXECUTION_ARN)?)
        .await?;
    Ok(render_execution(&e))
}

pub(super) async fn list_pipeline_executions(s: &Services, req: Request) -> Answer {
    let l: ListPipelineExecutionsRequest = typed(&req)?;
    let name = required(l.pipeline_name, "PipelineName")?;
    let params = ExecutionListParams {
        created_after: l.created_after.map(|t| t.0),
        created_before: l.created_before.map(|t| t.0),
        by_arn: l.sort_by == Some(SortPipelineExecutionsBy::PipelineExecutionArn),
        descending: l.sort_order != Some(SortOrder::Ascending),
        max_results: max_results(l.max_results, DEFAULT_MAX_RESULTS),
        next_token: l.next_token,
    };
    let page = s.list_pipeline_executions(&name, params).await?;
    Ok(page_of(
        "PipelineExecutionSummaries",
        page,
        execution_summary,
    ))
}

pub(super) async fn list_pipeline_execution_steps(s: &Services, req: Request) -> Answer {
    let l: ListPipelineExecutionStepsRequest = typed(&req)?;
    // the model leaves the execution optional; without one there are no steps to list
    let Some(arn) = l.pipeline_execution_arn else {
        return Ok(json!({ "PipelineExecutionSteps": [] }));
    };
    let page = s
        .list_pipeline_execution_steps(
            &arn,
            l.sort_order != Some(SortOrder::Ascending),
            max_results(l.max_results, LONG_PAGE),
            l.next_token.as_deref(),
        )
        .await?;
    Ok(page_of("PipelineExecutionSteps", page, render_step))
}

pub(super) async fn list_pipeline_parameters_for_execution(s: &Services, req: Request) -> Answer {
    let l: ListPipelineParametersForExecutionRequest = typed(&req)?;
    let arn = required(l.pipeline_execution_arn, EXECUTION_ARN)?;
    let page = s
        .list_pipeline_parameters_for_execution(
            &arn,
            max_results(l.max_results, LONG_PAGE),
            l.next_token.as_deref(),
        )
        .await?;
    Ok(page_of(
        "PipelineParameters",
        page,
        |(n, v)| json!({"Name": n, "Value": v}),
    ))
}

pub(super) async fn describe_pipeline_definition_for_execution(
    s: &Services,
    req: Request,
) -> Answer {
    let (definition, created) = s
        .describe_pipeline_definition_for_execution(required_str(&req, EXECUTION_ARN)?)
        .await?;
    Ok(json!({ "PipelineDefinition": definition, "CreationTime": created }))
}

pub(super) async fn stop_pipeline_execution(s: &Services, req: Request) -> Answer {
    let arn = required_str(&req, EXECUTION_ARN)?;
    s.stop_pipeline_execution(arn).await?;
    Ok(json!({ EXECUTION_ARN: arn }))
}

pub(super) async fn retry_pipeline_execution(s: &Services, req: Request) -> Answer {
    let r: RetryPipelineExecutionRequest = typed(&req)?;
    let arn = required(r.pipeline_execution_arn, EXECUTION_ARN)?;
    let max_parallel = r
        .parallelism_configuration
        .and_then(|c| c.max_parallel_execution_steps)
        .and_then(|n| u32::try_from(n).ok());
    s.retry_pipeline_execution(&arn, max_parallel).await?;
    Ok(json!({ EXECUTION_ARN: arn }))
}

pub(super) async fn update_pipeline_execution(s: &Services, req: Request) -> Answer {
    let arn = s.update_pipeline_execution(Input::decode(req)?).await?;
    Ok(json!({ EXECUTION_ARN: arn }))
}

pub(super) async fn send_pipeline_execution_step_success(s: &Services, req: Request) -> Answer {
    let r: SendPipelineExecutionStepSuccessRequest = typed(&req)?;
    let token = required(r.callback_token, "CallbackToken")?;
    let outputs = r
        .output_parameters
        .into_iter()
        .flatten()
        .map(|o| (o.name.unwrap_or_default(), o.value.unwrap_or_default()))
        .collect();
    let arn = s
        .send_pipeline_execution_step_success(&token, outputs)
        .await?;
    Ok(json!({ EXECUTION_ARN: arn }))
}

pub(super) async fn send_pipeline_execution_step_failure(s: &Services, req: Request) -> Answer {
    let r: SendPipelineExecutionStepFailureRequest = typed(&req)?;
    let token = required(r.callback_token, "CallbackToken")?;
    let arn = s
        .send_pipeline_execution_step_failure(&token, r.failure_reason)
        .await?;
    Ok(json!({ EXECUTION_ARN: arn }))
}

/// The request's members with derived ones (less sagebox's `_` bookkeeping) over them.
fn merged(r: &Record) -> Map<String, Value> {
    let mut out = r.request.as_object().cloned().unwrap_or_default();
    if let Value::Object(d) = &r.derived {
        out.extend(
            d.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    out
}

/// `members` of `from` copied into `to`, where present.
fn copy(to: &mut Value, from: &Map<String, Value>, members: &[&str]) {
    for m in members {
        if let Some(v) = from.get(*m).filter(|v| !v.is_null()) {
            to[*m] = v.clone();
        }
    }
}

fn render_pipeline(p: &Pipeline, v: &PipelineVersion) -> Value {
    let r = &p.record;
    let m = merged(r);
    let mut out = json!({
        "PipelineArn": r.arn,
        "PipelineName": r.name,
        "PipelineDisplayName": r.name,
        "PipelineDefinition": v.definition,
        "PipelineStatus": p.status,
        "CreationTime": r.created,
        "LastModifiedTime": last_modified(r),
    });
    copy(
        &mut out,
        &m,
        &[
            "PipelineDisplayName",
            "PipelineDescription",
            "RoleArn",
            "ParallelismConfiguration",
            "LastRunTime",
        ],
    );
    out
}

fn pipeline_summary(p: &Pipeline) -> Value {
    let r = &p.record;
    let m = merged(r);
    let mut out = json!({
        "PipelineArn": r.arn,
        "PipelineName": r.name,
        "PipelineDisplayName": r.name,
        "CreationTime": r.created,
        "LastModifiedTime": last_modified(r),
    });
    copy(
        &mut out,
        &m,
        &["PipelineDisplayName", "PipelineDescription", "RoleArn"],
    );
    if let Some(t) = p.last_run() {
        out["LastExecutionTime"] = json!(t);
    }
    out
}

fn version_summary(pipeline_arn: &str, v: &PipelineVersion) -> Value {
    let mut out = json!({
        "PipelineArn": pipeline_arn,
        "PipelineVersionId": v.id,
        "CreationTime": v.created,
    });
    if let Some(e) = &v.last_execution {
        out["LastExecutionPipelineExecutionArn"] = json!(e);
    }
    out
}

fn render_execution(e: &PipelineExecution) -> Value {
    let r = &e.record;
    let m = merged(r);
    let mut out = json!({
        EXECUTION_ARN: r.arn,
        "PipelineExecutionStatus": e.status.as_str(),
        "PipelineVersionId": e.state.version_id,
        "CreationTime": r.created,
        "LastModifiedTime": last_modified(r),
    });
    copy(
        &mut out,
        &m,
        &[
            "PipelineArn",
            "PipelineExecutionDisplayName",
            "PipelineExecutionDescription",
            "PipelineExperimentConfig",
            "FailureReason",
            "ParallelismConfiguration",
            "SelectiveExecutionConfig",
            "RoleArn",
        ],
    );
    out
}

fn execution_summary(e: &PipelineExecution) -> Value {
    let r = &e.record;
    let m = merged(r);
    let mut out = json!({
        EXECUTION_ARN: r.arn,
        "StartTime": r.created,
        "PipelineExecutionStatus": e.status.as_str(),
    });
    copy(
        &mut out,
        &m,
        &[
            "PipelineExecutionDescription",
            "PipelineExecutionDisplayName",
        ],
    );
    if let Some(f) = &e.state.failure_reason {
        out["PipelineExecutionFailureReason"] = json!(f);
    }
    out
}

fn render_step(s: &StepRun) -> Value {
    let mut out = json!({
        "StepName": s.name,
        "StepStatus": s.status.as_str(),
        "AttemptCount": s.attempt_count,
        "Metadata": s.metadata,
    });
    let optional = [
        ("StepDisplayName", s.display_name.as_ref().map(|v| json!(v))),
        ("StepDescription", s.description.as_ref().map(|v| json!(v))),
        ("StartTime", s.start.map(|v| json!(v))),
        ("EndTime", s.end.map(|v| json!(v))),
        ("FailureReason", s.failure_reason.as_ref().map(|v| json!(v))),
        (
            "CacheHitResult",
            s.cache_source
                .as_ref()
                .map(|a| json!({"SourcePipelineExecutionArn": a})),
        ),
        (
            "SelectiveExecutionResult",
            s.selective_source
                .as_ref()
                .map(|a| json!({"SourcePipelineExecutionArn": a})),
        ),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            out[k] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::typed::sagemaker::StepStatus;
    use crate::service::pipelines::resources::versions::VERSIONS;

    fn record(request: Value, derived: Value) -> Record {
        Record {
            name: "MyPipe".into(),
            arn: "arn:aws:sagemaker:us-east-1:000000000000:pipeline/mypipe".into(),
            created: 1.0,
            modified: 2.0,
            request,
            derived,
        }
    }

    #[test]
    fn describe_pipeline_shows_updates_over_the_request_and_hides_versions() {
        let v = PipelineVersion {
            id: 2,
            created: 3.0,
            definition: "{\"Version\": \"2020-12-01\"}".into(),
            last_execution: None,
        };
        let p = Pipeline {
            record: record(
                json!({"PipelineName": "MyPipe", "RoleArn": "r1", "ClientRequestToken": "t"}),
                json!({"RoleArn": "r2", VERSIONS: [], "LastRunTime": 9.0}),
            ),
            status: "Active".into(),
            versions: vec![v.clone()],
        };
        let d = render_pipeline(&p, &v);
        assert_eq!(d["RoleArn"], "r2");
        assert_eq!(d["PipelineDisplayName"], "MyPipe");
        assert_eq!(d["PipelineDefinition"], v.definition);
        assert_eq!(d["LastRunTime"], 9.0);
        assert!(d.get("ClientRequestToken").is_none() && d.get(VERSIONS).is_none());
        let s = pipeline_summary(&p);
        assert_eq!(s["LastExecutionTime"], 9.0);
        assert!(s.get("PipelineDefinition").is_none());
    }

    #[test]
    fn steps_render_only_what_they_have() {
        let s = StepRun {
            name: "Check".into(),
            kind: "Condition".into(),
            status: StepStatus::Succeeded,
            start: Some(1.0),
            cache_source: Some("arn:e".into()),
            ..Default::default()
        };
        let v = render_step(&s);
        assert_eq!(v["StepName"], "Check");
        assert_eq!(v["StepStatus"], "Succeeded");
        assert_eq!(v["CacheHitResult"]["SourcePipelineExecutionArn"], "arn:e");
        assert!(v.get("EndTime").is_none() && v.get("FailureReason").is_none());
    }
}
