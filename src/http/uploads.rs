//! Photos the user uploads (docs/API.md):
//!
//! - `POST /api/uploads` (multipart `file`, optional `kind` = `person` | `garment`): at most
//!   `rate_limits.uploads_per_minute_per_user` per user (429); size capped while reading, type
//!   and magic bytes checked, a JPEG cut in its scan refused (`decode_failed`), decoded within
//!   pixel limits in one of `storage.max_concurrent_decodes` slots (none free within
//!   `decode_wait_ms` → 503 with `Retry-After`), scaled down to `max_stored_side` and re-encoded
//!   (metadata dropped) off the async threads; stored under a random key. A try-on photo (with
//!   `kind`) is also checked for quality (`domain::images::check_photo`: 422 `too_small`,
//!   `too_dark`, `too_blurry`, or `warnings`; a person photo's framing through
//!   `domain::faces`: `no_face`, `several_people`, `cut_off`). Nothing is charged for an upload. The user must
//!   have accepted the privacy policy (`403 consent_required` otherwise; `POST /api/me/consents`).
//! - `GET /api/uploads[?kind=person|garment]` lists the user's live photos (newest first):
//!   "my photos" and "my wardrobe" of the try-on quiz.

use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiError, AppState};
use crate::db::generations::{self as gen_db, NewUpload, UploadRow};
use crate::domain::errors::ErrorCode;
use crate::domain::faces;
use crate::domain::images::{self, ImageLimits, PhotoKind};
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What may make the try-on worse (`small`, `dark`, `bright`, `blurry`; for a person photo
    /// also `no_face`, `several_people`, `cut_off`); only in the answer to the upload itself,
    /// and only for a try-on photo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<&'static str>>,
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
        kind: row.kind.clone(),
        warnings: None,
    }
}

async fn create_upload(
    State(state): State<AppState>,
    user: AuthUser,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
    state.limits.check_upload(user.id)?;
    // Photos are personal data: the first upload needs the privacy policy accepted (152-ФЗ), in its
    // current version (a new version of the policy asks again).
    let policy = state.legal.version(crate::domain::legal::DocKind::Privacy).unwrap_or_default();
    if !crate::db::legal::has_consent(&state.pool, user.id, "privacy", policy).await? {
        return Err(ErrorCode::ConsentRequired.into());
    }
    let mut multipart = multipart.map_err(|_| ApiError::new(ErrorCode::FileMissing))?;
    let max = state.settings.file.storage.max_upload_bytes;
    let mut found = None;
    let mut kind = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("kind") {
            // A short text field, before or after the file.
            let text = field.text().await.map_err(multipart_error)?;
            kind = Some(PhotoKind::parse(text.trim()).ok_or_else(|| ApiError::validation("kind"))?);
            continue;
        }
        if field.name() != Some("file") || found.is_some() {
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
    }
    let Some((declared, bytes)) = found else { return Err(ErrorCode::FileMissing.into()) };
    let storage = &state.settings.file.storage;
    let limits = ImageLimits {
        max_side: storage.max_image_side,
        max_pixels: storage.max_image_pixels,
        max_stored_side: storage.max_stored_side,
    };
    let checks = storage.photo_checks;
    let faces = state.faces.clone();
    let wait = std::time::Duration::from_millis(storage.decode_wait_ms);
    let slot = match tokio::time::timeout(wait, state.decode_slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        _ => {
            metrics::counter!("primerka_upload_decodes_refused_total").increment(1);
            return Err(ApiError::unavailable(ErrorCode::Unavailable, "every decode slot is busy"));
        }
    };
    let (clean, warnings) = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        // The pixels come back only for the checks below; they are freed when this closure ends.
        let (clean, image) = images::validate_upload_keeping(&declared, &bytes, limits)?;
        let warnings = match kind {
            Some(kind) => {
                let mut warnings = images::check_photo(&image, kind, &checks)?;
                // Framing (a person photo only): warnings, never a refusal — and never a 500: the
                // detector's own assertions are caught (no warning is the safe answer).
                if let (PhotoKind::Person, Some(model)) = (kind, &faces) {
                    let found =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| faces::find_faces(model, &image)));
                    match found {
                        Ok(found) => warnings.extend(faces::framing_warnings(&found)),
                        Err(_) => tracing::warn!("the face detector failed on a photo; no framing warning"),
                    }
                }
                Some(warnings)
            }
            None => None,
        };
        Ok::<_, images::ImageError>((clean, warnings))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| {
        if matches!(e.code(), ErrorCode::TooSmall | ErrorCode::TooDark | ErrorCode::TooBlurry) {
            metrics::counter!("primerka_uploads_refused_total", "code" => e.code().as_str()).increment(1);
        }
        ApiError::new(e.code())
    })?;
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
        kind: kind.map(PhotoKind::as_str),
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
        kind: kind.map(|k| k.as_str().to_string()),
    };
    metrics::counter!("primerka_uploads_total").increment(1);
    Ok((StatusCode::CREATED, Json(UploadView { warnings, ..upload_view(&state, &row) })))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::TooLarge.into()
    } else {
        ApiError::new(ErrorCode::FileMissing).with_message(e.body_text())
    }
}

#[derive(Deserialize)]
struct ListQuery {
    kind: Option<String>,
}

async fn list_uploads(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let kind = match query.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(PhotoKind::parse(k).ok_or_else(|| ApiError::validation("kind"))?),
    };
    let rows = gen_db::list_uploads(&state.pool, user.id, kind.map(PhotoKind::as_str), 50).await?;
    Ok(Json(json!({"items": rows.iter().map(|r| upload_view(&state, r)).collect::<Vec<_>>()})))
}
