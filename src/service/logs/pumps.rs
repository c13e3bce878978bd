//! A job's log pumps: one task per container copying its output into the log store. Shared by
//! training (and the jobs that run as training jobs) and processing, which end the same way.

use std::time::Duration;

use tokio::task::JoinHandle;

/// How long a job's end waits for its containers' output to be stored.
pub(crate) const PUMP_WAIT: Duration = Duration::from_secs(120);

/// How long a pump still busy at the job's end may go on before the job's containers go.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// The pumps of one job, waited for in two steps: `settle` before the job reports its end, so
/// that whoever waits for the end and then reads the logs sees every line (a container that
/// printed a million lines in seconds takes Docker's log API about ten more to hand over), and
/// `drain` before its containers are removed, as removing them ends Docker's log stream.
#[derive(Default)]
pub(crate) struct Pumps {
    busy: Vec<JoinHandle<()>>,
}

impl Pumps {
    /// Waits up to [`PUMP_WAIT`] for each pump; one still busy then goes on copying by itself
    /// and is kept for `drain`.
    pub(crate) async fn settle(&mut self, pumps: Vec<JoinHandle<()>>) {
        for mut p in pumps {
            if tokio::time::timeout(PUMP_WAIT, &mut p).await.is_err() {
                self.busy.push(p);
            }
        }
    }

    /// Waits for the pumps still copying a fast writer's output (bounded: a Docker that stopped
    /// answering must not keep the job's containers for ever). `job` names the job in the log.
    pub(crate) async fn drain(&mut self, job: &str) {
        for p in std::mem::take(&mut self.busy) {
            if tokio::time::timeout(DRAIN_LIMIT, p).await.is_err() {
                tracing::warn!(
                    "{job}: its log stream was still being read after {} s; the rest is dropped",
                    DRAIN_LIMIT.as_secs()
                );
            }
        }
    }
}
