//! The service layer's error type. Variants name what went wrong in protocol-neutral terms; each
//! api module maps them to its service's error codes in one place.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or names something that does not fit (SageMaker answers most of
    /// these, "not found" included, with ValidationException).
    #[error("{0}")]
    Validation(String),
    /// The named resource does not exist, for services that have a distinct code for it.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InUse(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ServiceError::Internal(e.to_string())
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
