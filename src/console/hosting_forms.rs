//! Hosting forms: create model, endpoint configuration, endpoint and transform job; update
//! endpoint; deletes with a confirmation step (skeleton: filled in by its helper).

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;

use super::not_found;
use crate::AppState;

pub async fn model_form(
    State(_state): State<AppState>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    not_found("models", "Not built yet.")
}

pub async fn create_model(State(_state): State<AppState>, _req: Request) -> Response {
    not_found("models", "Not built yet.")
}

pub async fn config_form(
    State(_state): State<AppState>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    not_found("endpoint-configs", "Not built yet.")
}

pub async fn create_config(State(_state): State<AppState>, _req: Request) -> Response {
    not_found("endpoint-configs", "Not built yet.")
}

pub async fn endpoint_form(
    State(_state): State<AppState>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    not_found("endpoints", "Not built yet.")
}

pub async fn create_endpoint(State(_state): State<AppState>, _req: Request) -> Response {
    not_found("endpoints", "Not built yet.")
}

pub async fn transform_form(
    State(_state): State<AppState>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    not_found("transform-jobs", "Not built yet.")
}

pub async fn create_transform(State(_state): State<AppState>, _req: Request) -> Response {
    not_found("transform-jobs", "Not built yet.")
}

pub async fn update_form(State(_state): State<AppState>, Path(_name): Path<String>) -> Response {
    not_found("endpoints", "Not built yet.")
}

pub async fn update_endpoint(
    State(_state): State<AppState>,
    Path(_name): Path<String>,
    _req: Request,
) -> Response {
    not_found("endpoints", "Not built yet.")
}

pub async fn confirm_model(State(_state): State<AppState>, Path(_name): Path<String>) -> Response {
    not_found("models", "Not built yet.")
}

pub async fn delete_model(
    State(_state): State<AppState>,
    Path(_name): Path<String>,
    _req: Request,
) -> Response {
    not_found("models", "Not built yet.")
}

pub async fn confirm_config(State(_state): State<AppState>, Path(_name): Path<String>) -> Response {
    not_found("endpoint-configs", "Not built yet.")
}

pub async fn delete_config(
    State(_state): State<AppState>,
    Path(_name): Path<String>,
    _req: Request,
) -> Response {
    not_found("endpoint-configs", "Not built yet.")
}

pub async fn confirm_endpoint(
    State(_state): State<AppState>,
    Path(_name): Path<String>,
) -> Response {
    not_found("endpoints", "Not built yet.")
}

pub async fn delete_endpoint(
    State(_state): State<AppState>,
    Path(_name): Path<String>,
    _req: Request,
) -> Response {
    not_found("endpoints", "Not built yet.")
}
