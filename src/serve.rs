//! The HTTP accept loop: hyper-util's auto builder (HTTP/1.1 with upgrades, HTTP/2) with the
//! limits `axum::serve` lacks (issue 15, slow clients):
//!
//! - **first byte / header read**: a connection must start and finish a request's headers
//!   within `server.header_read_timeout_secs`. The first byte is awaited here (hyper's own
//!   timer only starts once it parses); hyper's `header_read_timeout` covers the rest, and
//!   since hyper arms it whenever it waits for the next request, it is the idle timeout of a
//!   keep-alive connection too. HTTP/2 connections are pinged and closed when pings go
//!   unanswered.
//! - **connection cap**: at most `server.max_connections` are served at once; beyond it the
//!   accept loop waits (new connections queue in the kernel's backlog).
//! - **graceful shutdown**: once `shutdown` resolves, no new connection is accepted and the
//!   open ones finish their requests, for at most `grace`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// What bounds a connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        let s = &settings.file.server;
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(s.header_read_timeout_secs.max(1)),
            max_connections: s.max_connections.max(1),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        metrics::gauge!("primerka_http_connections").set((limits.max_connections - slots.available_permits()) as f64);
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let first_byte = limits.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            if !request_starts(&stream, first_byte).await {
                metrics::counter!("primerka_http_connections_timed_out_total").increment(1);
                return;
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

/// Waits for a request to begin: one byte for HTTP/1 (hyper's header timer takes over), or the
/// whole 24-byte HTTP/2 preface when the client starts one (hyper reads it before any timer).
async fn request_starts(stream: &TcpStream, within: Duration) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let wait = async {
        let mut buf = [0u8; 24];
        let mut seen = 0;
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if buf[..n.min(PREFACE.len())] != PREFACE[..n.min(PREFACE.len())] => return true,
                Ok(n) if n >= PREFACE.len() => return true,
                Ok(n) if n == seen => tokio::time::sleep(Duration::from_millis(20)).await,
                Ok(n) => seen = n,
            }
        }
    };
    tokio::time::timeout(within, wait).await.unwrap_or(false)
}
