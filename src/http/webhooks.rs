//! Provider notifications. Each is a hint, not the truth: it is authenticated (secret token,
//! IP allowlist, per-generation token) and, where money or results are involved, verified by
//! fetching the object back from the provider.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::Mac;
use secrecy::ExposeSecret;

use super::{ApiError, AppState};
use crate::bot::{self, Update};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/telegram", post(telegram))
}

/// Telegram updates: the `X-Telegram-Bot-Api-Secret-Token` header must carry our secret.
async fn telegram(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    let given = headers.get("x-telegram-bot-api-secret-token").map(|v| v.as_bytes()).unwrap_or_default();
    if !constant_time_eq(given, state.settings.secrets.telegram_webhook_secret.expose_secret().as_bytes()) {
        metrics::counter!("primerka_webhooks_rejected_total", "provider" => "telegram").increment(1);
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized"));
    }
    let update: Update = serde_json::from_slice(&body).map_err(|e| ApiError::invalid_body(e.to_string()))?;
    bot::handle_update(&state, update).await;
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
