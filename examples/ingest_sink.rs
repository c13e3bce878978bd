//! The ingest ceiling for `make bench`: an HTTP server on 127.0.0.1 that does only the part of a
//! PUT no S3 server can skip. Every request body is written to a new file under DIR in 1 MiB
//! pieces (on the blocking pool, cut as sagebox cuts them) and fdatasynced before the answer; nothing
//! is hashed, parsed or recorded. The same parallel uploads against it and against sagebox tell
//! how much of the host's network-plus-disk path an S3 PUT keeps once it also computes MD5s.
//!
//!     cargo run --release --example ingest_sink -- PORT DIR

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::StatusCode;
use futures_util::StreamExt;

const PIECE: usize = 1 << 20;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(port), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: ingest_sink PORT DIR");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT is a number");
    let dir = Arc::new(std::path::PathBuf::from(dir));
    let next = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().fallback(move |body: Body| {
        let path = dir.join(next.fetch_add(1, Ordering::Relaxed).to_string());
        async move {
            match store(body, path).await {
                Ok(n) => (StatusCode::OK, [("etag", format!("\"{n}\""))]),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, [("etag", e.to_string())]),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the port");
    axum::serve(listener, app).await.expect("serve");
}

/// Writes the body to `path` and fdatasyncs it; returns its length.
async fn store(body: Body, path: std::path::PathBuf) -> std::io::Result<u64> {
    let file = Arc::new(std::fs::File::create(path)?);
    let mut stream = body.into_data_stream();
    let mut piece = bytes::BytesMut::with_capacity(PIECE);
    let mut at = 0u64;
    let mut done = false;
    while !done {
        // Pieces of exactly PIECE bytes, cut where a chunk crosses a piece's end, as sagebox
        // cuts them.
        let mut chunk = match stream.next().await {
            Some(chunk) => chunk.map_err(std::io::Error::other)?,
            None => {
                done = true;
                bytes::Bytes::new()
            }
        };
        while !chunk.is_empty() || (done && !piece.is_empty()) {
            let room = PIECE - piece.len();
            piece.extend_from_slice(&chunk.split_to(room.min(chunk.len())));
            if piece.len() < PIECE && !done {
                continue;
            }
            let bytes = piece.split().freeze();
            piece.reserve(PIECE);
            let (f, len) = (file.clone(), bytes.len() as u64);
            tokio::task::spawn_blocking(move || {
                std::os::unix::fs::FileExt::write_all_at(&*f, &bytes, at)
            })
            .await
            .map_err(std::io::Error::other)??;
            at += len;
        }
    }
    tokio::task::spawn_blocking(move || file.sync_data())
        .await
        .map_err(std::io::Error::other)??;
    Ok(at)
}
