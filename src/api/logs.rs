//! CloudWatch Logs (awsJson 1.1, `X-Amz-Target: Logs_20140328.<Operation>`).

use axum::response::Response;

use super::json;
use crate::aws::AwsError;
use crate::aws::model::logs::MODEL;
use crate::service::{ServiceError, Services};

pub async fn handle(services: &Services, op: &str, body: &[u8], request_id: &str) -> Response {
    let _ = services;
    json::serve(&MODEL, op, body, request_id, map_error, |_req| async move {
        Err(ServiceError::Internal("logs not wired yet".into()))
    })
    .await
}

fn map_error(e: ServiceError) -> AwsError {
    AwsError::internal(e.to_string())
}
