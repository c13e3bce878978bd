//! Accepting connections. Every listener sagebox opens (loopback, the Docker bridge) serves the
//! same router through hyper with the limits a server that other processes can reach needs: a
//! connection that sends no request headers, sits idle between requests or stalls inside a body
//! for `--idle-timeout` is closed, and at most `--max-connections` are served at once (the rest
//! wait in the kernel's accept queue, and the log says so).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Which listener a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The address the user chose (`--bind`).
    Main,
    /// The Docker bridge's gateway address, where sagebox's containers call back in.
    Bridge,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub idle: Duration,
    pub max_connections: usize,
}

/// In-flight connections are given this long to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    which: Listener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle)
        .keep_alive(true);
    let mut last_full_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if last_full_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(
                        "connection limit reached: {} connections open on the {which:?} listener; \
                         new ones wait until one closes (raise it with --max-connections)",
                        limits.max_connections
                    );
                    last_full_warning = Some(Instant::now());
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses (headers, then a body from a file) must not wait for Nagle's algorithm.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let app = app.clone();
        let idle = limits.idle;
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let mut req = req.map(|b| Body::new(IdleBody::new(b, idle)));
            req.extensions_mut().insert(which);
            app.clone().oneshot(req)
        });
        let conn = http
            .serve_connection(TokioIo::new(crate::corked::Conn::new(tcp)), service)
            .with_upgrades();
        let mut closing = closing.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { closing.wait_for(|c| *c).await.map(|_| ()) } => {
                    // Finish the request in progress, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("connection closed: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Fails only when no connection is left to watch it: nothing to tell.
    closing_tx.send(true).ok();
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::info!("stopped waiting for open connections after {DRAIN:?}");
    }
    Ok(())
}

/// A request body that fails when no bytes arrive for `idle` while a handler waits for them.
struct IdleBody {
    inner: Incoming,
    idle: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl IdleBody {
    fn new(inner: Incoming, idle: Duration) -> IdleBody {
        IdleBody {
            inner,
            idle,
            deadline: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: no bytes arrived for {0:?}")]
struct Stalled(Duration);

impl hyper::body::Body for IdleBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                // The clock restarts from the next wait.
                this.deadline = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Stalled(idle).into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
