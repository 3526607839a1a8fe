//! `GET /media/{folder}/{file}?exp=&sig=`: images behind signed, expiring links (403 for a bad
//! signature, 410 once expired); `download=1` serves an attachment named `primerka-….jpg`.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::domain::errors::ErrorCode;
use crate::storage::{ImageFormat, LinkError, Storage};

pub fn router() -> Router<AppState> {
    Router::new().route("/media/{folder}/{file}", get(media))
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
    match state.storage.verify(&key, exp, &sig, Utc::now().timestamp()) {
        Ok(()) => {}
        Err(LinkError::BadSignature) => return Err(ApiError::forbidden()),
        Err(LinkError::Expired) => return Err(ErrorCode::LinkExpired.into()),
    }
    let bytes = match state.storage.get(&key).await {
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
