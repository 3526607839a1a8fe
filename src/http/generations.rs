//! Uploads, try-on, the gallery, signed media and the kie.ai callback (docs/API.md).
//!
//! - `POST /api/uploads` (multipart `file`): size capped while reading, type and magic bytes
//!   checked, decoded within pixel limits and re-encoded (metadata dropped) off the async
//!   threads; stored under a random key. `GET /api/uploads` lists the user's live photos.
//! - `POST /api/tryon`: the generation row first, then the credit hold (2 credits), then the
//!   pool; `202 {generation_id}`. Progress arrives as `job.*` events on the WebSocket.
//! - `GET /api/generations` (cursor paging), `GET`/`DELETE /api/generations/{id}`,
//!   `POST /api/generations/{id}/send` (the bot sends the picture to the user's chat as a photo
//!   and as a file).
//! - `GET /media/{folder}/{file}?exp=&sig=`: signed, expiring links (403 / 410).
//! - `POST /webhooks/kie/{token}`: a hint only; the worker re-reads the task from kie.ai.

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;
use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiError, ApiJson, AppState};
use crate::actors::notifier::BotMessage;
use crate::actors::session::ReserveCmd;
use crate::clients::telegram::InputFile;
use crate::db::generations::{self as gen_db, GenerationRow, NewGeneration, NewUpload, UploadRow};
use crate::domain::i18n::{self, Lang};
use crate::domain::images::{self, ImageLimits};
use crate::storage::{ImageFormat, LinkError, Storage};

pub fn router(state: &AppState) -> Router<AppState> {
    let upload_limit = state.settings.file.storage.max_upload_bytes + 64 * 1024;
    let uploads = Router::new()
        .route("/api/uploads", post(create_upload))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(upload_limit));
    let json_limit = state.settings.file.server.json_body_limit_bytes;
    let api = Router::new()
        .route("/api/tryon", post(create_tryon))
        .route("/api/generations", get(list_generations))
        .route("/api/generations/{id}", get(get_generation).delete(delete_generation))
        .route("/api/generations/{id}/send", post(send_generation))
        .route("/webhooks/kie/{token}", post(kie_callback))
        .layer(RequestBodyLimitLayer::new(json_limit));
    Router::new()
        .merge(uploads)
        .merge(api)
        .route("/api/uploads", get(list_uploads))
        .route("/media/{folder}/{file}", get(media))
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
        url: signed(state, &row.storage_key),
        width: row.width,
        height: row.height,
        content_type: row.content_type.clone(),
        size_bytes: row.size_bytes,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

fn signed(state: &AppState, key: &str) -> String {
    state.services.storage.signed_path(key, state.settings.file.storage.signed_url_ttl_secs, Utc::now().timestamp())
}

async fn create_upload(
    State(state): State<AppState>,
    user: AuthUser,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
    let mut multipart = multipart.map_err(|_| ApiError::bad_request("file_missing"))?;
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
                return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large"));
            }
            bytes.extend_from_slice(&chunk);
        }
        found = Some((declared, bytes));
        break;
    }
    let Some((declared, bytes)) = found else { return Err(ApiError::bad_request("file_missing")) };
    let storage = &state.settings.file.storage;
    let limits = ImageLimits { max_side: storage.max_image_side, max_pixels: storage.max_image_pixels };
    let clean = tokio::task::spawn_blocking(move || images::validate_upload(&declared, &bytes, limits))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            let status = match e {
                images::ImageError::UnsupportedType | images::ImageError::TypeMismatch => {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                }
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            ApiError::new(status, e.code())
        })?;
    // The quota counts what is kept (live photos and results); two uploads racing may pass it
    // by one photo, which the per-user upload rate bounds.
    let stored = gen_db::stored_bytes(&state.pool, user.id).await?;
    if stored + clean.bytes.len() as i64 > storage.user_quota_bytes {
        return Err(ApiError::new(StatusCode::CONFLICT, "quota_exceeded"));
    }
    let key = Storage::new_key("uploads", clean.format);
    state.services.storage.put(&key, &clean.bytes).await.map_err(ApiError::internal)?;
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
        let _ = state.services.storage.delete(&key).await;
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
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    } else {
        ApiError::bad_request("file_missing").with_message(e.body_text())
    }
}

async fn list_uploads(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, ApiError> {
    let rows = gen_db::list_uploads(&state.pool, user.id, 50).await?;
    Ok(Json(json!({"items": rows.iter().map(|r| upload_view(&state, r)).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TryOnRequest {
    person_upload_id: Uuid,
    garment_upload_ids: Vec<Uuid>,
    category: String,
}

/// `202` body of every generation start.
#[derive(Serialize)]
pub struct Accepted {
    pub generation_id: Uuid,
    pub status: &'static str,
    pub cost: i32,
    pub watermarked: bool,
}

async fn create_tryon(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<TryOnRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let settings = &state.settings.file;
    let Some(prompt) = state.services.tryon_prompts.get(&body.category) else {
        return Err(ApiError::bad_request("invalid_category"));
    };
    if body.garment_upload_ids.is_empty() || body.garment_upload_ids.contains(&body.person_upload_id) {
        return Err(ApiError::validation("garment_upload_ids"));
    }
    if body.garment_upload_ids.len() > settings.generation.max_garments {
        return Err(ApiError::bad_request("too_many_garments"));
    }
    let mut ids = vec![body.person_upload_id];
    ids.extend(&body.garment_upload_ids);
    let rows = gen_db::live_uploads(&state.pool, user.id, &ids).await?;
    // In the order asked: the person first, then the garments.
    let mut keys = Vec::with_capacity(ids.len());
    for id in &ids {
        let row = rows.iter().find(|r| r.id == *id).ok_or(ApiError::new(StatusCode::NOT_FOUND, "upload_not_found"))?;
        keys.push(row.storage_key.clone());
    }
    let accepted = start_generation(
        &state,
        user,
        NewJob { kind: "tryon", category: Some(&body.category), prompt, upload_ids: &ids, keys: &keys },
        settings.credits.prices.tryon,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// What a feature asks the pipeline to generate.
pub struct NewJob<'a> {
    pub kind: &'static str,
    pub category: Option<&'a str>,
    pub prompt: &'a str,
    pub upload_ids: &'a [Uuid],
    pub keys: &'a [String],
}

/// The one way a generation starts: the queue bound, the per-user cap, the row, the hold, the pool. On any
/// refusal nothing stays behind (no row without credits, no hold without a row).
pub async fn start_generation(
    state: &AppState,
    user: AuthUser,
    job: NewJob<'_>,
    cost: i32,
) -> Result<Accepted, ApiError> {
    if state.actors.generator.is_full() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "queue_full"));
    }
    let session = state.actors.sessions.session(user.id);
    session.begin_job().await?;
    let id = Uuid::new_v4();
    let token = Uuid::new_v4().simple().to_string() + &Uuid::new_v4().simple().to_string();
    let new = NewGeneration {
        id,
        user_id: user.id,
        kind: job.kind,
        category: job.category,
        prompt: job.prompt,
        input_upload_ids: job.upload_ids,
        input_keys: job.keys,
        cost,
        callback_token: &token,
    };
    if let Err(e) = gen_db::insert(&state.pool, &new).await {
        session.end_job();
        return Err(e.into());
    }
    let reserve = ReserveCmd { cost, purpose: job.kind.to_string(), key: format!("gen:{id}"), generation_id: Some(id) };
    let hold = match session.reserve(reserve).await {
        Ok(hold) => hold,
        Err(e) => {
            let _ = gen_db::delete_unheld(&state.pool, id).await;
            session.end_job();
            return Err(e.into());
        }
    };
    if let Err(e) = gen_db::set_hold(&state.pool, id, hold.id, hold.watermarked).await {
        let _ = session.release(hold.id, "not_started").await;
        let _ = gen_db::delete_unheld(&state.pool, id).await;
        session.end_job();
        return Err(e.into());
    }
    if let Err(e) = state.actors.generator.submit(id, user.id) {
        // The row and hold are durable: the pool's recovery picks the job up on restart.
        tracing::error!(generation.id = %id, error = %e, "the generator pool is unavailable");
    }
    tracing::info!(generation.id = %id, kind = job.kind, cost, watermarked = hold.watermarked, "generation queued");
    Ok(Accepted { generation_id: id, status: "queued", cost, watermarked: hold.watermarked })
}

#[derive(Serialize)]
pub struct GenerationView {
    pub id: Uuid,
    pub kind: String,
    pub category: Option<String>,
    pub status: String,
    pub stage: Option<String>,
    pub result_url: Option<String>,
    pub watermarked: bool,
    pub cost: i32,
    pub refunded: bool,
    pub error: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn generation_view(state: &AppState, row: &GenerationRow, lang: Lang) -> GenerationView {
    GenerationView {
        id: row.id,
        kind: row.kind.clone(),
        category: row.category.clone(),
        status: row.status.clone(),
        stage: row.stage.clone(),
        result_url: row.result_key.as_deref().map(|k| signed(state, k)),
        watermarked: row.watermarked,
        cost: row.cost,
        refunded: row.refunded,
        error: row.error_code.as_deref().map(
            |code| json!({"code": code, "message": i18n::error_message(code, lang), "credits_returned": row.refunded}),
        ),
        created_at: row.created_at,
        finished_at: row.finished_at,
    }
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
    /// `active=1`: only unfinished jobs, newest first, one page (no cursor).
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
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let lang = super::error::request_lang(&headers);
    match query.active.as_deref() {
        None | Some("" | "0" | "false") => {}
        Some("1" | "true") => {
            let rows = gen_db::unfinished_for_user(&state.pool, user.id, limit).await?;
            let items: Vec<_> = rows.iter().map(|r| generation_view(&state, r, lang)).collect();
            return Ok(Json(json!({"items": items, "next_cursor": null})));
        }
        Some(_) => return Err(ApiError::validation("active")),
    }
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).ok_or(ApiError::validation("cursor"))?),
    };
    let rows = gen_db::list_for_user(&state.pool, user.id, before, limit + 1).await?;
    let next = (rows.len() as i64 > limit).then(|| encode_cursor(&rows[limit as usize - 1]));
    let items: Vec<_> = rows.iter().take(limit as usize).map(|r| generation_view(&state, r, lang)).collect();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

async fn get_generation(
    State(state): State<AppState>,
    user: AuthUser,
    headers: axum::http::HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Json<GenerationView>, ApiError> {
    let row = gen_db::get_for_user(&state.pool, user.id, id).await?;
    Ok(Json(generation_view(&state, &row, super::error::request_lang(&headers))))
}

async fn delete_generation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let row = gen_db::get_for_user(&state.pool, user.id, id).await?;
    if !row.is_finished() {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_finished"));
    }
    if let Some(key) = gen_db::soft_delete(&state.pool, user.id, id).await? {
        state.services.storage.delete(&key).await.map_err(ApiError::internal)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn send_generation(
    State(state): State<AppState>,
    user: AuthUser,
    headers: axum::http::HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let row = gen_db::get_for_user(&state.pool, user.id, id).await?;
    let Some(key) = row.result_key.as_deref() else { return Err(ApiError::new(StatusCode::CONFLICT, "not_finished")) };
    let bytes = state.services.storage.get(key).await.map_err(ApiError::internal)?;
    let lang = super::error::request_lang(&headers);
    let caption = lang.pick("Ваш результат из Примерки", "Your result from Primerka");
    let format = ImageFormat::from_key(key).unwrap_or(ImageFormat::Jpeg);
    let file = InputFile {
        bytes: bytes.into(),
        file_name: format!("primerka-{}.{}", row.id.simple(), format.extension()),
        mime: format.mime().into(),
    };
    // A photo to look at, and the file itself at full quality (Telegram recompresses photos).
    let document = InputFile { file_name: file.file_name.clone(), mime: file.mime.clone(), bytes: file.bytes.clone() };
    let notifier = &state.actors.notifier;
    notifier.send(user.id.0, BotMessage::Photo { file, caption: Some(caption.into()), reply_markup: None });
    notifier.send(user.id.0, BotMessage::Document { file: document, caption: None });
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
struct MediaQuery {
    exp: Option<i64>,
    sig: Option<String>,
    /// `download=1`: served as an attachment named `primerka-….jpg` (the Mini App's "Save").
    download: Option<String>,
}

async fn media(
    State(state): State<AppState>,
    Path((folder, file)): Path<(String, String)>,
    Query(q): Query<MediaQuery>,
) -> Result<Response, ApiError> {
    let key = format!("{folder}/{file}");
    if !Storage::is_valid_key(&key) {
        return Err(ApiError::not_found());
    }
    let (Some(exp), Some(sig)) = (q.exp, q.sig) else { return Err(ApiError::forbidden()) };
    match state.services.storage.verify(&key, exp, &sig, Utc::now().timestamp()) {
        Ok(()) => {}
        Err(LinkError::BadSignature) => return Err(ApiError::forbidden()),
        Err(LinkError::Expired) => return Err(ApiError::new(StatusCode::GONE, "link_expired")),
    }
    let bytes = match state.services.storage.get(&key).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::not_found()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let format = ImageFormat::from_key(&key);
    let mime = format.map_or("application/octet-stream", ImageFormat::mime);
    let mut response = (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "private, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response();
    if q.download.as_deref() == Some("1") {
        // The key is ours (checked above): hex and a known extension, safe in the header.
        let stem = file.split('.').next().unwrap_or("image");
        let ext = format.map_or("bin", ImageFormat::extension);
        if let Ok(value) = header::HeaderValue::from_str(&format!("attachment; filename=\"primerka-{stem}.{ext}\"")) {
            response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

/// kie.ai's callback: answered at once; the job's worker re-reads the task from kie.ai.
async fn kie_callback(State(state): State<AppState>, Path(token): Path<String>) -> Result<StatusCode, ApiError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found());
    }
    let Some((id, _user)) = gen_db::by_callback_token(&state.pool, &token).await? else {
        return Err(ApiError::not_found());
    };
    state.actors.generator.wake(id);
    Ok(StatusCode::OK)
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
