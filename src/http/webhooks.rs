//! Provider notifications. Each is a hint, not the truth: it is authenticated (secret token,
//! IP allowlist, per-generation token) and, where money or results are involved, the actor that
//! owns the work verifies it by fetching the object back from the provider.
//!
//! - `POST /webhooks/telegram`: the bot's updates (`X-Telegram-Bot-Api-Secret-Token`).
//! - `POST /webhooks/yookassa`: only from YooKassa's networks (`X-Forwarded-For` only from our
//!   trusted proxies); the PaymentActor fetches the payment back and settles it
//!   (`payment.*`), or fetches the refund back and applies it once (`refund.succeeded`).
//! - `POST /webhooks/kie/{token}`: wakes the job's worker, which re-reads the task from kie.ai.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::Mac;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::{ApiError, AppState, client_ip};
use crate::actors::payments::PaymentError;
use crate::bot::Update;
use crate::db::generations as gen_db;
use crate::domain::errors::ErrorCode;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/telegram", post(telegram))
        .route("/webhooks/yookassa", post(yookassa))
        .route("/webhooks/kie/{token}", post(kie))
}

/// Telegram updates: the `X-Telegram-Bot-Api-Secret-Token` header must carry our secret. A Stars
/// payment that could not be stored answers 503, so Telegram delivers it again.
async fn telegram(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    let given = headers.get("x-telegram-bot-api-secret-token").map(|v| v.as_bytes()).unwrap_or_default();
    if !constant_time_eq(given, state.settings.secrets.telegram_webhook_secret.expose_secret().as_bytes()) {
        metrics::counter!("primerka_webhooks_rejected_total", "provider" => "telegram").increment(1);
        return Err(ApiError::unauthorized());
    }
    let update: Update = serde_json::from_slice(&body).map_err(|e| ApiError::invalid_body(e.to_string()))?;
    state.bot.handle_update(update).await.map_err(|e| ApiError::unavailable(ErrorCode::Unavailable, e))?;
    Ok(StatusCode::OK)
}

async fn yookassa(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let ip = client_ip(&headers, Some(peer), &state.trusted_proxies);
    let allowed = ip.is_some_and(|ip| state.webhook_networks.iter().any(|n| n.contains(&ip)));
    if !allowed {
        tracing::warn!(ip = ?ip, "a YooKassa notification from outside YooKassa's networks was refused");
        return Err(ApiError::forbidden());
    }
    let Some(notice) = yookassa_notification(&body).map_err(ApiError::invalid_body)? else {
        return Ok(StatusCode::OK);
    };
    // A transient failure answers 5xx so YooKassa sends the notification again.
    let applied = match notice {
        YooKassaNotice::Payment(provider_id) => state.actors.payments.notified(provider_id).await,
        // A refund made in YooKassa's dashboard (or ours, again): fetched back, applied once.
        YooKassaNotice::Refund(refund_id) => state.actors.payments.refund_notified(refund_id).await,
    };
    match applied {
        Ok(()) => Ok(StatusCode::OK),
        Err(e @ (PaymentError::Db(_) | PaymentError::Unavailable(_) | PaymentError::ActorUnavailable)) => {
            Err(ApiError::unavailable(ErrorCode::PaymentUnavailable, e))
        }
        Err(e) => {
            tracing::warn!(error = %e, "a YooKassa notification could not be applied");
            Ok(StatusCode::OK)
        }
    }
}

/// What a YooKassa notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YooKassaNotice {
    /// `payment.*`: the payment's id.
    Payment(String),
    /// `refund.succeeded`: the refund's id.
    Refund(String),
}

/// The YooKassa object a notification is about (`payment.*` and `refund.succeeded` events with
/// an object id); other events are `None`. The notification is only a hint: the object is
/// re-fetched from YooKassa.
pub fn yookassa_notification(body: &[u8]) -> Result<Option<YooKassaNotice>, String> {
    let event: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Some(id) = event["object"]["id"].as_str() else { return Ok(None) };
    Ok(match event["event"].as_str() {
        Some(name) if name.starts_with("payment.") => Some(YooKassaNotice::Payment(id.to_string())),
        Some("refund.succeeded") => Some(YooKassaNotice::Refund(id.to_string())),
        _ => None,
    })
}

/// kie.ai's callback: answered at once; the job's worker re-reads the task from kie.ai.
async fn kie(State(state): State<AppState>, Path(token): Path<String>) -> Result<StatusCode, ApiError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found());
    }
    let Some((id, _user)) = gen_db::by_callback_token(&state.pool, &token).await? else {
        return Err(ApiError::not_found());
    };
    state.actors.generator.wake(id);
    Ok(StatusCode::OK)
}

/// Compares secrets without leaking where they differ (HMAC both, compare the tags).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let key: [u8; 32] = rand::random();
    let tag = |data: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC-SHA-256 accepts any key length");
        mac.update(data);
        mac.finalize().into_bytes()
    };
    let expected = tag(b);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC-SHA-256 accepts any key length");
    mac.update(a);
    mac.verify_slice(&expected).is_ok()
}
