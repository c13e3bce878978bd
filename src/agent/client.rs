//! The agent's HTTP client: plain HTTP/1.1 to sagebox (hyper-util's pooled client), with a few
//! retries for the failures a cluster shows while it settles (a refused or timed-out connection,
//! a proxy's 502/503/504), and errors worded for the person who reads a job's log.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type ReqBody = BoxBody<Bytes, io::Error>;

/// Waits before each retry; one more try than there are waits.
const BACKOFF_MS: [u64; 5] = [250, 500, 1000, 2000, 4000];

pub struct AgentClient {
    http: Client<HttpConnector, ReqBody>,
}

impl Default for AgentClient {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.set_nodelay(true);
        AgentClient {
            http: Client::builder(TokioExecutor::new()).build(connector),
        }
    }
}

/// An empty request body.
pub fn empty() -> ReqBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Why a request did not succeed: the status sagebox answered, if it answered.
#[derive(Debug)]
pub struct Failure {
    pub status: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            status: None,
            message,
        }
    }
}

impl AgentClient {
    /// Sends the request `make` builds (again for each try) and answers a 2xx response; any
    /// other outcome is a message naming the method, URL and what came back.
    pub async fn send(
        &self,
        make: &mut (dyn FnMut() -> Result<http::Request<ReqBody>, String> + Send),
    ) -> Result<http::Response<Incoming>, Failure> {
        let mut waits = BACKOFF_MS.iter();
        loop {
            let req = make()?;
            let what = format!("{} {}", req.method(), req.uri());
            let retry = match self.http.request(req).await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) if matches!(resp.status().as_u16(), 502..=504) => {
                    format!("{what}: {}", resp.status())
                }
                Ok(resp) => {
                    let status = resp.status();
                    let line = first_line(resp.into_body()).await;
                    return Err(Failure {
                        status: Some(status.as_u16()),
                        message: format!("{what}: {status}: {line}"),
                    });
                }
                Err(e) if e.is_connect() => format!("{what}: cannot connect: {}", chain(&e)),
                Err(e) => return Err(format!("{what}: {}", chain(&e)).into()),
            };
            match waits.next() {
                Some(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                None => return Err(retry.into()),
            }
        }
    }
}

/// The first line of an error body (at most a few KB are read).
async fn first_line(mut body: Incoming) -> String {
    let mut text = Vec::new();
    while text.len() < 4096 {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    text.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&text);
    text.lines().next().unwrap_or("").trim().to_string()
}

/// An error with its causes, which is where hyper puts the useful part ("connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
