//! `POST /api/tryon {person_upload_id, garment_upload_ids[], category}`: the user's session
//! checks the inputs, writes the generation and its 2-credit hold in one statement and queues it
//! → `202 {generation_id, status, cost, watermarked}`. Progress arrives as `job.*` events.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiError, ApiJson, AppState};
use crate::actors::session::{Accepted, StartJob};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/tryon", post(create_tryon))
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
