//! Processing job operations: decode each request, call the service, and render
//! DescribeProcessingJob and ListProcessingJobs' ProcessingJobSummaries.

use serde_json::{Value, json};

use super::Answer;
use super::list::{DEFAULT_MAX_RESULTS, max_results};
use super::render::{Derived, copy_present, echo, last_modified, page_of};
use crate::aws::model::typed::decode;
use crate::aws::model::typed::sagemaker::{
    ListProcessingJobsRequest, ProcessingJobStatus, SortBy, SortOrder,
};
use crate::service::described::Record;
use crate::service::processing::{ProcessingJob, ProcessingListParams};
use crate::service::resources::{ListParams, Page};
use crate::service::{Input, Request, ServiceError, Services, required_str};
use crate::store::resources::{ListQuery, SortKey};

const NAME: &str = "ProcessingJobName";
const ARN: &str = "ProcessingJobArn";

pub(super) async fn create(s: &Services, req: Request) -> Answer {
    let job = s.create_processing_job(Input::decode(req)?).await?;
    Ok(json!({ ARN: job.arn }))
}

pub(super) async fn describe(s: &Services, req: Request) -> Answer {
    let j = s.describe_processing_job(required_str(&req, NAME)?).await?;
    Ok(describe_processing_job(j))
}

pub(super) async fn list(s: &Services, req: Request) -> Answer {
    let input: ListProcessingJobsRequest = decode(&req).map_err(ServiceError::Validation)?;
    let page = s.list_processing_jobs(list_params(&input)).await?;
    Ok(list_processing_jobs(page))
}

pub(super) async fn stop(s: &Services, req: Request) -> Answer {
    s.stop_processing_job(required_str(&req, NAME)?).await?;
    Ok(json!({}))
}

/// ListProcessingJobs' members as the service takes them; defaults as documented (newest first).
fn list_params(l: &ListProcessingJobsRequest) -> ProcessingListParams {
    ProcessingListParams {
        params: ListParams {
            query: ListQuery {
                name_contains: l.name_contains.clone(),
                created_after: l.creation_time_after.map(|t| t.0),
                created_before: l.creation_time_before.map(|t| t.0),
                status_equals: l.status_equals.map(|s| s.as_str().to_string()),
                sort: if l.sort_by == Some(SortBy::Name) {
                    SortKey::Name
                } else {
                    SortKey::CreationTime
                },
                descending: l.sort_order != Some(SortOrder::Ascending),
                after: None,
                limit: max_results(l.max_results, DEFAULT_MAX_RESULTS),
            },
            next_token: l.next_token.clone(),
        },
        by_status: l.sort_by == Some(SortBy::Status),
        modified_after: l.last_modified_time_after.map(|t| t.0),
        modified_before: l.last_modified_time_before.map(|t| t.0),
    }
}

/// The request as sent, what sagebox derived (less its `_` bookkeeping), identity and status.
fn describe_processing_job(j: ProcessingJob) -> Value {
    let status = status(j.status);
    let modified = last_modified(&j.record);
    let mut out = echo(j.record, NAME, ARN, Derived::Visible);
    out.insert("LastModifiedTime".into(), modified);
    out.insert("ProcessingJobStatus".into(), json!(status));
    Value::Object(out)
}

fn list_processing_jobs(page: Page<ProcessingJob>) -> Value {
    page_of("ProcessingJobSummaries", page, summary)
}

fn summary(j: &ProcessingJob) -> Value {
    let r: &Record = &j.record;
    let mut v = json!({
        NAME: r.name,
        ARN: r.arn,
        "CreationTime": r.created,
        "LastModifiedTime": last_modified(r),
        "ProcessingJobStatus": status(j.status),
    });
    copy_present(
        &mut v,
        r,
        &["ProcessingEndTime", "FailureReason", "ExitMessage"],
    );
    v
}

/// A job reads InProgress until its first state save.
fn status(s: Option<ProcessingJobStatus>) -> &'static str {
    s.unwrap_or(ProcessingJobStatus::InProgress).as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_members_become_filters_with_status_sort_and_modified_bounds() {
        let req: ListProcessingJobsRequest = serde_json::from_value(json!({
            "SortBy": "Status", "SortOrder": "Ascending", "MaxResults": 3,
            "LastModifiedTimeAfter": 5, "StatusEquals": "Completed", "NameContains": "x",
        }))
        .expect("decodes");
        let p = list_params(&req);
        assert!(p.by_status);
        assert!(!p.params.query.descending);
        assert_eq!(p.params.query.limit, 3);
        assert_eq!(p.modified_after, Some(5.0));
        assert_eq!(p.params.query.status_equals.as_deref(), Some("Completed"));
        let d = list_params(&ListProcessingJobsRequest::default());
        assert!(d.params.query.descending && !d.by_status);
        assert_eq!(d.params.query.sort, SortKey::CreationTime);
    }

    #[test]
    fn describe_echoes_the_request_and_hides_bookkeeping() {
        let d = describe_processing_job(ProcessingJob {
            record: Record {
                name: "p".into(),
                arn: "arn:aws:sagemaker:us-east-1:000000000000:processing-job/p".into(),
                created: 1.0,
                modified: 2.0,
                request: json!({"AppSpecification": {"ImageUri": "i"}}),
                derived: json!({"_x": 1, "ExitMessage": "bye"}),
            },
            status: None,
        });
        assert_eq!(d["ProcessingJobStatus"], "InProgress");
        assert_eq!(d["AppSpecification"]["ImageUri"], "i");
        assert_eq!(d["ExitMessage"], "bye");
        assert_eq!(d["LastModifiedTime"], 2.0);
        assert!(d.get("_x").is_none());
    }
}
