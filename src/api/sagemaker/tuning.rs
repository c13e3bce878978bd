//! Hyperparameter tuning jobs on the wire: each operation decodes its typed input, calls one
//! service method, and renders the output shape (DescribeHyperParameterTuningJobResponse,
//! HyperParameterTuningJobSummary, HyperParameterTrainingJobSummary).

use serde_json::{Value, json};

use super::Answer;
use super::list::{DEFAULT_MAX_RESULTS, max_results};
use super::render::{Derived, copy_present, echo, last_modified, page_of};
use crate::aws::model::typed::decode;
use crate::aws::model::typed::sagemaker::{
    HyperParameterTuningJobSortByOptions as TuningSortBy, ListHyperParameterTuningJobsRequest,
    ListTrainingJobsForHyperParameterTuningJobRequest, SortOrder, TrainingJobSortByOptions,
};
use crate::service::tuning::state::TrainingJobSummary;
use crate::service::tuning::{ChildrenQuery, ChildrenSort, TuningJob, TuningQuery, TuningSort};
use crate::service::{Input, Request, ServiceError, Services, required_str};

const NAME: &str = "HyperParameterTuningJobName";

pub(super) async fn create(s: &Services, req: Request) -> Answer {
    let job = s
        .create_hyper_parameter_tuning_job(Input::decode(req)?)
        .await?;
    Ok(json!({ "HyperParameterTuningJobArn": job.arn }))
}

pub(super) async fn describe(s: &Services, req: Request) -> Answer {
    let job = s
        .describe_hyper_parameter_tuning_job(required_str(&req, NAME)?)
        .await?;
    Ok(render_describe(job))
}

pub(super) async fn stop(s: &Services, req: Request) -> Answer {
    s.stop_hyper_parameter_tuning_job(required_str(&req, NAME)?)
        .await?;
    Ok(json!({}))
}

pub(super) async fn list(s: &Services, req: Request) -> Answer {
    let input: ListHyperParameterTuningJobsRequest =
        decode(&req).map_err(ServiceError::Validation)?;
    let q = TuningQuery {
        name_contains: input.name_contains,
        created_after: input.creation_time_after.map(|t| t.0),
        created_before: input.creation_time_before.map(|t| t.0),
        modified_after: input.last_modified_time_after.map(|t| t.0),
        modified_before: input.last_modified_time_before.map(|t| t.0),
        status: input.status_equals,
        sort: match input.sort_by {
            Some(TuningSortBy::Status) => TuningSort::Status,
            Some(TuningSortBy::CreationTime) => TuningSort::CreationTime,
            _ => TuningSort::Name,
        },
        descending: input.sort_order == Some(SortOrder::Descending),
        max_results: max_results(input.max_results, DEFAULT_MAX_RESULTS),
        next_token: input.next_token,
    };
    let page = s.list_hyper_parameter_tuning_jobs(q).await?;
    Ok(page_of("HyperParameterTuningJobSummaries", page, summary))
}

pub(super) async fn list_training_jobs(s: &Services, req: Request) -> Answer {
    let input: ListTrainingJobsForHyperParameterTuningJobRequest =
        decode(&req).map_err(ServiceError::Validation)?;
    let name = required_str(&req, NAME)?;
    let q = ChildrenQuery {
        status: input.status_equals,
        sort: match input.sort_by {
            Some(TrainingJobSortByOptions::CreationTime) => ChildrenSort::CreationTime,
            Some(TrainingJobSortByOptions::Status) => ChildrenSort::Status,
            Some(TrainingJobSortByOptions::FinalObjectiveMetricValue) => {
                ChildrenSort::FinalObjectiveMetricValue
            }
            _ => ChildrenSort::Name,
        },
        descending: input.sort_order == Some(SortOrder::Descending),
        max_results: max_results(input.max_results, DEFAULT_MAX_RESULTS),
        next_token: input.next_token,
    };
    let page = s.list_training_jobs_for_tuning_job(name, q).await?;
    Ok(page_of(
        "TrainingJobSummaries",
        page,
        TrainingJobSummary::to_json,
    ))
}

/// The request's members, what the supervisor derived (less its own `_` members), identity,
/// status and times.
fn render_describe(j: TuningJob) -> Value {
    let modified = last_modified(&j.record);
    let mut out = echo(
        j.record,
        NAME,
        "HyperParameterTuningJobArn",
        Derived::Visible,
    );
    out.insert("LastModifiedTime".into(), modified);
    out.insert(
        "HyperParameterTuningJobStatus".into(),
        json!(j.status.as_str()),
    );
    Value::Object(out)
}

/// HyperParameterTuningJobSummary.
fn summary(j: &TuningJob) -> Value {
    let r = &j.record;
    let mut v = json!({
        NAME: r.name,
        "HyperParameterTuningJobArn": r.arn,
        "HyperParameterTuningJobStatus": j.status.as_str(),
        "CreationTime": r.created,
        "LastModifiedTime": last_modified(r),
    });
    let config = r.request.get("HyperParameterTuningJobConfig");
    if let Some(c) = config {
        for (from, to) in [
            ("Strategy", "Strategy"),
            ("ResourceLimits", "ResourceLimits"),
        ] {
            if let Some(x) = c.get(from) {
                v[to] = x.clone();
            }
        }
    }
    copy_present(
        &mut v,
        r,
        &[
            "TrainingJobStatusCounters",
            "ObjectiveStatusCounters",
            "HyperParameterTuningEndTime",
        ],
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::typed::sagemaker::HyperParameterTuningJobStatus;
    use crate::service::described::Record;

    #[test]
    fn describe_hides_sageboxs_own_members_and_shows_the_status() {
        let j = TuningJob {
            record: Record {
                name: "t".into(),
                arn: "arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/t".into(),
                created: 1.0,
                modified: 2.0,
                request: json!({"HyperParameterTuningJobName": "t",
                    "HyperParameterTuningJobConfig": {"Strategy": "Random"}}),
                derived: json!({"_Seed": 3, "_TrainingJobs": [], "TrainingJobStatusCounters": {"Completed": 1}}),
            },
            status: HyperParameterTuningJobStatus::Stopping,
        };
        let d = render_describe(j.clone());
        assert_eq!(d["HyperParameterTuningJobStatus"], "Stopping");
        assert_eq!(d["LastModifiedTime"], 2.0);
        assert!(d.get("_Seed").is_none() && d.get("_TrainingJobs").is_none());
        let s = summary(&j);
        assert_eq!(s["Strategy"], "Random");
        assert_eq!(s["TrainingJobStatusCounters"], json!({"Completed": 1}));
    }
}
