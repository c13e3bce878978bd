//! The opt-in AWS HTTPS proxy (`--aws-proxy`). Some clients pin an AWS host and ignore
//! `AWS_ENDPOINT_URL` (the SageMaker SDK asks `https://sts.<region>.amazonaws.com` who the
//! caller is); with `HTTPS_PROXY` pointing here, their CONNECT to such a host is answered
//! locally: TLS is terminated with a certificate from sagebox's own CA and the requests go to
//! the gateway's router, in process. A CONNECT to any other host is a plain byte tunnel.

pub mod ca;
pub mod hosts;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use bytes::Bytes;
use clap::Args;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use ca::LocalCa;

/// Where `--aws-proxy` without an address listens (the API's default port is 4599).
pub const DEFAULT_ADDR: &str = "127.0.0.1:4598";

/// The data directory's subdirectory holding the proxy's CA.
pub const CA_DIR: &str = "aws-proxy";

/// How long a client may take to finish the TLS handshake on an answered CONNECT.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a tunnel may take to reach its host before the client gets a 502.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Default, Args)]
pub struct ProxyOptions {
    /// Also listen as an HTTPS proxy on this loopback address (`--aws-proxy` alone: 127.0.0.1:4598;
    /// SAGEBOX_AWS_PROXY=on|off|ADDR). CONNECTs to the AWS endpoints sagebox serves are answered
    /// by sagebox with certificates from its CA (<data-dir>/aws-proxy/ca.pem); others are
    /// tunnelled untouched. `sagebox env` with the same setting prints HTTPS_PROXY and AWS_CA_BUNDLE.
    #[arg(long = "aws-proxy", env = "SAGEBOX_AWS_PROXY", value_name = "ADDR",
          num_args = 0..=1, default_missing_value = "on", value_parser = parse_setting)]
    pub aws_proxy: Option<ProxySetting>,
}

/// `--aws-proxy`'s value: off, or the loopback address to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySetting(Option<SocketAddr>);

impl ProxyOptions {
    /// The proxy on at `addr` (which should be loopback).
    pub fn at(addr: SocketAddr) -> Self {
        ProxyOptions {
            aws_proxy: Some(ProxySetting(Some(addr))),
        }
    }

    /// The address the proxy listens on, when it is on.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.aws_proxy.and_then(|s| s.0)
    }
}

fn parse_setting(s: &str) -> Result<ProxySetting, String> {
    let addr: SocketAddr = match s.trim().to_ascii_lowercase().as_str() {
        "" | "off" | "false" | "0" | "no" => return Ok(ProxySetting(None)),
        "on" | "true" | "1" | "yes" => DEFAULT_ADDR.parse().map_err(|e| format!("{e}"))?,
        other => other
            .parse()
            .map_err(|_| format!("expected on, off or a loopback address like {DEFAULT_ADDR}"))?,
    };
    // Anyone who can reach the proxy can use it to reach anything the host can: loopback only.
    if !addr.ip().is_loopback() {
        return Err(format!(
            "the AWS proxy listens on a loopback address only (like {DEFAULT_ADDR}), not {addr}"
        ));
    }
    Ok(ProxySetting(Some(addr)))
}

/// A bound proxy listener and the CA its answers are signed with.
pub struct AwsProxy {
    pub listener: TcpListener,
    pub ca: Arc<LocalCa>,
}

impl AwsProxy {
    /// Accepts connections until `stop` turns true; each is served on a task of its own.
    pub async fn run(self, app: Router, mut stop: tokio::sync::watch::Receiver<bool>) {
        let stopped = async move {
            // An error means the sender is gone, which is a stop as well.
            stop.wait_for(|s| *s).await.ok();
        };
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, _)) => {
                        if let Err(e) = tcp.set_nodelay(true) {
                            // Only latency suffers; the connection still works.
                            tracing::debug!("aws-proxy: cannot set TCP_NODELAY: {e}");
                        }
                        tokio::spawn(connection(tcp, app.clone(), self.ca.clone()));
                    }
                    Err(e) => {
                        // Out of descriptors, typically: wait rather than spin.
                        tracing::warn!("aws-proxy: cannot accept a connection: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
                _ = &mut stopped => return,
            }
        }
    }
}

/// One client connection: HTTP/1.1 proxy requests, of which only CONNECT is served.
async fn connection(tcp: TcpStream, app: Router, ca: Arc<LocalCa>) {
    let service = hyper::service::service_fn(move |req| handle(req, app.clone(), ca.clone()));
    if let Err(e) = http1()
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades()
        .await
    {
        tracing::debug!("aws-proxy: connection ended: {e}");
    }
}

async fn handle(
    req: Request<Incoming>,
    app: Router,
    ca: Arc<LocalCa>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::CONNECT {
        // Only HTTPS goes through this proxy (sagebox env sets HTTPS_PROXY, never HTTP_PROXY);
        // plain-HTTP clients reach sagebox at AWS_ENDPOINT_URL directly.
        let mut resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "sagebox's AWS proxy serves CONNECT (HTTPS) only; send plain HTTP to sagebox's endpoint (AWS_ENDPOINT_URL) instead\n",
        );
        resp.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("CONNECT"),
        );
        return Ok(resp);
    }
    let Some((host, port)) = req
        .uri()
        .authority()
        // `[::1]:443` names the address without its brackets.
        .and_then(|a| {
            let host = a.host().trim_start_matches('[').trim_end_matches(']');
            Some((host.to_string(), a.port_u16()?))
        })
    else {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "CONNECT needs a HOST:PORT target\n",
        ));
    };
    if port == 443 && hosts::served(&host) {
        let config = match ca.server_config(&host) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("aws-proxy: no certificate for {host}: {e}");
                return Ok(text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")));
            }
        };
        tracing::debug!(target_host = %host, port, "aws-proxy CONNECT answered by sagebox");
        tokio::spawn(async move {
            let upgraded = match hyper::upgrade::on(req).await {
                Ok(u) => u,
                Err(e) => return tracing::debug!("aws-proxy: no tunnel to {host}: {e}"),
            };
            if let Err(e) = answer(TokioIo::new(upgraded), config, app).await {
                tracing::debug!("aws-proxy: session for {host} ended: {e}");
            }
        });
        return Ok(text(StatusCode::OK, ""));
    }
    // Reached before the client is told yes, so an unreachable host is a 502 it can read.
    let upstream = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Ok(text(
                StatusCode::BAD_GATEWAY,
                &format!("cannot reach {host}:{port}: {e}\n"),
            ));
        }
        Err(_) => {
            return Ok(text(
                StatusCode::GATEWAY_TIMEOUT,
                &format!(
                    "no answer from {host}:{port} within {}s\n",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ));
        }
    };
    tracing::debug!(target_host = %host, port, "aws-proxy CONNECT tunnelled");
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => return tracing::debug!("aws-proxy: no tunnel to {host}:{port}: {e}"),
        };
        let mut client = TokioIo::new(upgraded);
        let mut upstream = upstream;
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!("aws-proxy: tunnel to {host}:{port} ended: {e}");
        }
    });
    Ok(text(StatusCode::OK, ""))
}

/// Terminates TLS on the tunnel and serves what comes through with the gateway's router,
/// each request marked as having come through this proxy.
async fn answer<IO>(
    io: IO,
    config: Arc<rustls::ServerConfig>,
    app: Router,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(io);
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await??;
    let app = tower::ServiceExt::map_request(app, |mut req: Request<Incoming>| {
        req.extensions_mut().insert(crate::guard::ViaAwsProxy);
        req
    });
    http1()
        .serve_connection(
            TokioIo::new(tls),
            hyper_util::service::TowerToHyperService::new(app),
        )
        .with_upgrades()
        .await?;
    Ok(())
}

/// HTTP/1.1 with a timer, so a client that never finishes its request headers is dropped
/// (hyper's default header-read timeout, 30 s, applies only with a timer).
fn http1() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new());
    builder
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *resp.status_mut() = status;
    if !body.is_empty() {
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_on_off_or_a_loopback_address() {
        let on = parse_setting("on").unwrap();
        assert_eq!(on.0, Some(DEFAULT_ADDR.parse().unwrap()));
        assert_eq!(parse_setting("off").unwrap().0, None);
        assert_eq!(parse_setting("").unwrap().0, None);
        assert_eq!(
            parse_setting("127.0.0.1:9000").unwrap().0,
            Some("127.0.0.1:9000".parse().unwrap())
        );
        assert!(parse_setting("[::1]:9000").is_ok());
        let err = parse_setting("0.0.0.0:9000").unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(parse_setting("nonsense").is_err());
    }
}
