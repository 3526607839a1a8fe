//! Operator endpoints (Telegram ids in `ADMIN_TELEGRAM_IDS`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::AdminUser;
use super::{ApiError, AppState};
use crate::db;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/ledger/check", get(check_ledger)).route("/api/admin/stats", get(stats))
}

/// Recomputes every balance from the ledger: `{ok, differences}`.
async fn check_ledger(State(state): State<AppState>, admin: AdminUser) -> Result<Json<Value>, ApiError> {
    let differences = db::credits::check(&state.pool).await?;
    if !differences.is_empty() {
        tracing::error!(admin.id = %admin.id, count = differences.len(), "ledger check found differences");
    }
    Ok(Json(json!({"ok": differences.is_empty(), "differences": differences})))
}

async fn stats(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Value>, ApiError> {
    let (users, users_today) = db::users::counts(&state.pool).await?;
    let (assistant_calls, assistant_cost) =
        db::assistant::totals_since(&state.pool, chrono::Utc::now() - chrono::Duration::hours(24)).await?;
    Ok(Json(json!({
        "users": users,
        "users_active_24h": users_today,
        "assistant_calls_24h": assistant_calls,
        "assistant_cost_usd_24h": assistant_cost,
        "sessions_live": state.actors.sessions.live(),
    })))
}
