//! sagebox's own endpoints under `/_sagebox/`: health now, the console later.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;

/// `GET /_sagebox/health`: version, uptime and the state of each subsystem. Under `--auth
/// strict` an unsigned request learns only that sagebox is alive; the details (data directory,
/// Docker, GPUs) need a request signed with one of the accepted keys.
pub async fn health(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Json<Value> {
    if state.services.config().auth == crate::config::AuthMode::Strict {
        use crate::aws::sigv4::{Payload, SignedRequest, verify};
        let signed = SignedRequest {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query(),
            headers: &headers,
        };
        let now = crate::aws::time::now_epoch() as i64;
        if verify(&signed, Payload::Body(b""), false, now, |k| {
            state.services.secret_of(k)
        })
        .is_err()
        {
            return Json(json!({ "service": "sagebox", "status": "ok" }));
        }
    }
    let h = state.services.health().await;
    let store = match h.store {
        Ok(v) => json!({ "status": "ok", "schema_version": v }),
        Err(e) => json!({ "status": "error", "error": e }),
    };
    Json(json!({
        "service": "sagebox",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "region": h.region,
        "account_id": h.account_id,
        "data_dir": h.data_dir,
        "subsystems": {
            "store": store,
            "sagemaker": { "status": "ok" },
            "logs": { "status": "ok" },
            "sts": { "status": "ok" },
            "iam": { "status": "ok" },
            "s3": { "status": "ok" },
            "runtime": { "status": "not_implemented" },
            "docker": h.docker,
            "gpus": h.gpus,
        },
    }))
}
