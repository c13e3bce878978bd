//! Publishing a training job's metrics as SageMaker does: namespace `/aws/sagemaker/TrainingJobs`,
//! dimension `TrainingJobName=<job>`, the metric definition's name, the log line's time. The log
//! pump only queues values (never waits on the database); one task per job drains the queue in
//! batches, and a failed batch is logged with the job's name.

use tokio::sync::mpsc;

use crate::service::Services;
use crate::store::metrics::{Datum, MetricKey};

use super::TRAINING_NAMESPACE;

/// Queues a job's metric values for storage; cheap to clone, never blocks.
#[derive(Clone)]
pub struct MetricPublisher {
    tx: mpsc::UnboundedSender<(String, f64, f64)>,
}

impl MetricPublisher {
    /// The publisher and the task that stores what it queues (it ends when every clone is gone).
    pub fn new(services: &Services, job: &str) -> (MetricPublisher, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, f64, f64)>();
        let services = services.clone();
        let job = job.to_string();
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                let count = batch.len();
                let data = batch
                    .into_iter()
                    .map(|(name, value, ts)| (training_key(&job, &name), datum(value, ts)))
                    .collect();
                if let Err(e) = services.publish_metric_data(data).await {
                    tracing::warn!(
                        "training job {job}: {count} metric values were not stored: {e}"
                    );
                }
            }
        });
        (MetricPublisher { tx }, task)
    }

    /// Queues one value (`ts` in epoch seconds).
    pub fn value(&self, name: &str, value: f64, ts: f64) {
        if !value.is_finite() {
            return;
        }
        // Fails only once the draining task has ended (shutdown): the value has nowhere to go.
        self.tx.send((name.to_string(), value, ts)).ok();
    }
}

fn training_key(job: &str, metric: &str) -> MetricKey {
    MetricKey {
        namespace: TRAINING_NAMESPACE.to_string(),
        name: metric.to_string(),
        dimensions: vec![("TrainingJobName".to_string(), job.to_string())],
    }
}

fn datum(value: f64, ts: f64) -> Datum {
    Datum {
        timestamp: ts,
        unit: "None".to_string(),
        sample_count: 1.0,
        sum: value,
        minimum: value,
        maximum: value,
        distribution: Some(vec![(value, 1.0)]),
    }
}
