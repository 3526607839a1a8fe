//! `--mode fanout`: many authenticated sockets held open on one server, each receiving events.
//! Every user logs in, reads `/api/me` and keeps `/ws` open (the Mini App's start); then a driver triggers events for random users at a
//! fixed rate — `--trigger event` (`POST /api/bench/event`: the session pushes `balance`, no
//! database) or `--trigger credit-cycle` (a real reserve + commit) — with the server started
//! with `APP__BENCH__CREDIT_PROBE=true`, and each socket measures how long its `balance` event took to
//! arrive after the request was sent. Reports the server's RSS per connected user (from
//! `/proc/<server pid>/status`) and the event-delivery percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use hdrhistogram::Histogram;
use primerka::auth::init_data;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use super::Options;

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Per-user slot: when the last event-triggering request was sent.
type Pending = Arc<Mutex<Option<Instant>>>;

pub async fn run(
    options: &Options,
    http: &reqwest::Client,
    sockets: usize,
    events: usize,
    rate: f64,
    server_pid: Option<u32>,
) -> anyhow::Result<Value> {
    let secret = init_data::secret_key(&options.bot_token);
    let ws_base = options.base_url.replacen("http", "ws", 1);
    let limit = Arc::new(Semaphore::new(64));
    let rss_start = server_pid.and_then(rss_of);

    // Log everyone in.
    let mut logins = Vec::with_capacity(sockets);
    for i in 0..sockets {
        let (http, limit, base) = (http.clone(), limit.clone(), options.base_url.clone());
        let id = options.first_id + i as i64;
        let user = json!({"id": id, "first_name": "Fan", "language_code": "ru"});
        let init = init_data::sign_for_user(&user, chrono::Utc::now().timestamp(), &secret);
        logins.push(tokio::spawn(async move {
            let _permit = limit.acquire().await;
            let body: Value = http
                .post(format!("{base}/api/auth/telegram"))
                .json(&json!({"init_data": init}))
                .send()
                .await?
                .json()
                .await?;
            let token = body["token"].as_str().map(str::to_string).context("login without a token")?;
            // Like the Mini App: the profile and balance after the login, then the socket.
            http.get(format!("{base}/api/me")).bearer_auth(&token).send().await?.error_for_status()?;
            Ok::<_, anyhow::Error>(token)
        }));
    }
    let mut tokens = Vec::with_capacity(sockets);
    for login in logins {
        tokens.push(login.await??);
    }
    let rss_logged_in = server_pid.and_then(rss_of);

    // Open the sockets; each records delivery latency of `balance` events it was waiting for.
    let delivered = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let received = Arc::new(AtomicU64::new(0));
    let mut pendings: Vec<Pending> = Vec::with_capacity(sockets);
    let mut readers = Vec::with_capacity(sockets);
    let connected = Arc::new(AtomicU64::new(0));
    for token in &tokens {
        let pending: Pending = Arc::new(Mutex::new(None));
        pendings.push(pending.clone());
        let url = format!("{ws_base}/ws?token={token}");
        let (limit, delivered, received, connected) =
            (limit.clone(), delivered.clone(), received.clone(), connected.clone());
        readers.push(tokio::spawn(async move {
            let socket = {
                let _permit = limit.acquire().await;
                tokio_tungstenite::connect_async(url).await.map(|(s, _)| s)
            };
            let Ok(socket) = socket else { return };
            connected.fetch_add(1, Ordering::Relaxed);
            let (_sink, mut stream) = socket.split();
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message
                    && text.as_str().starts_with(r#"{"type":"balance""#)
                    && let Some(sent) = pending.lock().await.take()
                {
                    let micros = sent.elapsed().as_micros() as u64;
                    let _ = delivered.lock().unwrap_or_else(|p| p.into_inner()).record(micros.max(1));
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let wait_until = Instant::now() + Duration::from_secs(120);
    while (connected.load(Ordering::Relaxed) as usize) < sockets && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open = connected.load(Ordering::Relaxed) as usize;
    if open < sockets {
        bail!("only {open} of {sockets} sockets connected");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = server_pid.and_then(rss_of);
    // The users only listen from here: once the server's idle sessions stopped, what is left
    // is the sockets themselves.
    let rss_listening = if options.idle_wait.is_zero() {
        None
    } else {
        tokio::time::sleep(options.idle_wait).await;
        server_pid.and_then(rss_of)
    };

    // Drive events at `rate` per second to random users.
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut ticker = tokio::time::interval(interval);
    let mut sent = 0usize;
    let mut failed = 0usize;
    let mut in_flight = Vec::new();
    while sent < events {
        ticker.tick().await;
        let user = rand::rng().random_range(0..sockets);
        let pending = pendings[user].clone();
        if pending.lock().await.is_some() {
            continue;
        }
        *pending.lock().await = Some(Instant::now());
        let (http, token, base, trigger) =
            (http.clone(), tokens[user].clone(), options.base_url.clone(), options.trigger.clone());
        in_flight.push(tokio::spawn(async move {
            http.post(format!("{base}/api/bench/{trigger}"))
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        }));
        sent += 1;
    }
    for request in in_flight {
        if !request.await.unwrap_or(false) {
            failed += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let histogram = delivered.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let per_user = |after: Option<u64>, before: Option<u64>| match (after, before) {
        (Some(a), Some(b)) => json!(a.saturating_sub(b) / sockets as u64),
        _ => Value::Null,
    };
    for reader in readers {
        reader.abort();
    }
    Ok(json!({
        "sockets": sockets,
        "events_sent": sent,
        "events_failed": failed,
        "events_received": received.load(Ordering::Relaxed),
        "delivery_ms": {"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "max": histogram.max() as f64 / 1000.0},
        "server_rss_bytes": {"start": rss_start, "logged_in": rss_logged_in, "connected": rss_connected, "listening": rss_listening},
        "server_bytes_per_connected_user": per_user(rss_connected, rss_start),
        "server_bytes_per_socket_and_session": per_user(rss_connected, rss_logged_in),
        "server_bytes_per_listening_user": per_user(rss_listening, rss_start),
    }))
}
