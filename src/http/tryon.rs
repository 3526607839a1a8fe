//! `POST /api/tryon {person_upload_id, garment_upload_ids[], category}`: the user's session
//! checks the inputs, writes the generation and its 2-credit hold in one statement and queues it
//! → `202 {generation_id, status, cost, watermarked}`. Progress arrives as `job.*` events.
//!
//! `GET /api/tryon/categories` → `[{id, title, icon}]` in the request's language: the cards of
//! the quiz's "what to try on" step, the same list the prompts know (`domain::tryon`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::request_lang;
use super::{ApiError, ApiJson, AppState};
use crate::actors::session::{Accepted, StartJob};
use crate::domain::i18n::category_title;
use crate::domain::tryon::CATEGORY_CARDS;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/tryon", post(create_tryon)).route("/api/tryon/categories", get(categories))
}

/// A category card of the quiz.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export_to = "TryOnCategory.ts")]
pub struct TryOnCategory {
    pub id: &'static str,
    pub title: &'static str,
    pub icon: &'static str,
}

async fn categories(headers: axum::http::HeaderMap) -> Json<Vec<TryOnCategory>> {
    let lang = request_lang(&headers);
    Json(CATEGORY_CARDS.iter().map(|(id, icon)| TryOnCategory { id, title: category_title(id, lang), icon }).collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TryOnRequest {
    person_upload_id: Uuid,
    garment_upload_ids: Vec<Uuid>,
    category: String,
}

async fn create_tryon(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<TryOnRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let job = StartJob::TryOn {
        person_upload_id: body.person_upload_id,
        garment_upload_ids: body.garment_upload_ids,
        category: body.category,
    };
    let accepted = state.actors.sessions.session(user.id).start_generation(job).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
