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
    /// A Create* named a resource that already exists. The message is the generic one
    /// `create_resource` writes; each family replaces it with SageMaker's own wording and code.
    #[error("{0}")]
    Duplicate(String),
    /// The resource is in a state that does not allow the request (ConflictException).
    #[error("{0}")]
    Conflict(String),
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
