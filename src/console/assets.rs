//! The console's stylesheet and script, embedded in the binary (hand-written, no build step).

use axum::http::header;
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");

pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

pub async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        JS,
    )
        .into_response()
}
