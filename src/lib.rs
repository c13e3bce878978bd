//! sagebox: the SageMaker and S3 APIs on one local port. This file wires configuration, the
//! store and the services into the state the gateway serves.

pub mod api;
pub mod aws;
pub mod config;
pub mod gateway;
pub mod runtime;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::time::Instant;

use config::Config;
use service::Services;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// The S3 protocol service (s3s) over the object store.
    pub s3: s3s::service::S3Service,
    pub started: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the state store: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot open the object store under {path}: {source}")]
    Objects {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on {addr}: {source} (is another sagebox running? pick another port with --bind)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A server bound to its port, ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
}

impl Server {
    /// Opens the store and binds the listener; errors here are the ones worth telling a user.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let started = Instant::now();
        let addr = config.bind;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let services = Services::open(config)?;
        // Before accepting requests: nothing is being written, so any unreferenced file is an orphan.
        match services.objects.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} orphaned object files left by an earlier run"),
            Err(e) => tracing::warn!("could not sweep orphaned object files: {e}"),
        }
        // Containers and networks an earlier run left behind (found by this data directory's
        // owner label) are removed in the background; Docker may be slow or absent.
        let runtime = services.runtime.clone();
        tokio::spawn(async move {
            match runtime.sweep(|_| false).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("removed {n} containers/networks left by an earlier run"),
                Err(e) => tracing::debug!("no container sweep: {e}"),
            }
        });
        let s3 = api::s3::service(services.objects.clone());
        Ok(Server {
            listener,
            state: AppState {
                services,
                s3,
                started,
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.services.config.bind)
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        let app = gateway::router(self.state);
        // Small responses (headers, then a body from a file) must not wait for Nagle's algorithm.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
