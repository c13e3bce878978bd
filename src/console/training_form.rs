//! The "Create training job" form (skeleton: filled in by its helper).

use std::collections::HashMap;

use axum::extract::{Query, Request, State};
use axum::response::Response;

use super::not_found;
use crate::AppState;

pub async fn show(
    State(_state): State<AppState>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    not_found("training-jobs", "Not built yet.")
}

pub async fn create(State(_state): State<AppState>, _req: Request) -> Response {
    not_found("training-jobs", "Not built yet.")
}
