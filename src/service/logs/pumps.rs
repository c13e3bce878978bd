//! A job's log pumps: one task per container copying its output into the log store. Shared by
//! training (and the jobs that run as training jobs) and processing, which end the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a job's end waits for pumps that move no line (neither read nor stored) before it
/// reports the end without them: a Docker that stopped answering. Pumps that still move lines
/// are waited for, however long a loaded host takes to copy a flood of output.
pub(crate) const PUMP_STALL: Duration = Duration::from_secs(30);

/// How long a job's end waits for its pumps at most, moving or not.
const PUMP_WAIT: Duration = Duration::from_secs(900);

/// How often a wait for the pumps looks at their progress.
const LOOK: Duration = Duration::from_millis(500);

/// How long a pump still busy at the job's end may go on before the job's containers go.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// Lines a job's pumps have read from Docker or stored, counted together: while the count
/// moves, the pumps are working.
#[derive(Clone, Default)]
pub(crate) struct Progress(Arc<AtomicU64>);

impl Progress {
    pub(crate) fn add(&self, lines: u64) {
        self.0.fetch_add(lines, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The pumps of one job, waited for in two steps: `settle` before the job reports its end, so
/// that whoever waits for the end and then reads the logs sees every line (a container that
/// printed a million lines in seconds takes Docker's log API and the store tens of seconds more
/// to hand over and keep, minutes on a loaded host), and `drain` before its containers are
/// removed, as removing them ends Docker's log stream.
#[derive(Default)]
pub(crate) struct Pumps {
    busy: Vec<JoinHandle<()>>,
    progress: Progress,
}

impl Pumps {
    /// What the job's pumps and their log writers count their lines in.
    pub(crate) fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Waits for each pump while the pumps move lines (see [`PUMP_STALL`], at most
    /// [`PUMP_WAIT`]); a pump still busy then goes on copying by itself and is kept for `drain`.
    pub(crate) async fn settle(&mut self, pumps: Vec<JoinHandle<()>>) {
        self.settle_within(pumps, PUMP_STALL, PUMP_WAIT).await;
    }

    async fn settle_within(&mut self, pumps: Vec<JoinHandle<()>>, stall: Duration, most: Duration) {
        let started = Instant::now();
        let mut seen = self.progress.count();
        let mut moved = started;
        for mut p in pumps {
            loop {
                let given_up = moved.elapsed() >= stall || started.elapsed() >= most;
                let look = if given_up { Duration::ZERO } else { LOOK };
                if tokio::time::timeout(look, &mut p).await.is_ok() {
                    break;
                }
                if given_up {
                    self.busy.push(p);
                    break;
                }
                let now = self.progress.count();
                if now != seen {
                    (seen, moved) = (now, Instant::now());
                }
            }
        }
        if !self.busy.is_empty() {
            tracing::warn!(
                "{} log pump(s) still copying after {} s ({} without a line): the job reports its end without waiting for the rest",
                self.busy.len(),
                started.elapsed().as_secs(),
                moved.elapsed().as_secs()
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A pump that moves one line a second, `lines` times.
    fn ticking(progress: Progress, lines: u64) -> JoinHandle<()> {
        tokio::spawn(async move {
            for _ in 0..lines {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress.add(1);
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn pumps_that_move_lines_are_waited_for_past_the_stall_time() {
        let mut pumps = Pumps::default();
        let progress = pumps.progress();
        // A pump copying one line a second for a minute: twice the stall time, never still.
        let moving = ticking(progress, 60);
        let started = Instant::now();
        pumps
            .settle_within(
                vec![moving],
                Duration::from_secs(5),
                Duration::from_secs(900),
            )
            .await;
        assert!(pumps.busy.is_empty());
        assert!(started.elapsed() >= Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn pumps_that_move_nothing_are_left_to_drain_after_the_stall_time() {
        let mut pumps = Pumps::default();
        let progress = pumps.progress();
        let stuck = tokio::spawn(async move {
            progress.add(1);
            std::future::pending::<()>().await;
        });
        let done = tokio::spawn(async {});
        let started = Instant::now();
        pumps
            .settle_within(
                vec![stuck, done],
                Duration::from_secs(5),
                Duration::from_secs(900),
            )
            .await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(5) && waited < Duration::from_secs(7),
            "{waited:?}"
        );
        assert_eq!(pumps.busy.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn moving_pumps_are_waited_for_at_most_the_bound() {
        let mut pumps = Pumps::default();
        let progress = pumps.progress();
        let endless = ticking(progress, u64::MAX);
        let started = Instant::now();
        pumps
            .settle_within(
                vec![endless],
                Duration::from_secs(5),
                Duration::from_secs(20),
            )
            .await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(20) && waited < Duration::from_secs(22),
            "{waited:?}"
        );
        assert_eq!(pumps.busy.len(), 1);
        pumps.busy[0].abort();
    }
}
