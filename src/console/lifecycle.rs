//! Notebook instance lifecycle configurations: list, create, edit, delete (skeleton: filled in
//! by its helper).

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;

use super::not_found;
use crate::AppState;

pub async fn list(
    State(_state): State<AppState>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    not_found("notebook-instances", "Not built yet.")
}

pub async fn create(State(_state): State<AppState>, _req: Request) -> Response {
    not_found("notebook-instances", "Not built yet.")
}

pub async fn detail(State(_state): State<AppState>, Path(_name): Path<String>) -> Response {
    not_found("notebook-instances", "Not built yet.")
}

pub async fn update(
    State(_state): State<AppState>,
    Path(_name): Path<String>,
    _req: Request,
) -> Response {
    not_found("notebook-instances", "Not built yet.")
}

pub async fn confirm_delete(State(_state): State<AppState>, Path(_name): Path<String>) -> Response {
    not_found("notebook-instances", "Not built yet.")
}

pub async fn delete(
    State(_state): State<AppState>,
    Path(_name): Path<String>,
    _req: Request,
) -> Response {
    not_found("notebook-instances", "Not built yet.")
}
