//! SageMaker Runtime (restJson1: `POST /endpoints/{name}/invocations`). Endpoints arrive with the
//! hosting issue; until then every call gets a clear restJson error instead of a 404 page.

use axum::http::StatusCode;
use axum::response::Response;

use crate::aws::AwsError;

pub fn handle(path: &str, request_id: &str) -> Response {
    AwsError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplementedException",
        format!(
            "sagebox does not serve SageMaker Runtime yet ({path}): endpoints are not implemented."
        ),
    )
    .into_json_response(request_id)
}
