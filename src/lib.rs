//! sagebox: the SageMaker and S3 APIs on one local port. This file wires configuration, the
//! store and the services into the state the gateway serves.

pub mod agent;
pub mod api;
pub mod aws;
pub mod awsproxy;
pub mod config;
pub mod console;
pub mod corked;
pub mod ephemeral;
pub mod gateway;
pub mod guard;
pub mod hostenv;
pub mod html;
pub mod listener;
pub mod runtime;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::time::Instant;

use config::Config;
use service::Services;

/// What every request handler can reach. Shared, not copied: the router hands each request a
/// clone of its state, and a clone of `Services` (a few dozen reference counts) was 3% of a
/// DescribeModel's instructions.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    pub services: Services,
    /// The S3 protocol service (s3s) over the object store.
    pub s3: s3s::service::S3Service,
    pub started: Instant,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
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
    #[error("{0}")]
    AwsProxy(#[from] awsproxy::ca::CaError),
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
    aws_proxy: Option<awsproxy::AwsProxy>,
    state: AppState,
}

impl Server {
    /// Opens the store and binds the listener; errors here are the ones worth telling a user.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        if config.auth == config::AuthMode::Strict && config.credentials.is_empty() {
            return Err(StartError::Config(
                "--auth strict needs at least one --credentials KEY:SECRET (or SAGEBOX_CREDENTIALS)"
                    .into(),
            ));
        }
        let started = Instant::now();
        let addr = config.bind;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let aws_proxy = match config.aws_proxy.addr() {
            Some(addr) => Some(awsproxy::AwsProxy {
                listener: tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
                ca: std::sync::Arc::new(hostenv::proxy_ca(&config.data_dir)?),
            }),
            None => None,
        };
        let services = Services::open(config)?;
        // The files `sagebox env` exports are rewritten, in case the data dir was wiped since.
        if let Err(e) = hostenv::write_sdk_config(services.config()) {
            tracing::warn!("cannot write the SageMaker SDK defaults file: {e}");
        }
        if let Some(p) = &aws_proxy
            && let Err(e) = p.ca.write_bundle()
        {
            tracing::warn!("cannot write the AWS proxy's CA bundle: {e}");
        }
        // Before accepting requests: nothing is being written, so any unreferenced file is an orphan.
        match services.objects().sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} orphaned object files left by an earlier run"),
            Err(e) => tracing::warn!("could not sweep orphaned object files: {e}"),
        }
        if let Ok(local) = listener.local_addr() {
            services.set_api_port(local.port());
        }
        // pipeline steps call SageMaker through the same checks and handlers as clients do
        services.set_sagemaker_api(api::sagemaker::call);
        if !services.config().no_samples {
            match services.seed_samples().await {
                Ok(0) => {}
                Ok(n) => tracing::info!("seeded the sample bucket with {n} objects"),
                Err(e) => tracing::warn!("could not seed the sample bucket: {e}"),
            }
        }
        // Jobs an earlier run left in progress are re-adopted (or failed), and containers nobody
        // claims are removed, in the background: Docker may be slow or absent.
        tokio::spawn(services.clone().recover());
        let s3 = api::s3::service(services.objects().clone());
        Ok(Server {
            listener,
            aws_proxy,
            state: AppState(std::sync::Arc::new(Shared {
                services,
                s3,
                started,
            })),
        })
    }

    /// The services behind this server (they outlive `run`: `sagebox run` cleans up with them).
    pub fn services(&self) -> &Services {
        &self.state.services
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.services.config().bind)
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use listener::{Limits, Listener};
        let app = gateway::router(self.state.clone());
        let access = &self.state.services.config().access;
        let limits = Limits {
            idle: std::time::Duration::from_secs(access.idle_timeout.max(1)),
            max_connections: access.max_connections,
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if let Some(proxy) = self.aws_proxy.take() {
            if let Ok(addr) = proxy.listener.local_addr() {
                tracing::info!(
                    "AWS HTTPS proxy on http://{addr} (CA {})",
                    proxy.ca.cert_path().display()
                );
            }
            tokio::spawn(proxy.run(app.clone(), stop_rx.clone()));
        }
        // Containers reach sagebox as host.docker.internal, i.e. the Docker bridge's gateway
        // address; listen there too (unless already listening on every interface).
        let bind = self.state.services.config().bind;
        if !bind.ip().is_unspecified() {
            let services = self.state.services.clone();
            let port = self.local_addr().port();
            let app = app.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let Some(ip) = services.bridge_gateway().await else {
                    return;
                };
                match tokio::net::TcpListener::bind((ip, port)).await {
                    Ok(l) => {
                        tracing::info!(
                            "containers reach sagebox at http://{ip}:{port} (host.docker.internal)"
                        );
                        let stopped = async move {
                            // An error means the sender is gone, which is a stop as well.
                            stop.wait_for(|s| *s).await.ok();
                        };
                        if let Err(e) =
                            listener::serve(l, app, Listener::Bridge, limits, stopped).await
                        {
                            tracing::warn!("the Docker bridge listener {ip}:{port} stopped: {e}");
                        }
                    }
                    Err(e) => tracing::warn!(
                        "cannot listen on the Docker bridge address {ip}:{port} ({e}); containers will not reach sagebox"
                    ),
                }
            });
        }
        let result = listener::serve(self.listener, app, Listener::Main, limits, shutdown).await;
        // rows the Feature Store's offline store still holds go out before the process ends
        self.state.services.flush_offline_store().await;
        // Fails only when the bridge listener has ended already: nobody left to stop.
        stop_tx.send(true).ok();
        result
    }
}
