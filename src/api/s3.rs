//! The S3 branch of the gateway: every request no other api claims. S3 itself (s3s over
//! sagebox's own object store) arrives with the S3 issue; until then clients get S3's
//! NotImplemented error, in S3's XML shape, naming what they asked for.

use axum::http::StatusCode;
use axum::response::Response;

use crate::aws::AwsError;

pub fn handle(method: &str, path: &str, request_id: &str) -> Response {
    AwsError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("A header or request you provided implies functionality that is not implemented: sagebox does not serve the S3 API yet ({method} {path})."),
    )
    .into_s3_response(path, request_id)
}
