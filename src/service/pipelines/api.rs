//! Pipeline steps call SageMaker the way SageMaker Pipelines does: as a client of the SageMaker
//! API. The api layer hands the service layer its own entry point at startup
//! (`Services::set_sagemaker_api`), so a step's resolved arguments are checked against the model
//! and run by the same handler as a client's request, and errors come back in AWS's words.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::service::Services;

/// An error the SageMaker API answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

pub type ApiFuture = Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send>>;

/// `call(services, operation, members)`.
pub type ApiCall = fn(Services, &'static str, Value) -> ApiFuture;

impl Services {
    /// Calls SageMaker operation `op` with `body` as its members.
    pub(crate) async fn call_sagemaker(
        &self,
        op: &'static str,
        body: Value,
    ) -> Result<Value, ApiError> {
        match self.sagemaker_api.get() {
            Some(call) => call(self.clone(), op, body).await,
            None => Err(ApiError {
                code: "InternalFailure".into(),
                message: format!("sagebox cannot call {op} here: the SageMaker API is not wired"),
            }),
        }
    }
}
