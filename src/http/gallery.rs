//! The user's generations (docs/API.md):
//!
//! - `GET /api/generations` (cursor paging, newest first; `?active=1`: the unfinished ones),
//!   `GET /api/generations/{id}`: plain reads.
//! - `DELETE /api/generations/{id}` and `POST /api/generations/{id}/send` (the bot sends the
//!   result to the user's chat as a photo and as a file): the user's session does them.
//! - `POST /api/generations/{id}/cancel` → `{"status": "canceled"}` once the job left the
//!   queue and its hold was released; `409 not_cancellable` when a worker took it (a kie.ai task
//!   may exist). The session asks the generator pool.
//! - `POST /api/generations/{id}/rating {"rating": "up"|"down", "reason"?}`: the session stores it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::request_lang;
use super::{ApiError, AppState};
use crate::db::generations::{self as gen_db, GenerationRow};
use crate::db::types::{GenerationKind, GenerationStatus};
use crate::domain::errors::ErrorCode;
use crate::domain::i18n::Lang;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/generations", get(list_generations))
        .route("/api/generations/{id}", get(get_generation).delete(delete_generation))
        .route("/api/generations/{id}/send", post(send_generation))
        .route("/api/generations/{id}/cancel", post(cancel_generation))
        .route("/api/generations/{id}/rating", post(rate_generation))
}

/// Why a generation failed, in the user's language, and whether its credits came back.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export_to = "GenerationView.ts")]
pub struct GenerationError {
    pub code: ErrorCode,
    pub message: String,
    pub credits_returned: bool,
}

/// A user's rating of a result (stored as +1 / -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

/// A generation as the gallery and the progress screen see it.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export_to = "GenerationView.ts")]
pub struct GenerationView {
    pub id: Uuid,
    pub kind: GenerationKind,
    pub category: Option<String>,
    pub status: GenerationStatus,
    pub stage: Option<String>,
    pub result_url: Option<String>,
    /// The main input (the person photo of a try-on, the edited image of an edit) for a
    /// before/after comparison; absent once that photo is gone.
    pub input_url: Option<String>,
    /// The user's rating.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<Rating>,
    pub watermarked: bool,
    pub cost: i32,
    pub refunded: bool,
    pub error: Option<GenerationError>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One page of the gallery.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export_to = "GenerationView.ts")]
pub struct GenerationPage {
    pub items: Vec<GenerationView>,
    pub next_cursor: Option<String>,
}

fn generation_view(state: &AppState, row: &GenerationRow, lang: Lang) -> GenerationView {
    GenerationView {
        id: row.id,
        kind: row.kind,
        category: row.category.clone(),
        status: row.status,
        stage: row.stage.clone(),
        result_url: row.result_key.as_deref().map(|k| state.signed(k)),
        input_url: row.input_keys.first().map(|k| state.signed(k)),
        rating: row.rating.map(|r| if r > 0 { Rating::Up } else { Rating::Down }),
        watermarked: row.watermarked,
        cost: row.cost,
        refunded: row.refunded,
        error: row.error_code.map(|code| GenerationError {
            code,
            message: code.message(lang).to_string(),
            credits_returned: row.refunded,
        }),
        created_at: row.created_at,
        finished_at: row.finished_at,
    }
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
    /// `active=1`: only unfinished jobs, newest first, one page (no cursor): what the Mini App
    /// re-reads after a reconnect, when it comes back to the foreground or is opened again.
    active: Option<String>,
}

fn encode_cursor(row: &GenerationRow) -> String {
    format!("{}_{}", row.created_at.timestamp_micros(), row.id.simple())
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = cursor.split_once('_')?;
    Some((DateTime::from_timestamp_micros(micros.parse().ok()?)?, Uuid::parse_str(id).ok()?))
}

async fn list_generations(
    State(state): State<AppState>,
    user: AuthUser,
    headers: axum::http::HeaderMap,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<GenerationPage>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let lang = request_lang(&headers);
    match query.active.as_deref() {
        None | Some("" | "0" | "false") => {}
        Some("1" | "true") => {
            let rows = gen_db::active_for_user(&state.pool, user.id, limit).await?;
            let items = rows.iter().map(|r| generation_view(&state, r, lang)).collect();
            return Ok(Json(GenerationPage { items, next_cursor: None }));
        }
        Some(_) => return Err(ApiError::validation("active")),
    }
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).ok_or(ApiError::validation("cursor"))?),
    };
    let rows = gen_db::list_for_user(&state.pool, user.id, before, limit + 1).await?;
    let next_cursor = (rows.len() as i64 > limit).then(|| encode_cursor(&rows[limit as usize - 1]));
    let items = rows.iter().take(limit as usize).map(|r| generation_view(&state, r, lang)).collect();
    Ok(Json(GenerationPage { items, next_cursor }))
}

async fn get_generation(
    State(state): State<AppState>,
    user: AuthUser,
    headers: axum::http::HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<GenerationView>, ApiError> {
    let row = gen_db::get_for_user(&state.pool, user.id, id).await?;
    Ok(Json(generation_view(&state, &row, request_lang(&headers))))
}

async fn delete_generation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.actors.sessions.session(user.id).delete_generation(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn send_generation(
    State(state): State<AppState>,
    user: AuthUser,
    headers: axum::http::HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.actors.sessions.session(user.id).send_generation(id, request_lang(&headers)).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn cancel_generation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.actors.sessions.session(user.id).cancel_generation(id).await?;
    // The pool fails the job and releases its hold right after taking it out of the queue:
    // answer once that is written, so the balance the app re-reads has the credits back.
    for _ in 0..60 {
        if gen_db::get_for_user(&state.pool, user.id, id).await?.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(Json(serde_json::json!({"status": "canceled"})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingRequest {
    rating: String,
    reason: Option<String>,
}

async fn rate_generation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    super::ApiJson(body): super::ApiJson<RatingRequest>,
) -> Result<StatusCode, ApiError> {
    let rating = match body.rating.as_str() {
        "up" => 1,
        "down" => -1,
        _ => return Err(ApiError::validation("rating")),
    };
    let reason = match body.reason.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(crate::domain::text::require(r, 500).map_err(|_| ApiError::validation("reason"))?),
    };
    state.actors.sessions.session(user.id).rate_generation(id, rating, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        let cursor = format!("{}_{}", at.timestamp_micros(), id.simple());
        assert_eq!(decode_cursor(&cursor), Some((at, id)));
        assert_eq!(decode_cursor("garbage"), None);
    }
}
