//! On a cluster an instance can go with its node. A job with CheckpointConfig then starts again
//! from its checkpoints, as SageMaker restarts an interrupted job: what each instance returned
//! (a lost one: what the agent synced last) is uploaded to CheckpointConfig.S3Uri, every
//! instance is removed, and the job is launched anew, which restores the checkpoints into
//! every instance's /opt/ml/checkpoints. Secondary statuses: Training → Interrupted →
//! Restarting → Starting → … A job without CheckpointConfig, or one lost too often, fails
//! with a reason that names the node.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::super::StopRequest;
use super::{
    Job, JobLog, LOG_GROUP, Metrics, Outcome, launch, remove_containers, remove_dir, save_move,
    upload_checkpoints, watch_containers,
};
use crate::aws::model::typed::sagemaker::SecondaryStatus as Secondary;
use crate::runtime::engine::Engine;
use crate::service::Services;
use crate::service::failure::FailureReason;

/// How many times one job is started again after lost instances.
pub const MAX_RESTARTS: u32 = 2;

/// Turns an outcome of lost instances into a restart from the checkpoints (and the outcome of
/// that run), or into the job's failure; any other outcome is returned as it is.
pub(super) async fn after_lost_instances(
    services: &Services,
    job: &mut Job,
    mut outcome: Outcome,
    metrics: &Arc<Mutex<Metrics>>,
    stop: &mut watch::Receiver<StopRequest>,
) -> Outcome {
    let mut restarts = 0;
    loop {
        let Outcome::InstanceLost { host, why } = outcome else {
            return outcome;
        };
        let lost = format!("{host} was lost: {why}");
        if *stop.borrow() == StopRequest::Stop {
            return Outcome::Stopped;
        }
        if let Err(reason) = may_restart(job.checkpoint_uri().is_some(), restarts, &lost) {
            return Outcome::Failed(reason);
        }
        restarts += 1;
        outcome = match restart(services, job, &lost, restarts, stop).await {
            Ok((engine, ids)) => {
                watch_containers(services, &engine, job, &ids, metrics, stop, false).await
            }
            Err(_) if *stop.borrow() == StopRequest::Stop => Outcome::Stopped,
            Err(reason) => Outcome::Failed(reason),
        };
    }
}

/// Whether a job may start again after `restarts` restarts; else its failure.
pub fn may_restart(checkpoints: bool, restarts: u32, lost: &str) -> Result<(), FailureReason> {
    if !checkpoints {
        return Err(FailureReason::InternalServerError(format!(
            "{lost}. The job has no CheckpointConfig, so it cannot go on elsewhere; with CheckpointConfig sagebox starts it again from its last checkpoint"
        )));
    }
    if restarts >= MAX_RESTARTS {
        return Err(FailureReason::InternalServerError(format!(
            "{lost}. The job was started again from its checkpoints {restarts} times already"
        )));
    }
    Ok(())
}

async fn restart(
    services: &Services,
    job: &mut Job,
    lost: &str,
    n: u32,
    stop: &mut watch::Receiver<StopRequest>,
) -> Result<(Engine, Vec<(String, String)>), FailureReason> {
    let (log, log_task) = JobLog::new(services, LOG_GROUP, &job.streams[0]);
    log.line(&format!(
        "[sagebox] {lost}. Starting the job again from its checkpoints (restart {n} of at most {MAX_RESTARTS})"
    ));
    let moved = job.state.transition(
        Secondary::Interrupted,
        &format!("Training interrupted: {lost}"),
    );
    save_move(services, job, moved).await;
    // algo-1's last, so its files win where instances wrote the same name (as they would in
    // SageMaker's shared checkpoint prefix, where the leader usually is the one writing)
    let dirs: Vec<PathBuf> = job
        .hosts
        .iter()
        .rev()
        .map(|h| job.host_dir(h).join("checkpoints"))
        .collect();
    upload_checkpoints(services, job, &dirs).await?;
    let moved = job.state.transition(
        Secondary::Restarting,
        "Starting the training job again from its checkpoints",
    );
    save_move(services, job, moved).await;
    remove_containers(services, job).await;
    remove_dir(&job.dir.join("hosts")).await;
    remove_dir(&job.dir.join("channels")).await;
    drop(log);
    if let Err(e) = log_task.await {
        tracing::debug!(
            "training job {}: its log writer ended abnormally: {e}",
            job.name
        );
    }
    launch(services, job, stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_job_restarts_only_with_checkpoints_and_only_so_often() {
        let lost = "algo-2 was lost: the node node3 running it stopped answering";
        let no = may_restart(false, 0, lost).unwrap_err().to_string();
        assert!(
            no.contains("node3") && no.contains("CheckpointConfig"),
            "{no}"
        );
        assert!(may_restart(true, 0, lost).is_ok());
        assert!(may_restart(true, MAX_RESTARTS - 1, lost).is_ok());
        let tired = may_restart(true, MAX_RESTARTS, lost)
            .unwrap_err()
            .to_string();
        assert!(
            tired.contains("node3") && tired.contains("times"),
            "{tired}"
        );
    }
}
