//! What a training job reports while it runs: TrainingJobStatus, SecondaryStatus with its
//! transitions, times, failure reason, artifacts and metrics. The supervisor changes it through
//! these methods, each checked against the family's two status tables, and writes it to the
//! store after every change, before acting on the next step.

use serde_json::{Map, Value, json};

use crate::aws::model::typed::sagemaker::{SecondaryStatus as Secondary, TrainingJobStatus};
use crate::aws::time::now_epoch;
use crate::service::failure::FailureReason;
use crate::service::lifecycle::{IllegalMove, Lifecycle};

/// TrainingJobStatus: InProgress until the job ends; Stopping once a stop (StopTrainingJob or
/// MaxRuntimeInSeconds) is under way. A stopping job may still complete or fail: its
/// containers can end on their own before the stop reaches them.
pub const TRAINING_JOB: Lifecycle<TrainingJobStatus> = {
    use TrainingJobStatus::*;
    Lifecycle {
        family: "training job",
        initial: &[InProgress],
        moves: &[
            (InProgress, Stopping),
            (InProgress, Completed),
            (InProgress, Failed),
            // the supervisor lost its stop signal (sagebox shutting down)
            (InProgress, Stopped),
            (Stopping, Completed),
            (Stopping, Failed),
            (Stopping, Stopped),
        ],
    }
};

/// SecondaryStatus, in SageMaker's order Starting → Downloading → Training → Uploading → the
/// outcome. A stop can come at any step: the supervisor goes on to its next step, which is where
/// it looks at the stop, so Stopping may still be followed by the launch's later steps.
pub const SECONDARY: Lifecycle<Secondary> = {
    use Secondary::*;
    Lifecycle {
        family: "training job",
        initial: &[Starting],
        moves: &[
            (Starting, Downloading),
            (Starting, Stopping),
            (Starting, Failed),
            (Downloading, Training),
            (Downloading, Stopping),
            (Downloading, Failed),
            (Training, Uploading),
            (Training, Stopping),
            (Training, MaxRuntimeExceeded),
            (Training, Failed),
            // an instance lost with its node, on a cluster: the job starts again from its
            // checkpoints (CheckpointConfig), or fails
            (Training, Interrupted),
            (Interrupted, Restarting),
            (Interrupted, Failed),
            (Interrupted, Stopping),
            (Restarting, Starting),
            (Restarting, Failed),
            (Restarting, Stopping),
            (Stopping, Starting),
            (Stopping, Downloading),
            (Stopping, Training),
            (Stopping, Uploading),
            (Stopping, MaxRuntimeExceeded),
            (Stopping, Completed),
            (Stopping, Stopped),
            (Stopping, Failed),
            (MaxRuntimeExceeded, Stopping),
            (MaxRuntimeExceeded, Uploading),
            (MaxRuntimeExceeded, Failed),
            (Uploading, Stopping),
            (Uploading, MaxRuntimeExceeded),
            (Uploading, Completed),
            (Uploading, Stopped),
            (Uploading, Failed),
        ],
    }
};

#[derive(Debug, Clone)]
pub struct JobState {
    /// The job's name, for the refusal of an illegal move.
    name: String,
    pub status: TrainingJobStatus,
    pub derived: Map<String, Value>,
}

impl JobState {
    /// The state of job `name` just created.
    pub fn new(name: &str, now: f64) -> JobState {
        let mut derived = Map::new();
        let (status, secondary) = (TrainingJobStatus::InProgress, Secondary::Starting);
        for (k, v) in [
            ("TrainingJobStatus", json!(status.as_str())),
            ("SecondaryStatus", json!(secondary.as_str())),
            (
                "SecondaryStatusTransitions",
                json!([{ "Status": secondary.as_str(), "StartTime": now, "StatusMessage": "Launching requested ML instances" }]),
            ),
            ("LastModifiedTime", json!(now)),
            ("EnableNetworkIsolation", json!(false)),
            ("EnableInterContainerTrafficEncryption", json!(false)),
            ("EnableManagedSpotTraining", json!(false)),
        ] {
            derived.insert(k.into(), v);
        }
        JobState {
            name: name.to_string(),
            status,
            derived,
        }
    }

    /// The state stored for job `name`; a row saved before its first state save is InProgress.
    pub fn from_stored(name: &str, status: Option<&str>, derived: &Value) -> JobState {
        JobState {
            name: name.to_string(),
            status: status
                .and_then(|s| s.parse().ok())
                .unwrap_or(TrainingJobStatus::InProgress),
            derived: derived.as_object().cloned().unwrap_or_default(),
        }
    }

    pub fn secondary(&self) -> Secondary {
        self.derived
            .get("SecondaryStatus")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(Secondary::Starting)
    }

    pub fn is_active(&self) -> bool {
        !TRAINING_JOB.is_terminal(self.status)
    }

    /// Moves to a new secondary status (closing the current transition), or, for the same status,
    /// updates its message as SageMaker does. A move the table refuses changes nothing.
    pub fn transition(&mut self, secondary: Secondary, message: &str) -> Result<(), IllegalMove> {
        SECONDARY.check(&self.name, self.secondary(), secondary)?;
        self.record_transition(secondary, message);
        Ok(())
    }

    fn record_transition(&mut self, secondary: Secondary, message: &str) {
        let now = now_epoch();
        let same = self.secondary() == secondary;
        let transitions = self
            .derived
            .entry("SecondaryStatusTransitions")
            .or_insert_with(|| json!([]));
        if let Some(list) = transitions.as_array_mut() {
            if same {
                if let Some(last) = list.last_mut() {
                    last["StatusMessage"] = json!(message);
                }
            } else {
                if let Some(last) = list.last_mut() {
                    last["EndTime"] = json!(now);
                }
                let mut t = json!({ "Status": secondary.as_str(), "StartTime": now, "StatusMessage": message });
                if matches!(
                    secondary,
                    Secondary::Completed
                        | Secondary::Failed
                        | Secondary::Stopped
                        | Secondary::MaxRuntimeExceeded
                ) {
                    t["EndTime"] = json!(now);
                }
                list.push(t);
            }
        }
        self.derived
            .insert("SecondaryStatus".into(), json!(secondary.as_str()));
        self.derived.insert("LastModifiedTime".into(), json!(now));
    }

    /// Moves TrainingJobStatus; a move the table refuses changes nothing.
    pub fn set_status(&mut self, status: TrainingJobStatus) -> Result<(), IllegalMove> {
        TRAINING_JOB.check(&self.name, self.status, status)?;
        self.record_status(status);
        Ok(())
    }

    fn record_status(&mut self, status: TrainingJobStatus) {
        self.status = status;
        self.derived
            .insert("TrainingJobStatus".into(), json!(status.as_str()));
        self.derived
            .insert("LastModifiedTime".into(), json!(now_epoch()));
    }

    /// StopTrainingJob's move: TrainingJobStatus Stopping with its secondary transition, both
    /// checked before either is made. A job already stopping is left as it is.
    pub fn stopping(&mut self) -> Result<(), IllegalMove> {
        if self.status == TrainingJobStatus::Stopping {
            return Ok(());
        }
        SECONDARY.check(&self.name, self.secondary(), Secondary::Stopping)?;
        TRAINING_JOB.check(&self.name, self.status, TrainingJobStatus::Stopping)?;
        self.record_transition(Secondary::Stopping, "Stopping the training job");
        self.record_status(TrainingJobStatus::Stopping);
        Ok(())
    }

    pub fn set(&mut self, member: &str, value: Value) {
        self.derived.insert(member.into(), value);
    }

    /// TrainingStartTime, once the job has reached it.
    pub fn training_start(&self) -> Option<f64> {
        self.derived
            .get("TrainingStartTime")
            .and_then(Value::as_f64)
    }

    /// Marks the start of training; a job started again after a lost instance keeps its first.
    pub fn started_training(&mut self) {
        if self.training_start().is_none() {
            self.set("TrainingStartTime", json!(now_epoch()));
        }
    }

    /// Ends the job: final status, secondary status and the time members. Both moves are
    /// checked before either is made.
    pub fn finish(
        &mut self,
        status: TrainingJobStatus,
        secondary: Secondary,
        message: &str,
        instances: u64,
    ) -> Result<(), IllegalMove> {
        SECONDARY.check(&self.name, self.secondary(), secondary)?;
        TRAINING_JOB.check(&self.name, self.status, status)?;
        let now = now_epoch();
        self.record_transition(secondary, message);
        self.record_status(status);
        let start = self.training_start().unwrap_or(now);
        self.set("TrainingEndTime", json!(now));
        let seconds = (now - start).max(0.0).ceil() as u64;
        self.set("TrainingTimeInSeconds", json!(seconds.max(1)));
        self.set(
            "BillableTimeInSeconds",
            json!(seconds.max(1) * instances.max(1)),
        );
        Ok(())
    }

    /// Ends the job as Failed with `reason` (cut to AWS's length by its rendering).
    pub fn fail(&mut self, reason: &FailureReason, instances: u64) -> Result<(), IllegalMove> {
        let (status, secondary) = (TrainingJobStatus::Failed, Secondary::Failed);
        SECONDARY.check(&self.name, self.secondary(), secondary)?;
        TRAINING_JOB.check(&self.name, self.status, status)?;
        let reason = reason.to_string();
        self.set("FailureReason", json!(reason));
        self.finish(status, secondary, &reason, instances)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_close_the_previous_one_and_messages_update_in_place() {
        let mut s = JobState::new("j", 1.0);
        let steps = [
            (Secondary::Starting, "Preparing the instances for training"),
            (Secondary::Downloading, "Downloading input data"),
            (Secondary::Training, "Training in progress."),
        ];
        for (secondary, message) in steps {
            s.transition(secondary, message).expect("a legal move");
        }
        let t = s.derived["SecondaryStatusTransitions"]
            .as_array()
            .expect("list")
            .clone();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[0]["StatusMessage"],
            "Preparing the instances for training"
        );
        assert!(t[0].get("EndTime").is_some() && t[2].get("EndTime").is_none());
        s.started_training();
        s.transition(Secondary::Uploading, "Uploading")
            .expect("a legal move");
        s.finish(
            TrainingJobStatus::Completed,
            Secondary::Completed,
            "Training job completed",
            2,
        )
        .expect("a legal move");
        assert_eq!(s.status, TrainingJobStatus::Completed);
        assert_eq!(s.derived["TrainingJobStatus"], "Completed");
        assert!(
            s.derived["BillableTimeInSeconds"]
                .as_u64()
                .expect("billable")
                >= 2
        );
        assert!(!s.is_active());
    }

    #[test]
    fn failure_reasons_are_kept_within_awss_length() {
        let mut s = JobState::new("j", 1.0);
        let reason = FailureReason::AlgorithmError("x".repeat(5000));
        s.fail(&reason, 1).expect("a legal move");
        assert_eq!(
            s.derived["FailureReason"].as_str().expect("reason").len(),
            1024
        );
        assert_eq!(s.secondary(), Secondary::Failed);
    }

    /// Every status the supervisor writes, by table.
    const WRITTEN: [TrainingJobStatus; 5] = {
        use TrainingJobStatus::*;
        [InProgress, Stopping, Completed, Failed, Stopped]
    };
    const WRITTEN_SECONDARY: [Secondary; 9] = {
        use Secondary::*;
        [
            Starting,
            Downloading,
            Training,
            Uploading,
            Stopping,
            MaxRuntimeExceeded,
            Completed,
            Failed,
            Stopped,
        ]
    };

    #[test]
    fn the_tables_reach_every_status_written_and_end_in_the_final_ones() {
        use TrainingJobStatus as S;
        let reached = TRAINING_JOB.reachable();
        assert!(WRITTEN.iter().all(|s| reached.contains(s)), "{reached:?}");
        let reached = SECONDARY.reachable();
        assert!(
            WRITTEN_SECONDARY.iter().all(|s| reached.contains(s)),
            "{reached:?}"
        );
        for s in [S::Completed, S::Failed, S::Stopped] {
            assert!(TRAINING_JOB.is_terminal(s), "{s}");
        }
        for s in [S::InProgress, S::Stopping] {
            assert!(!TRAINING_JOB.is_terminal(s), "{s}");
        }
        for s in [Secondary::Completed, Secondary::Failed, Secondary::Stopped] {
            assert!(SECONDARY.is_terminal(s), "{s}");
        }
        assert!(!TRAINING_JOB.allows(S::Completed, S::InProgress));
        assert!(!TRAINING_JOB.allows(S::Stopping, S::InProgress));
        assert!(!TRAINING_JOB.allows(S::Failed, S::Stopped));
        assert!(!SECONDARY.allows(Secondary::Training, Secondary::Starting));
        assert!(!SECONDARY.allows(Secondary::Completed, Secondary::Training));
        assert!(!SECONDARY.allows(Secondary::Starting, Secondary::Completed));
    }

    #[test]
    fn an_ended_job_refuses_to_move_again_and_keeps_its_state() {
        let mut s = JobState::new("done", 1.0);
        s.fail(&FailureReason::ClientError("no bucket".into()), 1)
            .expect("a legal move");
        let before = s.derived.clone();
        let refused = s.set_status(TrainingJobStatus::InProgress);
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err("training job done: no move from Failed to InProgress".to_string())
        );
        assert!(s.transition(Secondary::Training, "again").is_err());
        let finished = s.finish(
            TrainingJobStatus::Completed,
            Secondary::Completed,
            "Training job completed",
            1,
        );
        assert!(finished.is_err());
        assert!(s.set_status(TrainingJobStatus::Stopped).is_err());
        assert_eq!(s.status, TrainingJobStatus::Failed);
        assert_eq!(s.derived, before);
    }
}
