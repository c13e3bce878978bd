//! One way for the supervisors (training, hosting, transform, notebooks) to write a state they
//! cannot hand an error back for: they run in spawned tasks, so a failed save would otherwise
//! vanish and Describe would show a stale status for good. A terminal state that still cannot be
//! written is kept here ([`Unsaved`]) and retried in the background; Describe and List show it
//! meanwhile (see `resources.rs`).

mod unsaved;

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

pub(crate) use unsaved::Unsaved;

/// Whether `status` is one a resource stays in once reached: losing one of these leaves
/// Describe wrong forever, so their saves are retried. This is not the families' `Lifecycle`
/// terminal set: InService and OutOfService are left again (by an update, a stop, a delete), but
/// a supervisor saves them and then waits, so a lost save would never be written over. The
/// statuses come from the generated enums (a job's Completed/Failed/Stopped are spelled the same
/// in every family); `DELETED` names a row's deletion (endpoints, notebook instances).
pub(crate) fn is_terminal(status: &str) -> bool {
    use crate::aws::model::typed::sagemaker::{EndpointStatus, TrainingJobStatus};
    status == DELETED
        || matches!(
            status.parse(),
            Ok(TrainingJobStatus::Completed
                | TrainingJobStatus::Failed
                | TrainingJobStatus::Stopped)
        )
        || matches!(
            status.parse(),
            Ok(EndpointStatus::InService | EndpointStatus::OutOfService)
        )
}

/// What the endpoint and notebook supervisors pass to `persist` when they remove a row.
pub(crate) const DELETED: &str = "Deleted";

/// Tries of a terminal save, and the pause before the second (doubling after): short enough
/// that a supervisor's end is not held up, long enough to ride out a busy database.
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Runs `save` for `what` (e.g. "endpoint foo") moving to `status`. A terminal status is tried
/// up to `ATTEMPTS` times with a short backoff; a save that still fails is logged with the
/// resource and the status it could not write (error for terminal, warn otherwise). Returns
/// whether the state was written.
pub(crate) async fn persist<F, Fut, E>(what: &str, status: &str, save: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    persist_with(what, status, FIRST_BACKOFF, save).await
}

async fn persist_with<F, Fut, E>(what: &str, status: &str, backoff: Duration, mut save: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let terminal = is_terminal(status);
    let attempts = if terminal { ATTEMPTS } else { 1 };
    let mut pause = backoff;
    for attempt in 1..=attempts {
        match save().await {
            Ok(()) => return true,
            Err(e) if attempt < attempts => {
                tracing::warn!(
                    "{what}: cannot save status {status} (try {attempt} of {attempts}), retrying: {e}"
                );
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) if terminal => {
                tracing::error!(
                    "{what}: cannot save terminal status {status} after {attempts} tries: {e}"
                );
            }
            Err(e) => tracing::warn!("{what}: cannot save status {status}: {e}"),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn the_terminal_statuses_are_the_ones_a_lost_save_would_leave_wrong_forever() {
        for status in [
            "Completed",
            "Failed",
            "Stopped",
            "Deleted",
            "InService",
            "OutOfService",
        ] {
            assert!(is_terminal(status), "{status}");
        }
        for status in [
            "InProgress",
            "Stopping",
            "Creating",
            "Updating",
            "Pending",
            "Deleting",
        ] {
            assert!(!is_terminal(status), "{status}");
        }
    }

    #[tokio::test]
    async fn a_terminal_save_that_fails_twice_is_retried_until_it_succeeds() {
        let calls = Cell::new(0);
        let ok = persist_with("endpoint e", "InService", Duration::ZERO, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n < 3 { Err("busy") } else { Ok(()) } }
        })
        .await;
        assert!(ok);
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test]
    async fn a_terminal_save_that_always_fails_gives_up() {
        let calls = Cell::new(0);
        let ok = persist_with("training job j", "Failed", Duration::ZERO, || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>("disk full") }
        })
        .await;
        assert!(!ok);
        assert_eq!(calls.get(), ATTEMPTS);
    }

    #[tokio::test]
    async fn a_transient_status_is_tried_once() {
        let calls = Cell::new(0);
        let ok = persist_with("notebook n", "Pending", Duration::ZERO, || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>("disk full") }
        })
        .await;
        assert!(!ok);
        assert_eq!(calls.get(), 1);
    }
}
