//! A small HTTP load generator for `make bench`: C connections POST the same body to a URL for
//! S seconds, each connection sending its next request as soon as the last answer is read, then
//! requests per second and latency percentiles are printed as one JSON line.
//!
//!     cargo run --release --example loadgen -- URL CONNECTIONS SECONDS BODY [HEADER: VALUE]...

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: loadgen URL CONNECTIONS SECONDS BODY [HEADER: VALUE]...");
        std::process::exit(2);
    }
    let url = args[0].clone();
    let connections: usize = args[1].parse().unwrap_or(16);
    let seconds: u64 = args[2].parse().unwrap_or(10);
    let body = Bytes::from(args[3].clone());
    let headers: Vec<(String, String)> = args[4..]
        .iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (url, body, headers) = (url.clone(), body.clone(), headers.clone());
        tasks.push(tokio::spawn(async move {
            // one client per task: each holds its own keep-alive connection
            let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build(HttpConnector::new());
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let mut req = http::Request::post(&url);
                for (k, v) in &headers {
                    req = req.header(k, v);
                }
                let Ok(req) = req.body(Full::new(body.clone())) else {
                    errors += 1;
                    continue;
                };
                let t0 = Instant::now();
                match client.request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let read = resp.into_body().collect().await.is_ok();
                        if ok && read {
                            latencies.push(t0.elapsed().as_micros() as u64);
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(seconds as f64);
    all.sort_unstable();
    let pct = |p: f64| -> u64 {
        if all.is_empty() {
            return 0;
        }
        all[((all.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "{{\"requests\": {}, \"errors\": {errors}, \"rps\": {:.1}, \"p50_us\": {}, \"p90_us\": {}, \"p99_us\": {}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99)
    );
}
