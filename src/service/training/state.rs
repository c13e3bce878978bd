//! What a training job reports while it runs: TrainingJobStatus, SecondaryStatus with its
//! transitions, times, failure reason, artifacts and metrics. The supervisor changes it through
//! these methods and writes it to the store after every change, before acting on the next step.

use serde_json::{Map, Value, json};

use crate::aws::time::now_epoch;

#[derive(Debug, Clone)]
pub struct JobState {
    pub status: String,
    pub derived: Map<String, Value>,
}

impl JobState {
    /// The state of a job just created.
    pub fn new(now: f64) -> JobState {
        let mut derived = Map::new();
        for (k, v) in [
            ("TrainingJobStatus", json!("InProgress")),
            ("SecondaryStatus", json!("Starting")),
            (
                "SecondaryStatusTransitions",
                json!([{ "Status": "Starting", "StartTime": now, "StatusMessage": "Launching requested ML instances" }]),
            ),
            ("LastModifiedTime", json!(now)),
            ("EnableNetworkIsolation", json!(false)),
            ("EnableInterContainerTrafficEncryption", json!(false)),
            ("EnableManagedSpotTraining", json!(false)),
        ] {
            derived.insert(k.into(), v);
        }
        JobState {
            status: "InProgress".into(),
            derived,
        }
    }

    pub fn from_stored(status: Option<&str>, derived: &Value) -> JobState {
        JobState {
            status: status.unwrap_or("InProgress").to_string(),
            derived: derived.as_object().cloned().unwrap_or_default(),
        }
    }

    pub fn secondary(&self) -> &str {
        self.derived
            .get("SecondaryStatus")
            .and_then(Value::as_str)
            .unwrap_or("Starting")
    }

    pub fn is_active(&self) -> bool {
        matches!(self.status.as_str(), "InProgress" | "Stopping")
    }

    /// Moves to a new secondary status (closing the current transition), or, for the same status,
    /// updates its message as SageMaker does.
    pub fn transition(&mut self, secondary: &str, message: &str) {
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
                let mut t =
                    json!({ "Status": secondary, "StartTime": now, "StatusMessage": message });
                if matches!(
                    secondary,
                    "Completed" | "Failed" | "Stopped" | "MaxRuntimeExceeded"
                ) {
                    t["EndTime"] = json!(now);
                }
                list.push(t);
            }
        }
        self.derived
            .insert("SecondaryStatus".into(), json!(secondary));
        self.derived.insert("LastModifiedTime".into(), json!(now));
    }

    pub fn set_status(&mut self, status: &str) {
        self.status = status.to_string();
        self.derived
            .insert("TrainingJobStatus".into(), json!(status));
        self.derived
            .insert("LastModifiedTime".into(), json!(now_epoch()));
    }

    pub fn set(&mut self, member: &str, value: Value) {
        self.derived.insert(member.into(), value);
    }

    pub fn started_training(&mut self) {
        self.set("TrainingStartTime", json!(now_epoch()));
    }

    /// Ends the job: final status, secondary status and the time members.
    pub fn finish(&mut self, status: &str, secondary: &str, message: &str, instances: u64) {
        let now = now_epoch();
        self.transition(secondary, message);
        self.set_status(status);
        let start = self
            .derived
            .get("TrainingStartTime")
            .and_then(Value::as_f64)
            .unwrap_or(now);
        self.set("TrainingEndTime", json!(now));
        let seconds = (now - start).max(0.0).ceil() as u64;
        self.set("TrainingTimeInSeconds", json!(seconds.max(1)));
        self.set(
            "BillableTimeInSeconds",
            json!(seconds.max(1) * instances.max(1)),
        );
    }

    pub fn fail(&mut self, reason: &str, instances: u64) {
        let reason: String = reason.chars().take(1024).collect();
        self.set("FailureReason", json!(reason));
        self.finish("Failed", "Failed", &reason, instances);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_close_the_previous_one_and_messages_update_in_place() {
        let mut s = JobState::new(1.0);
        s.transition("Starting", "Preparing the instances for training");
        s.transition("Downloading", "Downloading input data");
        s.transition("Training", "Training in progress.");
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
        s.finish("Completed", "Completed", "Training job completed", 2);
        assert_eq!(s.status, "Completed");
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
        let mut s = JobState::new(1.0);
        s.fail(&"x".repeat(5000), 1);
        assert_eq!(
            s.derived["FailureReason"].as_str().expect("reason").len(),
            1024
        );
        assert_eq!(s.secondary(), "Failed");
    }
}
