//! Photos the user uploads (docs/API.md):
//!
//! - `POST /api/uploads` (multipart `file`): size capped while reading, type and magic bytes
//!   checked, decoded within pixel limits and re-encoded (metadata dropped) off the async
//!   threads; stored under a random key. Nothing is charged for an upload. The user must have
//!   accepted the privacy policy (`403 consent_required` otherwise; `POST /api/me/consents`).
//! - `GET /api/uploads` lists the user's live photos (newest first).

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiError, AppState};
use crate::db::generations::{self as gen_db, NewUpload, UploadRow};
use crate::domain::errors::ErrorCode;
use crate::domain::images::{self, ImageLimits};
use crate::storage::Storage;

pub fn router(state: &AppState) -> Router<AppState> {
    let upload_limit = state.settings.file.storage.max_upload_bytes + 64 * 1024;
    Router::new()
        .route("/api/uploads", post(create_upload).get(list_uploads))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(upload_limit))
}

#[derive(Serialize)]
pub struct UploadView {
    pub upload_id: Uuid,
    pub url: String,
    pub width: i32,
    pub height: i32,
    pub content_type: String,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn upload_view(state: &AppState, row: &UploadRow) -> UploadView {
    UploadView {
        upload_id: row.id,
        url: state.signed(&row.storage_key),
        width: row.width,
        height: row.height,
        content_type: row.content_type.clone(),
        size_bytes: row.size_bytes,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

async fn create_upload(
    State(state): State<AppState>,
    user: AuthUser,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
    // Photos are personal data: the first upload needs the privacy policy accepted (152-ФЗ), in its
    // current version (a new version of the policy asks again).
    let policy = state.legal.version(crate::domain::legal::DocKind::Privacy).unwrap_or_default();
    if !crate::db::legal::has_consent(&state.pool, user.id, "privacy", policy).await? {
        return Err(ErrorCode::ConsentRequired.into());
    }
    let mut multipart = multipart.map_err(|_| ApiError::new(ErrorCode::FileMissing))?;
    let max = state.settings.file.storage.max_upload_bytes;
    let mut found = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let declared = field.content_type().unwrap_or("").to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if bytes.len() + chunk.len() > max {
                return Err(ErrorCode::TooLarge.into());
            }
            bytes.extend_from_slice(&chunk);
        }
        found = Some((declared, bytes));
        break;
    }
    let Some((declared, bytes)) = found else { return Err(ErrorCode::FileMissing.into()) };
    let storage = &state.settings.file.storage;
    let limits = ImageLimits { max_side: storage.max_image_side, max_pixels: storage.max_image_pixels };
    let clean = tokio::task::spawn_blocking(move || images::validate_upload(&declared, &bytes, limits))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::new(e.code()))?;
    // The quota counts what is kept (live photos and results); two uploads racing may pass it
    // by one photo, which the per-user upload rate bounds.
    let stored = gen_db::stored_bytes(&state.pool, user.id).await?;
    if stored + clean.bytes.len() as i64 > storage.user_quota_bytes {
        return Err(ErrorCode::QuotaExceeded.into());
    }
    let key = Storage::new_key("uploads", clean.format);
    state.storage.put(&key, &clean.bytes).await.map_err(ApiError::internal)?;
    let id = Uuid::new_v4();
    let expires_at = Utc::now() + chrono::Duration::days(storage.upload_retention_days);
    let new = NewUpload {
        id,
        user_id: user.id,
        storage_key: &key,
        content_type: clean.format.mime(),
        width: clean.width as i32,
        height: clean.height as i32,
        size_bytes: clean.bytes.len() as i64,
        expires_at,
    };
    if let Err(e) = gen_db::insert_upload(&state.pool, &new).await {
        // No row, no file: nothing half-written stays behind.
        let _ = state.storage.delete(&key).await;
        return Err(e.into());
    }
    let row = UploadRow {
        id,
        user_id: user.id,
        content_type: new.content_type.to_string(),
        width: new.width,
        height: new.height,
        size_bytes: new.size_bytes,
        created_at: Utc::now(),
        expires_at,
        storage_key: key,
    };
    metrics::counter!("primerka_uploads_total").increment(1);
    Ok((StatusCode::CREATED, Json(upload_view(&state, &row))))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::TooLarge.into()
    } else {
        ApiError::new(ErrorCode::FileMissing).with_message(e.body_text())
    }
}

async fn list_uploads(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, ApiError> {
    let rows = gen_db::list_uploads(&state.pool, user.id, 50).await?;
    Ok(Json(json!({"items": rows.iter().map(|r| upload_view(&state, r)).collect::<Vec<_>>()})))
}
