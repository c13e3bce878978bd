//! Runs one pipeline execution: a task per execution reads its definition, starts every step
//! whose upstream steps are done (up to the parallelism limit), waits for them, and writes each
//! step's state to the execution's row before acting on it, so a restart picks up where it left
//! off. SKELETON: being written.

use crate::service::training::Supervisors;
use crate::service::{ServiceError, ServiceResult, Services};

/// The executors of running pipeline executions, by execution row name.
#[derive(Clone, Default)]
pub struct Executions {
    pub(crate) running: Supervisors,
}

/// Starts the executor of execution row `name` (`<pipeline>/execution/<id>`), whose row holds an
/// `ExecutionState` with its definition and parameters.
pub(crate) fn spawn(services: Services, name: String) {
    let _ = (services, name);
}

impl Services {
    pub async fn stop_pipeline_execution(&self, arn: &str) -> ServiceResult<()> {
        let _ = arn;
        Err(ServiceError::Internal("not yet".into()))
    }

    pub async fn retry_pipeline_execution(
        &self,
        arn: &str,
        max_parallel: Option<u32>,
    ) -> ServiceResult<()> {
        let _ = (arn, max_parallel);
        Err(ServiceError::Internal("not yet".into()))
    }

    /// Completes the Callback step waiting on `token`; answers its execution's ARN.
    pub async fn send_pipeline_execution_step_success(
        &self,
        token: &str,
        outputs: Vec<(String, String)>,
    ) -> ServiceResult<String> {
        let _ = (token, outputs);
        Err(ServiceError::Internal("not yet".into()))
    }

    /// Fails the Callback step waiting on `token`; answers its execution's ARN.
    pub async fn send_pipeline_execution_step_failure(
        &self,
        token: &str,
        reason: Option<String>,
    ) -> ServiceResult<String> {
        let _ = (token, reason);
        Err(ServiceError::Internal("not yet".into()))
    }

    /// At startup: executions an earlier run left Executing or Stopping get their executor back.
    pub(crate) async fn recover_pipelines(&self) {}
}
