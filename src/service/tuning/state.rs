//! What a tuning job reports: HyperParameterTuningJobStatus and its legal moves, and what its
//! training jobs add up to (TrainingJobStatusCounters, ObjectiveStatusCounters, the best
//! training job), computed from the training jobs' own rows.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::aws::model::typed::sagemaker::{
    HyperParameterTuningJobStatus as Status, ObjectiveStatus, TrainingJobStatus,
};
use crate::service::lifecycle::Lifecycle;

/// A tuning job runs InProgress until its training jobs are done; a stop passes through
/// Stopping. A tuning job that runs out of time (ResourceLimits.MaxRuntimeInSeconds) also stops.
pub const TUNING_JOB: Lifecycle<Status> = {
    use Status::*;
    Lifecycle {
        family: "hyper parameter tuning job",
        initial: &[InProgress],
        moves: &[
            (InProgress, Completed),
            (InProgress, Failed),
            (InProgress, Stopping),
            (Stopping, Stopped),
            (Stopping, Failed),
        ],
    }
};

/// The objective: its metric and which way is better.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub metric: String,
    pub minimize: bool,
}

impl Objective {
    pub fn type_name(&self) -> &'static str {
        if self.minimize {
            "Minimize"
        } else {
            "Maximize"
        }
    }

    /// Whether `a` is better than `b`.
    pub fn better(&self, a: f64, b: f64) -> bool {
        if self.minimize { a < b } else { a > b }
    }
}

/// One training job a tuning job launched, as ListTrainingJobsForHyperParameterTuningJob shows
/// it (HyperParameterTrainingJobSummary).
#[derive(Debug, Clone)]
pub struct TrainingJobSummary {
    pub name: String,
    pub arn: String,
    pub tuning_job_name: String,
    pub definition_name: Option<String>,
    pub created: f64,
    pub training_start: Option<f64>,
    pub training_end: Option<f64>,
    pub status: TrainingJobStatus,
    pub tuned: BTreeMap<String, String>,
    pub failure_reason: Option<String>,
    /// The objective metric's final value, with the objective it was read for.
    pub objective: Option<(Objective, f64)>,
    pub objective_status: ObjectiveStatus,
}

impl TrainingJobSummary {
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            TrainingJobStatus::InProgress | TrainingJobStatus::Stopping
        )
    }

    /// The objective's value, when the job reported it.
    pub fn value(&self) -> Option<f64> {
        self.objective.as_ref().map(|(_, v)| *v)
    }

    /// HyperParameterTrainingJobSummary.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "TuningJobName": self.tuning_job_name,
            "CreationTime": self.created,
            "TrainingJobStatus": self.status.as_str(),
            "TunedHyperParameters": self.tuned,
            "ObjectiveStatus": self.objective_status.as_str(),
        });
        if let Some(d) = &self.definition_name {
            v["TrainingJobDefinitionName"] = json!(d);
        }
        if let Some(t) = self.training_start {
            v["TrainingStartTime"] = json!(t);
        }
        if let Some(t) = self.training_end {
            v["TrainingEndTime"] = json!(t);
        }
        if let Some(r) = &self.failure_reason {
            v["FailureReason"] = json!(r);
        }
        if let Some((o, value)) = &self.objective {
            v["FinalHyperParameterTuningJobObjectiveMetric"] = json!({
                "Type": o.type_name(),
                "MetricName": o.metric,
                "Value": value,
            });
        }
        v
    }
}

/// The objective status of a training job: Pending while it runs, Succeeded once it ended with
/// the objective metric reported (an early-stopped job keeps its last value), else Failed.
pub fn objective_status(status: TrainingJobStatus, value: Option<f64>) -> ObjectiveStatus {
    match (status, value) {
        (TrainingJobStatus::InProgress | TrainingJobStatus::Stopping, _) => {
            ObjectiveStatus::Pending
        }
        (_, Some(_)) => ObjectiveStatus::Succeeded,
        (_, None) => ObjectiveStatus::Failed,
    }
}

/// TrainingJobStatusCounters and ObjectiveStatusCounters over `jobs`. A failed training job
/// counts as NonRetryableError unless it failed for an internal reason.
pub fn counters(jobs: &[TrainingJobSummary]) -> (Value, Value) {
    let (mut completed, mut in_progress, mut retryable, mut non_retryable, mut stopped) =
        (0, 0, 0, 0, 0);
    let (mut succeeded, mut pending, mut failed) = (0, 0, 0);
    for j in jobs {
        match j.status {
            TrainingJobStatus::Completed => completed += 1,
            TrainingJobStatus::InProgress | TrainingJobStatus::Stopping => in_progress += 1,
            TrainingJobStatus::Stopped => stopped += 1,
            _ => {
                let internal = j
                    .failure_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("InternalServerError"));
                if internal {
                    retryable += 1;
                } else {
                    non_retryable += 1;
                }
            }
        }
        match j.objective_status {
            ObjectiveStatus::Succeeded => succeeded += 1,
            ObjectiveStatus::Pending => pending += 1,
            _ => failed += 1,
        }
    }
    (
        json!({
            "Completed": completed,
            "InProgress": in_progress,
            "RetryableError": retryable,
            "NonRetryableError": non_retryable,
            "Stopped": stopped,
        }),
        json!({ "Succeeded": succeeded, "Pending": pending, "Failed": failed }),
    )
}

/// The training job with the best objective value among those whose objective succeeded
/// (ties: the earlier one).
pub fn best<'a>(
    jobs: impl IntoIterator<Item = &'a TrainingJobSummary>,
) -> Option<&'a TrainingJobSummary> {
    let mut best: Option<&TrainingJobSummary> = None;
    for j in jobs {
        if j.objective_status != ObjectiveStatus::Succeeded {
            continue;
        }
        let Some((o, v)) = &j.objective else { continue };
        match best.and_then(|b| b.value()) {
            Some(bv) if !o.better(*v, bv) => {}
            _ => best = Some(j),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, status: TrainingJobStatus, value: Option<f64>) -> TrainingJobSummary {
        let o = Objective {
            metric: "validation:rmse".into(),
            minimize: true,
        };
        TrainingJobSummary {
            name: name.into(),
            arn: format!("arn:{name}"),
            tuning_job_name: "t".into(),
            definition_name: None,
            created: 1.0,
            training_start: None,
            training_end: None,
            status,
            tuned: BTreeMap::new(),
            failure_reason: None,
            objective: value.map(|v| (o, v)),
            objective_status: objective_status(status, value),
        }
    }

    #[test]
    fn counters_and_best_follow_the_training_jobs() {
        use TrainingJobStatus::*;
        let jobs = vec![
            job("a", Completed, Some(3.0)),
            job("b", Completed, Some(2.0)),
            job("c", Stopped, Some(5.0)),
            job("d", Failed, None),
            job("e", InProgress, Some(1.0)),
        ];
        let (t, o) = counters(&jobs);
        assert_eq!(
            t,
            json!({"Completed": 2, "InProgress": 1, "RetryableError": 0, "NonRetryableError": 1, "Stopped": 1})
        );
        assert_eq!(o, json!({"Succeeded": 3, "Pending": 1, "Failed": 1}));
        assert_eq!(best(&jobs).map(|j| j.name.as_str()), Some("b"));
        let summary = jobs[1].to_json();
        assert_eq!(
            summary["FinalHyperParameterTuningJobObjectiveMetric"],
            json!({"Type": "Minimize", "MetricName": "validation:rmse", "Value": 2.0})
        );
        assert_eq!(summary["ObjectiveStatus"], "Succeeded");
    }

    #[test]
    fn the_status_table_ends_in_the_final_statuses() {
        use Status::*;
        for s in [Completed, Failed, Stopped] {
            assert!(TUNING_JOB.is_terminal(s), "{s}");
        }
        assert!(!TUNING_JOB.allows(Stopping, InProgress));
        assert!(!TUNING_JOB.allows(Completed, Stopping));
    }
}
