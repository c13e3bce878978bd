//! A processing job's outputs: every file under each S3Output's LocalPath, on every host, goes
//! to `<S3Uri>/<path relative to LocalPath>`. EndOfJob outputs are uploaded once the job
//! completes; Continuous ones also while it runs, polled every second, each file again whenever
//! its size or modification time changed, with a last sweep at the end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::supervisor::Job;
use crate::aws::model::typed::sagemaker::ProcessingS3UploadMode;
use crate::service::Services;
use crate::service::failure::FailureReason;
use crate::service::training::staging;
use crate::store::objects::ObjectMeta;

/// How often Continuous outputs are looked at.
const POLL: Duration = Duration::from_secs(1);

/// What each uploaded file looked like when it went up (size, modification time), by path.
pub(super) type Uploaded = Arc<Mutex<HashMap<PathBuf, (u64, SystemTime)>>>;

/// One output folder on one host and where its files go.
#[derive(Debug, Clone)]
struct Target {
    dir: PathBuf,
    bucket: String,
    prefix: String,
    continuous: bool,
}

fn targets(job: &Job) -> Vec<Target> {
    let outputs = job
        .members
        .processing_output_config
        .as_ref()
        .and_then(|c| c.outputs.as_ref());
    let mut out = Vec::new();
    for s3 in outputs
        .into_iter()
        .flatten()
        .filter_map(|o| o.s3_output.as_ref())
    {
        let (Some(local), Some((bucket, prefix))) = (
            s3.local_path.as_deref(),
            s3.s3_uri.as_deref().and_then(staging::parse_s3_uri),
        ) else {
            continue;
        };
        let continuous = s3.s3_upload_mode == Some(ProcessingS3UploadMode::Continuous);
        for host in &job.hosts {
            out.push(Target {
                dir: job.local_dir(host, local),
                bucket: bucket.clone(),
                prefix: prefix.trim_end_matches('/').to_string(),
                continuous,
            });
        }
    }
    out
}

/// The Continuous uploader of a running job; `stop` ends it after its current pass.
pub(super) struct Continuous {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Continuous {
    pub(super) async fn stop(self) {
        self.stop.send(true).ok();
        if let Some(task) = self.task
            && let Err(e) = task.await
        {
            tracing::debug!("a Continuous output uploader ended abnormally: {e}");
        }
    }
}

/// Starts uploading `job`'s Continuous outputs every second, when it has any.
pub(super) fn spawn_continuous(services: &Services, job: &Job, uploaded: &Uploaded) -> Continuous {
    let (tx, mut rx) = watch::channel(false);
    let targets: Vec<Target> = targets(job).into_iter().filter(|t| t.continuous).collect();
    if targets.is_empty() {
        return Continuous {
            stop: tx,
            task: None,
        };
    }
    let (services, uploaded, name) = (services.clone(), uploaded.clone(), job.name.clone());
    let task = tokio::spawn(async move {
        loop {
            if let Err(reason) = upload_changed(&services, &targets, &uploaded).await {
                // the final sweep tries again and fails the job if it still cannot
                tracing::warn!("processing job {name}: {reason}");
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = rx.changed() => break,
            }
        }
    });
    Continuous {
        stop: tx,
        task: Some(task),
    }
}

/// The last pass at the job's end: every output (or only the Continuous ones), each file that
/// is new or changed since it last went up. A file that cannot be uploaded fails the job.
pub(super) async fn sweep(
    services: &Services,
    job: &Job,
    uploaded: &Uploaded,
    continuous_only: bool,
) -> Result<(), FailureReason> {
    let targets: Vec<Target> = targets(job)
        .into_iter()
        .filter(|t| t.continuous || !continuous_only)
        .collect();
    upload_changed(services, &targets, uploaded).await
}

async fn upload_changed(
    services: &Services,
    targets: &[Target],
    uploaded: &Uploaded,
) -> Result<(), FailureReason> {
    for t in targets {
        let dir = t.dir.clone();
        let files = tokio::task::spawn_blocking(move || {
            staging::files_under(&dir)
                .into_iter()
                .filter_map(|(rel, path)| {
                    let meta = std::fs::metadata(&path).ok()?;
                    Some((rel, path, meta.len(), meta.modified().ok()?))
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| FailureReason::InternalServerError(e.to_string()))?;
        for (rel, path, size, modified) in files {
            let seen = uploaded.lock().ok().and_then(|u| u.get(&path).copied());
            if seen == Some((size, modified)) {
                continue;
            }
            let key = if t.prefix.is_empty() {
                rel
            } else {
                format!("{}/{rel}", t.prefix)
            };
            services
                .objects
                .put_file(&t.bucket, &key, &path, ObjectMeta::default())
                .await
                .map_err(|e| {
                    FailureReason::ClientError(format!(
                        "Cannot upload the output s3://{}/{key}: {e}",
                        t.bucket
                    ))
                })?;
            if let Ok(mut u) = uploaded.lock() {
                u.insert(path, (size, modified));
            }
        }
    }
    Ok(())
}
