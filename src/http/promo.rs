//! `POST /api/promo/redeem {code}`: a user redeems a promo code. Credits → `{"credits": n}`;
//! a discount → `{"discount_percent": p, "product": id}`, applied to the user's next payment of
//! that product (the YooKassa amount and receipt). The PaymentActor does the work.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AuthUser;
use super::{ApiError, ApiJson, AppState};
use crate::db::promo::Redeemed;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/promo/redeem", post(redeem))
}

#[derive(Deserialize)]
struct RedeemBody {
    code: String,
}

/// Codes are case-insensitive: stored and compared in upper case, 3–32 letters, digits, `-`, `_`.
pub fn normalise_code(code: &str) -> Option<String> {
    let code = code.trim().to_uppercase();
    let ok = (3..=32).contains(&code.chars().count())
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(code)
}

async fn redeem(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<RedeemBody>,
) -> Result<Json<Value>, ApiError> {
    // A code that cannot exist is simply not found (no hint about the format).
    let Some(code) = normalise_code(&body.code) else {
        return Err(crate::domain::errors::ErrorCode::PromoNotFound.into());
    };
    Ok(Json(match state.actors.payments.redeem_promo(user.id, code).await? {
        Redeemed::Credits(credits) => json!({"credits": credits}),
        Redeemed::Discount { percent, product } => json!({"discount_percent": percent, "product": product}),
    }))
}
