//! Login with Telegram initData, the demo login, and the `AuthUser` / `AdminUser` extractors
//! that guard every `/api` route.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, ApiJson, AppState, client_ip, peer_addr};
use crate::auth::init_data;
use crate::auth::recent::Recent;
use crate::db::users::{self, UserRow};
use crate::domain::errors::ErrorCode;
use crate::domain::ids::UserId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/telegram", post(login))
        .route("/api/auth/demo", get(demo_status))
        .route("/api/auth/dev-login", post(dev_login))
}

/// The user as the API shows it.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export_to = "Me.ts")]
pub struct UserView {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub language_code: String,
    pub photo_url: Option<String>,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl UserView {
    pub fn new(user: &UserRow, state: &AppState) -> Self {
        UserView {
            id: user.telegram_id,
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            username: user.username.clone(),
            language_code: user.language_code.clone(),
            photo_url: user.photo_url.clone(),
            is_admin: state.settings.is_admin(user.telegram_id),
            created_at: user.created_at,
        }
    }
}

/// `primerka_logins_total`, looked up once (the registry's lookup showed in a login's profile).
static LOGINS: std::sync::LazyLock<metrics::Counter> =
    std::sync::LazyLock::new(|| metrics::counter!("primerka_logins_total"));

#[derive(Deserialize)]
struct LoginBody {
    init_data: String,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    expires_at: DateTime<Utc>,
    /// The user's [`UserView`], rendered when the user was last read (`auth::recent`).
    #[serde(serialize_with = "user_view")]
    user: Arc<Recent>,
}

fn user_view<S: serde::Serializer>(recent: &Arc<Recent>, serializer: S) -> Result<S::Ok, S::Error> {
    recent.view.serialize(serializer)
}

async fn login(
    State(state): State<AppState>,
    parts: LoginParts,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<LoginResponse>, ApiError> {
    if let Some(ip) = parts.ip {
        state.limits.check_login(ip)?;
    }
    if body.init_data.trim().is_empty() {
        return Err(ApiError::invalid_body("init_data is empty"));
    }
    let auth = &state.settings.file.auth;
    let now = Utc::now().timestamp();
    let data = init_data::validate(
        &body.init_data,
        &state.init_data_secret,
        now,
        auth.init_data_max_age_secs as i64,
        auth.init_data_future_skew_secs as i64,
    )?;
    // The request span (`layers::RequestLayer`) declares `user.id`.
    tracing::Span::current().record("user.id", data.user.id);
    let recent = match state.recent_logins.get(&data.user) {
        Some(recent) => recent,
        None => {
            let user = users::upsert_from_telegram(&state.pool, &data.user).await?;
            // Fresh from the row: the token check of the next requests needs no read.
            state.token_versions.remember(user.id(), user.token_version, user.blocked);
            let view = UserView::new(&user, &state);
            let recent = Arc::new(Recent::new(user, &view).map_err(|e| ApiError::internal(e.to_string()))?);
            state.recent_logins.put(data.user.clone(), recent.clone());
            recent
        }
    };
    let user = &recent.row;
    if user.blocked {
        return Err(ErrorCode::UserBlocked.into());
    }
    // Opened through a friend's link (`startapp=ref_<code>`): the invitation is attached once.
    let code = data.start_param.as_deref().and_then(|p| p.strip_prefix("ref_")).filter(|c| crate::bot::valid_code(c));
    if let Some(code) = code
        && let Err(e) = state.actors.payments.attach_referral(user.id(), code.to_string(), "startapp").await
    {
        tracing::warn!(error = %e, "could not attach an invitation");
    }
    let (token, claims) = state.jwt.issue(user.id(), now, user.token_version);
    LOGINS.increment(1);
    Ok(Json(LoginResponse {
        token,
        expires_at: Utc.timestamp_opt(claims.exp, 0).single().unwrap_or_else(Utc::now),
        user: recent,
    }))
}

/// The caller's address, for the per-IP login limit.
struct LoginParts {
    ip: Option<std::net::IpAddr>,
}

impl FromRequestParts<AppState> for LoginParts {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(LoginParts { ip: client_ip(&parts.headers, peer_addr(&parts.extensions), &state.trusted_proxies) })
    }
}

async fn demo_status(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"enabled": state.settings.demo_login}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DevLoginBody {
    telegram_id: Option<i64>,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    language_code: Option<String>,
}

/// Demo mode only: signs initData for the demo bot exactly as Telegram would, so a plain
/// browser can use the app. Disabled whenever real provider keys are configured.
async fn dev_login(State(state): State<AppState>, raw: axum::body::Bytes) -> Result<Json<serde_json::Value>, ApiError> {
    if !state.settings.demo_login {
        return Err(ErrorCode::DemoDisabled.into());
    }
    let body: DevLoginBody = if raw.iter().all(u8::is_ascii_whitespace) {
        DevLoginBody::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| ApiError::invalid_body(e.to_string()))?
    };
    let id = body.telegram_id.unwrap_or(1_000_001);
    if !(1..=9_007_199_254_740_991).contains(&id) {
        return Err(ApiError::validation("telegram_id"));
    }
    let clip = |s: Option<String>, max: usize| s.map(|v| v.chars().take(max).collect::<String>());
    let mut user = json!({
        "id": id,
        "first_name": clip(body.first_name, 64).unwrap_or_else(|| "Demo".to_string()),
        "language_code": clip(body.language_code, 8).unwrap_or_else(|| "ru".to_string()),
        "allows_write_to_pm": true,
    });
    if let Some(last) = clip(body.last_name, 64) {
        user["last_name"] = json!(last);
    }
    if let Some(username) = clip(body.username, 32) {
        user["username"] = json!(username);
    }
    let init_data = init_data::sign_for_user(&user, Utc::now().timestamp(), &state.init_data_secret);
    Ok(Json(json!({"init_data": init_data})))
}

/// A request made by a logged-in user (valid `Authorization: Bearer <jwt>`); also applies the
/// per-user rate limit.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: UserId,
    /// Token expiry (Unix seconds).
    pub exp: i64,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        let (id, claims) = state.jwt.verify(token.trim())?;
        state.limits.check_user(id)?;
        check_token_version(state, id, claims.ver).await?;
        Ok(AuthUser { id, exp: claims.exp })
    }
}

/// A session token (or a WebSocket ticket) of version `ver` is current: the user is not blocked
/// and nothing revoked it since (`auth::revocation`). Blocked → `403 user_blocked`; revoked →
/// `401 token_expired` (the Mini App logs in again).
pub async fn check_token_version(state: &AppState, user: UserId, ver: i32) -> Result<(), ApiError> {
    use crate::auth::revocation::Revoked;
    match state.token_versions.check(&state.pool, user, ver).await? {
        Ok(()) => Ok(()),
        Err(Revoked::Blocked) => Err(ErrorCode::UserBlocked.into()),
        Err(Revoked::Stale) => Err(ErrorCode::TokenExpired.into()),
    }
}

/// An operator (Telegram id listed in `ADMIN_TELEGRAM_IDS`).
#[derive(Debug, Clone, Copy)]
pub struct AdminUser {
    pub id: UserId,
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !state.settings.is_admin(user.id.0) {
            return Err(ApiError::forbidden());
        }
        Ok(AdminUser { id: user.id })
    }
}
