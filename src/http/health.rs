//! Liveness, readiness and Prometheus metrics.
//!
//! Internals are private (`http::access`): `/metrics` and the details of `/readyz` (database,
//! dead actors) answer a caller with `METRICS_TOKEN` as a bearer token, or a loopback caller
//! outside production. Everyone else gets `404` from `/metrics` and `{"ready": bool}` from
//! `/readyz`. `server.metrics_port` serves `/metrics` on a listener of its own (bind it to a
//! private address), open to whoever reaches it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use crate::config::AppEnv;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(public_metrics))
}

/// The router of the private metrics listener (`server.metrics_port`).
pub fn private_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(state)
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Whether this request may see internals.
fn internal(state: &AppState, headers: &HeaderMap, extensions: &axum::http::Extensions) -> bool {
    super::access::internal_caller(
        headers,
        super::peer_addr(extensions),
        &state.trusted_proxies,
        state.settings.secrets.metrics_token.as_ref(),
        state.settings.env != AppEnv::Production,
    )
}

/// The database answers and every actor runs; the details only for internal callers.
async fn readyz(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let db_ok = crate::db::ping(&state.pool, std::time::Duration::from_secs(2)).await;
    let dead = state.actors.health.dead_children();
    let ready = db_ok && dead.is_empty();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if internal(&state, request.headers(), request.extensions()) {
        (status, Json(json!({"ready": ready, "database": db_ok, "dead_actors": dead}))).into_response()
    } else {
        (status, Json(json!({"ready": ready}))).into_response()
    }
}

async fn public_metrics(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    if !internal(&state, request.headers(), request.extensions()) {
        return super::ApiError::not_found().into_response();
    }
    metrics(State(state)).await.into_response()
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("primerka_sessions_live").set(state.actors.sessions.live() as f64);
    metrics::gauge!("primerka_db_pool_connections").set(f64::from(state.pool.size()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.prometheus.render())
}
