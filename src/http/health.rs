//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The database answers and every actor runs.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db_ok = crate::db::ping(&state.pool, std::time::Duration::from_secs(2)).await;
    let dead = state.actors.health.dead_children();
    let ready = db_ok && dead.is_empty();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"ready": ready, "database": db_ok, "dead_actors": dead})))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("primerka_sessions_live").set(state.actors.sessions.live() as f64);
    metrics::gauge!("primerka_db_pool_connections").set(f64::from(state.pool.size()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.prometheus.render())
}
