//! The HTTP accept loop: hyper-util's auto builder (HTTP/1.1 with upgrades, HTTP/2) with the
//! limits `axum::serve` lacks (issue 15, slow clients):
//!
//! - **first byte / header read**: a connection must start and finish a request's headers
//!   within `server.header_read_timeout_secs`. The first byte is awaited here (hyper's own
//!   timer only starts once it parses); hyper's `header_read_timeout` covers the rest, and
//!   since hyper arms it whenever it waits for the next request, it is the idle timeout of a
//!   keep-alive connection too. Its timer is the connection's own [`ConnectionTimer`] (one
//!   tokio sleep per connection, moved only when it fires), not one timer-wheel entry per
//!   request. HTTP/2 connections are pinged and closed when pings go unanswered.
//! - **connection cap**: at most `server.max_connections` are served at once; beyond it the
//!   accept loop waits (new connections queue in the kernel's backlog).
//! - **graceful shutdown**: once `shutdown` resolves, no new connection is accepted and the
//!   open ones finish their requests, for at most `grace`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
    builder.http1().header_read_timeout(limits.header_read_timeout).keep_alive(true);
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
        let mut builder = builder.clone();
        builder.http1().timer(ConnectionTimer::default());
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

/// hyper's HTTP/1 header-read timer for one connection.
///
/// hyper asks its timer for a new sleep whenever it starts waiting for a request's head and drops
/// it once the head is read; with a plain tokio sleep that is one entry put into and taken out of
/// the runtime's timer wheel (under its lock) per request, a measurable part of a short request
/// on two cores (BENCHMARKS.md, "Login: the seventh pass"). Here each of hyper's sleeps is only
/// its deadline, and the connection keeps one tokio sleep that wakes the connection no later than
/// the earliest deadline still running: it is moved only when it fires before the deadline it now
/// guards (then to that deadline: at most once per timeout while requests keep coming) or when a
/// deadline is earlier than it. A deadline that has passed is ready, so a slow or silent client
/// is cut off exactly as with tokio's own timer.
#[derive(Clone, Default)]
struct ConnectionTimer(Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>);

/// One of hyper's sleeps: a deadline, woken by its connection's sleep.
struct Deadline {
    timer: ConnectionTimer,
    at: tokio::time::Instant,
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline { timer: self.clone(), at: deadline.into() })
    }

    /// tokio's clock (the same as the system's, unless a test paused it).
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Deadline>() {
            Some(mut deadline) => deadline.at = new_deadline.into(),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        if tokio::time::Instant::now() >= at {
            return Poll::Ready(());
        }
        let mut shared = self.timer.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let sleep = shared.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        // Fired before this deadline (it guarded an earlier one), or set after it: guard this one.
        if sleep.is_elapsed() || sleep.deadline() > at {
            sleep.as_mut().reset(at);
        }
        // Registers this connection's waker; ready only once `at` has passed.
        sleep.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use hyper::rt::Timer;

    use super::*;

    /// Polls once: ready or not.
    async fn ready(sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> bool {
        poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx).is_ready())).await
    }

    #[tokio::test(start_paused = true)]
    async fn each_deadline_fires_on_time_though_the_connection_keeps_one_sleep() {
        let timer = ConnectionTimer::default();
        let ten = Duration::from_secs(10);
        // A request head awaited from t=0 and read at t=4: its sleep is dropped.
        let mut first = timer.sleep_until(timer.now() + ten);
        assert!(!ready(&mut first).await);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(!ready(&mut first).await);
        drop(first);
        // The next head is awaited from t=4: the sleep armed for t=10 must not end it.
        let mut second = timer.sleep_until(timer.now() + ten);
        assert!(!ready(&mut second).await);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(!ready(&mut second).await, "a later deadline ended at an earlier one's time");
        tokio::time::advance(Duration::from_millis(3_999)).await;
        assert!(!ready(&mut second).await);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(ready(&mut second).await, "t=14 is the second deadline");
        // An earlier deadline than the one armed (hyper's reset) is kept too.
        let mut third = timer.sleep_until(timer.now() + ten);
        assert!(!ready(&mut third).await);
        timer.reset(&mut third, timer.now() + Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(ready(&mut third).await);
    }

    #[tokio::test(start_paused = true)]
    async fn the_connection_is_woken_when_its_deadline_passes() {
        let timer = ConnectionTimer::default();
        let mut sleep = timer.sleep_until(timer.now() + Duration::from_secs(10));
        let started = tokio::time::Instant::now();
        // Awaited like hyper's connection task does: woken by the shared sleep, not by polling.
        (&mut sleep).await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        // A second deadline on the same connection, after the shared sleep fired once.
        let mut next = timer.sleep_until(timer.now() + Duration::from_secs(10));
        (&mut next).await;
        assert_eq!(started.elapsed(), Duration::from_secs(20));
    }
}
