//! Hosting: models, endpoint configurations and endpoints. Each operation checks the rules
//! SageMaker applies beyond the request model, then stores through `service::resources`;
//! endpoints run their containers through `fleet` and are reached through `routes`.

mod component_run;
#[cfg(test)]
mod component_tests;
pub mod components;
mod deploy;
mod endpoint_configs;
pub mod endpoints;
pub mod fleet;
mod models;
mod recovery;
pub mod routes;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use endpoints::Deployment;

use crate::service::{ServiceError, ServiceResult};

/// The HTTP client sagebox uses to reach serving containers: pooled keep-alive connections.
pub type ContainerClient = Client<HttpConnector, Body>;

/// In-memory hosting state: routes for InvokeEndpoint, the running deployments, and one lock per
/// endpoint so that create, update and delete take turns.
#[derive(Clone)]
pub struct Hosting {
    pub routes: routes::Routes,
    pub client: ContainerClient,
    deployments: Arc<Mutex<HashMap<String, Arc<Deployment>>>>,
    /// Each inference component's copies: a deployment of one variant (the one it is on).
    components: Arc<Mutex<HashMap<String, Arc<Deployment>>>>,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Default for Hosting {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        Hosting {
            routes: routes::Routes::default(),
            client,
            deployments: Arc::default(),
            components: Arc::default(),
            locks: Arc::default(),
        }
    }
}

impl Hosting {
    /// GET /ping on a container's loopback port: true on 200.
    pub async fn ping(&self, port: u16) -> bool {
        let Ok(req) =
            http::Request::get(format!("http://127.0.0.1:{port}/ping")).body(Body::empty())
        else {
            return false;
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.client.request(req)).await,
            Ok(Ok(resp)) if resp.status() == http::StatusCode::OK
        )
    }

    fn lock(&self, endpoint: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(endpoint.to_ascii_lowercase())
            .or_default()
            .clone()
    }

    fn deployment(&self, endpoint: &str) -> Option<Arc<Deployment>> {
        self.deployments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&endpoint.to_ascii_lowercase())
            .cloned()
    }

    fn set_deployment(&self, endpoint: &str, d: Option<Arc<Deployment>>) {
        put(&self.deployments, endpoint, d);
    }

    fn component(&self, name: &str) -> Option<Arc<Deployment>> {
        self.components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    fn set_component(&self, name: &str, d: Option<Arc<Deployment>>) {
        put(&self.components, name, d);
    }
}

fn put(map: &Mutex<HashMap<String, Arc<Deployment>>>, name: &str, d: Option<Arc<Deployment>>) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    match d {
        Some(d) => map.insert(name.to_ascii_lowercase(), d),
        None => map.remove(&name.to_ascii_lowercase()),
    };
}

/// A member the model requires: the api layer checked it, so a miss is a model/service mismatch.
fn required(member: Option<String>, name: &str) -> ServiceResult<String> {
    member.ok_or_else(|| {
        ServiceError::Validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            crate::service::lower_first(name)
        ))
    })
}
