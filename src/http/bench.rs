//! Benchmark probes (off unless `bench.credit_probe = true`; refused at start-up in production).
//!
//! `POST /api/bench/credit-cycle`: reserve and commit one credit through the caller's
//! `SessionActor` — exactly the production credit path, nothing else — so the credit-path
//! benchmark (`scripts/bench/credit-path.sh`) can compare it with pgbench running the same SQL.
//! Off unless `bench.credit_probe = true`; refused at start-up in production.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::AuthUser;
use super::{ApiError, AppState};
use crate::actors::session::ReserveCmd;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/bench/credit-cycle", post(credit_cycle)).route("/api/bench/event", post(push_event))
}

/// Pushes a `balance` event to the caller's sockets through their session (no database):
/// the WebSocket fan-out benchmark measures delivery from request to frame.
async fn push_event(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, ApiError> {
    if !state.settings.file.bench.credit_probe {
        return Err(ApiError::not_found());
    }
    let session = state.actors.sessions.session(user.id);
    let balance = session.balance().await?;
    session.publish(balance.frame());
    Ok(Json(json!({"pushed": true})))
}

async fn credit_cycle(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, ApiError> {
    if !state.settings.file.bench.credit_probe {
        return Err(ApiError::not_found());
    }
    let session = state.actors.sessions.session(user.id);
    let hold = session
        .reserve(ReserveCmd {
            cost: 1,
            purpose: "bench".into(),
            key: format!("bench:{}", uuid::Uuid::new_v4()),
            generation_id: None,
        })
        .await?;
    session.commit(hold.id).await?;
    Ok(Json(json!({"hold_id": hold.id})))
}
