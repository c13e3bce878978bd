//! ListHyperParameterTuningJobs and ListTrainingJobsForHyperParameterTuningJob: their filters
//! and sort keys (Status and FinalObjectiveMetricValue among them, which the store's generic
//! listing lacks) applied in memory, pages kept by offset tokens. Both default to Name,
//! Ascending, 10 per page, as their documentation says.

use std::cmp::Ordering;

use super::TuningJob;
use super::children::launched;
use super::plan::Plan;
use super::state::TrainingJobSummary;
use crate::aws::model::typed::sagemaker::{
    CreateHyperParameterTuningJobRequest, HyperParameterTuningJobStatus, TrainingJobStatus,
};
use crate::service::resources::Page;
use crate::service::{ServiceResult, Services, pagination};
use crate::store::resources::{ListQuery, ResourceKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TuningSort {
    #[default]
    Name,
    Status,
    CreationTime,
}

/// ListHyperParameterTuningJobs' filters and order.
#[derive(Debug, Clone, Default)]
pub struct TuningQuery {
    pub name_contains: Option<String>,
    pub created_after: Option<f64>,
    pub created_before: Option<f64>,
    pub modified_after: Option<f64>,
    pub modified_before: Option<f64>,
    pub status: Option<HyperParameterTuningJobStatus>,
    pub sort: TuningSort,
    pub descending: bool,
    pub max_results: usize,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChildrenSort {
    #[default]
    Name,
    CreationTime,
    Status,
    FinalObjectiveMetricValue,
}

/// ListTrainingJobsForHyperParameterTuningJob's filters and order.
#[derive(Debug, Clone, Default)]
pub struct ChildrenQuery {
    pub status: Option<TrainingJobStatus>,
    pub sort: ChildrenSort,
    pub descending: bool,
    pub max_results: usize,
    pub next_token: Option<String>,
}

/// One page of `items` from the offset `token` gives.
fn page<T>(items: Vec<T>, token: Option<&str>, max: usize) -> ServiceResult<Page<T>> {
    let start = token
        .map(pagination::decode_offset)
        .transpose()?
        .unwrap_or(0);
    let max = max.max(1);
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next_token = (start + max < total).then(|| pagination::encode_offset(start + max));
    Ok(Page { items, next_token })
}

fn order(o: Ordering, descending: bool) -> Ordering {
    if descending { o.reverse() } else { o }
}

impl Services {
    pub async fn list_hyper_parameter_tuning_jobs(
        &self,
        q: TuningQuery,
    ) -> ServiceResult<Page<TuningJob>> {
        let rows = self
            .store
            .list_resources(
                ResourceKind::HyperParameterTuningJob,
                ListQuery::every(None),
            )
            .await?;
        let within = |v: f64, after: Option<f64>, before: Option<f64>| {
            after.is_none_or(|a| v > a) && before.is_none_or(|b| v < b)
        };
        let mut jobs: Vec<TuningJob> = rows
            .iter()
            .map(|r| {
                TuningJob::from_row(&self.unsaved.overlay(
                    ResourceKind::HyperParameterTuningJob,
                    std::sync::Arc::new(r.clone()),
                ))
            })
            .filter(|j| {
                let r = &j.record;
                let modified = r
                    .derived
                    .get("LastModifiedTime")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(r.modified);
                q.name_contains
                    .as_deref()
                    .is_none_or(|n| r.name.to_lowercase().contains(&n.to_lowercase()))
                    && within(r.created, q.created_after, q.created_before)
                    && within(modified, q.modified_after, q.modified_before)
                    && q.status.is_none_or(|s| s == j.status)
            })
            .collect();
        jobs.sort_by(|a, b| {
            let o = match q.sort {
                TuningSort::Name => a.record.name.cmp(&b.record.name),
                TuningSort::Status => a.status.as_str().cmp(b.status.as_str()),
                TuningSort::CreationTime => a.record.created.total_cmp(&b.record.created),
            };
            order(
                o.then_with(|| a.record.name.cmp(&b.record.name)),
                q.descending,
            )
        });
        page(jobs, q.next_token.as_deref(), q.max_results)
    }

    pub async fn list_training_jobs_for_tuning_job(
        &self,
        name: &str,
        q: ChildrenQuery,
    ) -> ServiceResult<Page<TrainingJobSummary>> {
        let row = self.tuning_job_row(name).await?;
        let req: CreateHyperParameterTuningJobRequest =
            crate::service::stored(&format!("hyperparameter tuning job {name}"), &row.request)?;
        let plan = Plan::read(&req)?;
        let children = self
            .tuning_children(&row.name, &plan, &launched(&row.derived))
            .await;
        let mut jobs: Vec<TrainingJobSummary> = children
            .into_iter()
            .map(|c| c.summary)
            .filter(|s| q.status.is_none_or(|st| st == s.status))
            .filter(|s| q.sort != ChildrenSort::FinalObjectiveMetricValue || s.value().is_some())
            .collect();
        jobs.sort_by(|a, b| {
            let o = match q.sort {
                ChildrenSort::Name => a.name.cmp(&b.name),
                ChildrenSort::CreationTime => a.created.total_cmp(&b.created),
                ChildrenSort::Status => a.status.as_str().cmp(b.status.as_str()),
                ChildrenSort::FinalObjectiveMetricValue => a
                    .value()
                    .unwrap_or(f64::NAN)
                    .total_cmp(&b.value().unwrap_or(f64::NAN)),
            };
            order(o.then_with(|| a.name.cmp(&b.name)), q.descending)
        });
        page(jobs, q.next_token.as_deref(), q.max_results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_their_offsets_to_the_end() {
        let first = page((0..25).collect(), None, 10).expect("page");
        assert_eq!(first.items, (0..10).collect::<Vec<_>>());
        let second = page((0..25).collect(), first.next_token.as_deref(), 10).expect("page");
        assert_eq!(second.items, (10..20).collect::<Vec<_>>());
        let last = page((0..25).collect(), second.next_token.as_deref(), 10).expect("page");
        assert_eq!(last.items, (20..25).collect::<Vec<_>>());
        assert!(last.next_token.is_none());
        assert!(page((0..3).collect::<Vec<i32>>(), Some("junk"), 10).is_err());
    }
}
