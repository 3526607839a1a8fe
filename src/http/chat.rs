//! The editor chat (DESIGN §1, §5; docs/API.md). Every operation is the user's SessionActor's
//! (it owns the chat); these handlers parse, authorise and shape the answer.
//!
//! - `POST /api/chat/messages {text, upload_id?}`: one user message to the assistant (1 credit,
//!   nothing charged without a photo to edit: `409 no_image`); turns run one at a time in order,
//!   at most `chat.max_pending` running or waiting (`429 chat_busy`).
//! - `POST /api/chat/variants/{id}/generate {prompt?}`: 1 credit, an edit of the chat's current
//!   image; the result becomes the current image (chained edits).
//! - `POST /api/chat/current {generation_id}` or `{upload_id}`: a finished result (or an uploaded
//!   photo) of the user becomes the current image ("go back to this version", "edit in chat" from
//!   a try-on, a photo attached before the request is written). Free.
//! - `GET /api/chat`, `DELETE /api/chat` (start over).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::request_lang;
use super::{ApiError, ApiJson, AppState};
use crate::actors::chat::{ChatView, chat_view, message_view};
use crate::actors::session::{Accepted, ImageRef, StartJob, TurnRequest};
use crate::domain::chat::{ChatMessage, Variant};
use crate::domain::text;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat", get(get_chat).delete(delete_chat))
        .route("/api/chat/messages", post(post_message))
        .route("/api/chat/current", post(set_current))
        .route("/api/chat/variants/{id}/generate", post(generate_variant))
}

fn view(state: &AppState, chat: &crate::db::chat::Chat) -> ChatView {
    chat_view(&state.storage, state.settings.file.storage.signed_url_ttl_secs, chat)
}

async fn get_chat(State(state): State<AppState>, user: AuthUser) -> Result<Json<ChatView>, ApiError> {
    let chat = state.actors.sessions.session(user.id).chat().await?;
    Ok(Json(view(&state, &chat)))
}

/// Start over. Queued behind a running turn so its answer cannot land in the new chat.
async fn delete_chat(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    state.actors.sessions.session(user.id).chat_clear().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostMessage {
    text: String,
    upload_id: Option<Uuid>,
}

/// The answer to a chat message.
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "ChatView.ts")]
pub struct TurnView {
    pub message: ChatMessage,
    pub user_message: ChatMessage,
    pub variants: Vec<Variant>,
    pub charged: bool,
}

async fn post_message(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PostMessage>,
) -> Result<Json<TurnView>, ApiError> {
    // Cleaned before anything is charged or sent: no NUL, no control or direction marks.
    let text =
        text::require(&body.text, state.settings.file.chat.max_text_chars).map_err(|_| ApiError::validation("text"))?;
    let request = TurnRequest { text, upload_id: body.upload_id, lang: request_lang(&headers) };
    let outcome = state.actors.sessions.session(user.id).chat_turn(request).await?;
    let ttl = state.settings.file.storage.signed_url_ttl_secs;
    Ok(Json(TurnView {
        variants: outcome.message.variants().to_vec(),
        message: message_view(&state.storage, ttl, &outcome.message),
        user_message: message_view(&state.storage, ttl, &outcome.user_message),
        charged: outcome.charged,
    }))
}

/// `{"generation_id"}` (a finished result) or `{"upload_id"}` (an uploaded photo).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetCurrent {
    generation_id: Option<Uuid>,
    upload_id: Option<Uuid>,
}

async fn set_current(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<SetCurrent>,
) -> Result<Json<ChatView>, ApiError> {
    let image = match (body.generation_id, body.upload_id) {
        (Some(id), None) => ImageRef::Generation(id),
        (None, Some(id)) => ImageRef::Upload(id),
        _ => return Err(ApiError::validation("generation_id")),
    };
    let chat = state.actors.sessions.session(user.id).set_current_image(image).await?;
    Ok(Json(view(&state, &chat)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GenerateVariant {
    prompt: Option<String>,
}

async fn generate_variant(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    raw: axum::body::Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    // The body is optional: empty means "the variant's own prompt".
    let body: GenerateVariant = if raw.iter().all(u8::is_ascii_whitespace) {
        GenerateVariant::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| ApiError::invalid_body(e.to_string()))?
    };
    let job = StartJob::Edit { variant_id: id, prompt: body.prompt };
    let accepted = state.actors.sessions.session(user.id).start_generation(job).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
