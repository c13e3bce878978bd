//! What reaches a running execution's task (stop requests, callback results, its steps'
//! progress), and the registry of running executions that routes it there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::steps::{Created, Outcome};

/// What reaches a running execution's task.
#[derive(Debug)]
pub(crate) enum Event {
    Stop,
    /// SendPipelineExecutionStepSuccess (Ok: output parameters) or …Failure (Err: reason).
    Callback {
        token: String,
        result: Result<Vec<(String, String)>, String>,
    },
    Created {
        step: String,
        created: Created,
    },
    Finished {
        step: String,
        outcome: Outcome,
    },
    /// A step's retry interval has passed.
    Retry {
        step: String,
    },
    /// UpdatePipelineExecution changed MaxParallelExecutionSteps.
    Parallelism(u32),
}

/// The tasks of running executions, by execution row name.
#[derive(Clone, Default)]
pub struct Executions {
    inner: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Event>>>>,
    /// Held by every read-modify-write of an execution's row (the executor's saves and
    /// UpdatePipelineExecution), so neither loses the other's members.
    rows: Arc<tokio::sync::Mutex<()>>,
}

impl Executions {
    pub(super) fn register(
        &self,
        name: &str,
    ) -> (mpsc::UnboundedSender<Event>, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(name.to_ascii_lowercase(), tx.clone());
        (tx, rx)
    }

    /// Sends `event` to execution `name`'s task; false if none runs.
    pub(crate) fn send(&self, name: &str, event: Event) -> bool {
        match self.lock().get(&name.to_ascii_lowercase()) {
            Some(tx) => tx.send(event).is_ok(),
            None => false,
        }
    }

    pub(crate) fn is_running(&self, name: &str) -> bool {
        self.lock().contains_key(&name.to_ascii_lowercase())
    }

    /// Taken around a read-modify-write of an execution's row.
    pub(crate) async fn lock_rows(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rows.lock().await
    }

    pub(super) fn done(&self, name: &str) {
        self.lock().remove(&name.to_ascii_lowercase());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Event>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
