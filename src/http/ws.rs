//! `GET /ws?ticket=<ticket>`: the user's live events. The ticket comes from
//! `POST /api/ws/ticket` (one-time, 30 s; `auth::ws_ticket`) so the session token never travels
//! in a URL; `?token=<jwt>` still works for older clients and scripts (the load tester). The
//! ticket or token — and its token version — is checked before the upgrade;
//! the socket registers in the node's `SocketHub` (where the user's session, the generator and
//! the cluster bus publish), gets `balance` at once — read from the database, or from the user's
//! session when one runs — and keeps no session alive while it only listens. A socket the hub
//! dropped as too slow sees its channel close: it registers again and resends the balance. The
//! registration is a guard, released however the task ends. Heartbeats detect dead peers; the
//! socket closes with 4001 when the token expires and 4008 when the user has too many sockets.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::auth::AuthUser;
use super::{ApiError, AppState};
use crate::actors::events::{BalanceView, Frame};
use crate::actors::session::SessionError;
use crate::actors::sockets::{Subscription, TooManySockets};
use crate::auth::ws_ticket::Ticket;
use crate::domain::ids::UserId;

pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
pub const CLOSE_TOO_MANY_SOCKETS: u16 = 4008;
const CLOSE_UNAVAILABLE: u16 = 1011;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade)).route("/api/ws/ticket", axum::routing::post(ticket))
}

#[derive(Deserialize)]
struct WsQuery {
    ticket: Option<String>,
    token: Option<String>,
}

/// `POST /api/ws/ticket` → `{"ticket", "expires_at"}`: a one-time ticket for `/ws?ticket=`.
async fn ticket(
    State(state): State<AppState>,
    user: AuthUser,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    // The ticket carries the token version the request was checked against.
    let ver = bearer_claims(&state, &headers).map(|c| c.ver).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let (ticket, expires) = state.ws_tickets.issue(Ticket { user: user.id, jwt_exp: user.exp, ver }, now);
    let expires_at = chrono::DateTime::from_timestamp(expires, 0).unwrap_or_else(chrono::Utc::now);
    Ok(axum::Json(serde_json::json!({"ticket": ticket, "expires_at": expires_at})))
}

fn bearer_claims(state: &AppState, headers: &axum::http::HeaderMap) -> Option<crate::auth::jwt::Claims> {
    let header = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer "))?;
    state.jwt.verify(token.trim()).ok().map(|(_, claims)| claims)
}

async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (user, exp, ver) = match (query.ticket.filter(|t| !t.is_empty()), query.token.filter(|t| !t.is_empty())) {
        (Some(ticket), _) => {
            let ticket = state
                .ws_tickets
                .redeem(&ticket, chrono::Utc::now().timestamp())
                .map_err(|_| ApiError::new(crate::domain::errors::ErrorCode::TokenExpired))?;
            (ticket.user, ticket.jwt_exp, ticket.ver)
        }
        (None, Some(token)) => {
            let (user, claims) = state.jwt.verify(&token)?;
            (user, claims.exp, claims.ver)
        }
        (None, None) => return Err(ApiError::unauthorized()),
    };
    super::auth::check_token_version(&state, user, ver).await?;
    let cfg = &state.settings.file.sessions;
    let ws = ws
        .read_buffer_size(cfg.ws_read_buffer_bytes)
        .write_buffer_size(cfg.ws_write_buffer_bytes)
        .max_write_buffer_size(cfg.ws_max_message_bytes.max(cfg.ws_write_buffer_bytes * 4))
        .max_message_size(cfg.ws_max_message_bytes)
        .max_frame_size(cfg.ws_max_message_bytes);
    Ok(ws.on_upgrade(move |socket| run(state, user, exp, ver, socket)))
}

/// Registers the socket and gets the balance to send first.
async fn subscribe(
    state: &AppState,
    user: UserId,
) -> Result<(Subscription, mpsc::Receiver<Frame>, Frame), SessionError> {
    let (tx, rx) = mpsc::channel(64);
    let max = state.settings.file.sessions.max_sockets_per_user;
    // Registered before the balance is read: a change published in between arrives after it.
    let subscription = state
        .actors
        .sessions
        .sockets()
        .subscribe(user, tx, max)
        .map_err(|TooManySockets| SessionError::TooManySockets)?;
    let balance = first_balance(state, user).await?;
    Ok((subscription, rx, balance.frame()))
}

/// The balance a new socket starts with: a plain read of the user's buckets, or the user's
/// session when one runs (its copy is the current one) or when the month's free allowance is due
/// (a write, which only the session makes).
async fn first_balance(state: &AppState, user: UserId) -> Result<BalanceView, SessionError> {
    let sessions = &state.actors.sessions;
    if sessions.is_running(user) {
        return sessions.session(user).balance().await;
    }
    let buckets = crate::db::credits::load_state(&state.pool, user).await?;
    if crate::domain::credits::needs_refresh(&buckets, chrono::Utc::now(), state.tz) {
        return sessions.session(user).balance().await;
    }
    Ok(BalanceView::from_state(&buckets, state.tz))
}

async fn run(state: AppState, user: UserId, exp: i64, ver: i32, socket: WebSocket) {
    metrics::gauge!("primerka_ws_connections").increment(1.0);
    let (mut sink, mut stream) = socket.split();
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
    };

    // Boxed, like the re-registration below: the socket's task (alive as long as the socket) is
    // not sized by these one-off futures.
    let (mut subscription, mut rx, first) = match Box::pin(subscribe(&state, user)).await {
        Ok(s) => s,
        Err(SessionError::TooManySockets) => {
            let _ = sink.send(close(CLOSE_TOO_MANY_SOCKETS, "too many sockets")).await;
            metrics::gauge!("primerka_ws_connections").decrement(1.0);
            return;
        }
        Err(e) => {
            tracing::warn!(user.id = %user, error = %e, "socket could not subscribe");
            let _ = sink.send(close(CLOSE_UNAVAILABLE, "try again")).await;
            metrics::gauge!("primerka_ws_connections").decrement(1.0);
            return;
        }
    };
    let heartbeat_every = Duration::from_secs(state.settings.file.sessions.ws_heartbeat_secs.max(1));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat_every, heartbeat_every);
    let mut beats: u32 = 0;
    let expires_in = Duration::from_secs(u64::try_from(exp - chrono::Utc::now().timestamp()).unwrap_or(0));
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    let mut awaiting_pong = false;

    if sink.send(Message::Text(Utf8Bytes::from(first.to_string()))).await.is_err() {
        metrics::gauge!("primerka_ws_connections").decrement(1.0);
        return;
    }
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(frame) => {
                    if sink.send(Message::Text(Utf8Bytes::from(frame.to_string()))).await.is_err() {
                        break;
                    }
                }
                // The hub dropped us as too slow: register again and resend the balance.
                None => match Box::pin(subscribe(&state, user)).await {
                    Ok((new_subscription, new_rx, balance)) => {
                        subscription = new_subscription;
                        rx = new_rx;
                        if sink.send(Message::Text(Utf8Bytes::from(balance.to_string()))).await.is_err() {
                            break;
                        }
                    }
                    Err(SessionError::TooManySockets) => {
                        let _ = sink.send(close(CLOSE_TOO_MANY_SOCKETS, "too many sockets")).await;
                        break;
                    }
                    Err(_) => {
                        let _ = sink.send(close(CLOSE_UNAVAILABLE, "try again")).await;
                        break;
                    }
                },
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    awaiting_pong = false;
                    if is_ping(text.as_str()) && sink.send(Message::Text(Utf8Bytes::from_static(r#"{"type":"pong","data":{}}"#))).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Pong(_) | Message::Ping(_) | Message::Binary(_))) => awaiting_pong = false,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            _ = heartbeat.tick() => {
                if awaiting_pong {
                    break;
                }
                // A block or delete-my-data revokes the socket too: checked every fourth
                // heartbeat (~100 s), so 10,000 idle sockets cost a few reads a second at most.
                beats = beats.wrapping_add(1);
                if beats.is_multiple_of(4) && matches!(state.token_versions.check(&state.pool, user, ver).await, Ok(Err(_))) {
                    let _ = sink.send(close(CLOSE_TOKEN_EXPIRED, "token revoked")).await;
                    break;
                }
                awaiting_pong = true;
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            _ = &mut expiry => {
                let _ = sink.send(close(CLOSE_TOKEN_EXPIRED, "token expired")).await;
                break;
            }
        }
    }
    drop(subscription);
    metrics::gauge!("primerka_ws_connections").decrement(1.0);
}

fn is_ping(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Incoming<'a> {
        r#type: &'a str,
    }
    serde_json::from_str::<Incoming>(text).is_ok_and(|m| m.r#type == "ping")
}
