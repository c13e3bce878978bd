//! Processing job operations: decode each request, call the service, and render
//! DescribeProcessingJob and ListProcessingJobs' ProcessingJobSummaries.

use serde_json::{Map, Value, json};

use super::Answer;
use super::list::{DEFAULT_MAX_RESULTS, max_results};
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
    let r = j.record;
    let mut out = match r.request {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Value::Object(d) = r.derived {
        out.extend(d.into_iter().filter(|(k, _)| !k.starts_with('_')));
    }
    out.insert(NAME.into(), json!(r.name));
    out.insert(ARN.into(), json!(r.arn));
    out.insert("CreationTime".into(), json!(r.created));
    out.entry("LastModifiedTime").or_insert(json!(r.modified));
    out.insert("ProcessingJobStatus".into(), json!(status(j.status)));
    Value::Object(out)
}

fn list_processing_jobs(page: Page<ProcessingJob>) -> Value {
    let items: Vec<Value> = page.items.iter().map(summary).collect();
    let mut out = json!({ "ProcessingJobSummaries": items });
    if let Some(t) = page.next_token {
        out["NextToken"] = json!(t);
    }
    out
}

fn summary(j: &ProcessingJob) -> Value {
    let r: &Record = &j.record;
    let mut v = json!({
        NAME: r.name,
        ARN: r.arn,
        "CreationTime": r.created,
        "LastModifiedTime": r.derived.get("LastModifiedTime").cloned().unwrap_or(json!(r.modified)),
        "ProcessingJobStatus": status(j.status),
    });
    for m in ["ProcessingEndTime", "FailureReason", "ExitMessage"] {
        if let Some(x) = r.derived.get(m) {
            v[m] = x.clone();
        }
    }
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
