//! The HTTP surface (docs/API.md): one `router()` per feature file merged here, plus what every
//! request passes: `layers::RequestLayer` (request id, trace span, timeout, error rendering,
//! metrics, CORS for cross-origin callers, CSP and security headers) and the body limits.

pub mod access;
pub mod admin;
pub mod auth;
pub mod bench;
pub mod chat;
pub mod error;
pub mod gallery;
pub mod health;
pub mod layers;
pub mod legal;
pub mod me;
pub mod media;
pub mod payments;
pub mod promo;
pub mod spa;
pub mod tryon;
pub mod uploads;
pub mod webhooks;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequest};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use sqlx::PgPool;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

use crate::actors::ActorHandles;
use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::domain::ids::UserId;
use crate::domain::pricing::Catalogue;
pub use error::ApiError;

/// Shared state of every handler: cheap clones only. Handlers see actor handles, the pool (for
/// plain reads), settings and storage (for signed links and reads) — never a provider client:
/// whatever calls a provider, moves credits or writes what an actor writes is an actor's work.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub actors: ActorHandles,
    /// Images: signed links, media reads, and writing a validated upload.
    pub storage: crate::storage::Storage,
    /// The configured timezone (months of the revenue report, the free allowance).
    pub tz: chrono_tz::Tz,
    pub jwt: JwtKeys,
    /// HMAC key derived from the bot token, for initData validation.
    pub init_data_secret: [u8; 32],
    pub catalogue: Arc<Catalogue>,
    pub limits: Limits,
    pub prometheus: PrometheusHandle,
    /// Networks whose `X-Forwarded-For` we believe.
    pub trusted_proxies: Vec<IpNet>,
    /// Networks YooKassa notifications may come from: `yookassa.allowed_networks`, plus
    /// loopback when (and only when) `SIMULATOR=1`, for the simulated YooKassa.
    pub webhook_networks: Vec<IpNet>,
    /// Returning users answered without a database write (see `auth::recent`).
    pub recent_logins: crate::auth::recent::RecentLogins,
    /// The bot's update handler (`/webhooks/telegram`).
    pub bot: crate::bot::Bot,
    /// Upload decodes running at once (`storage.max_concurrent_decodes`): a 40 MP photo
    /// decodes to ~120 MB, so the process's memory is bounded by slots, not by requests.
    pub decode_slots: Arc<tokio::sync::Semaphore>,
    /// The face detector's model for a person photo's framing check (`storage.face_model_path`).
    pub faces: Option<Arc<crate::domain::faces::FaceModel>>,
    /// Current token versions and blocks, checked for every session token (`auth::revocation`).
    pub token_versions: crate::auth::revocation::TokenVersions,
    /// One-time WebSocket tickets (`auth::ws_ticket`).
    pub ws_tickets: crate::auth::ws_ticket::WsTickets,
    /// The legal documents (`GET /api/legal`, consents).
    pub legal: Arc<crate::domain::legal::LegalDocs>,
}

impl AppState {
    pub fn new(inner: AppInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl AppState {
    /// A short-lived signed link to an image of the user (`storage.signed_url_ttl_secs`).
    pub fn signed(&self, key: &str) -> String {
        crate::actors::chat::signed(&self.storage, self.settings.file.storage.signed_url_ttl_secs, key)
    }
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// Rate limiters (all off with `RATE_LIMITS=off`).
pub struct Limits {
    pub enabled: bool,
    pub login_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    pub api_per_user: DefaultKeyedRateLimiter<UserId>,
    /// `rate_limits.uploads_per_minute_per_user`.
    pub uploads_per_user: DefaultKeyedRateLimiter<UserId>,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Self {
        let r = &settings.file.rate_limits;
        let nz = |v: u32| NonZeroU32::new(v.max(1)).expect("max(1) is non-zero");
        Limits {
            enabled: settings.rate_limits_enabled,
            login_per_ip: RateLimiter::keyed(Quota::per_minute(nz(r.login_per_minute_per_ip))),
            api_per_user: RateLimiter::keyed(
                Quota::per_second(nz(r.api_per_second_per_user)).allow_burst(nz(r.api_burst_per_user)),
            ),
            uploads_per_user: RateLimiter::keyed(Quota::per_minute(nz(r.uploads_per_minute_per_user))),
        }
    }

    /// Forgets keys that have not been seen for a while (call periodically).
    pub fn shrink(&self) {
        self.login_per_ip.retain_recent();
        self.api_per_user.retain_recent();
        self.uploads_per_user.retain_recent();
        self.login_per_ip.shrink_to_fit();
        self.api_per_user.shrink_to_fit();
        self.uploads_per_user.shrink_to_fit();
    }

    pub fn check_login(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check(&self.login_per_ip, &ip)
    }

    pub fn check_user(&self, user: UserId) -> Result<(), ApiError> {
        self.check(&self.api_per_user, &user)
    }

    /// One more upload by `user` this minute (`rate_limits.uploads_per_minute_per_user`).
    pub fn check_upload(&self, user: UserId) -> Result<(), ApiError> {
        self.check(&self.uploads_per_user, &user)
    }

    fn check<K: Clone + Eq + std::hash::Hash>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            ApiError::rate_limited(wait.as_secs().max(1))
        })
    }
}

/// JSON body extractor whose rejections are answered in our error format.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The client's address: the TCP peer, or the last `X-Forwarded-For` hop added by a trusted
/// proxy when the peer is one (never a client-controlled header otherwise).
pub fn client_ip(headers: &axum::http::HeaderMap, peer: Option<SocketAddr>, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer_ip = peer.map(|p| p.ip())?;
    if !trusted.iter().any(|net| net.contains(&peer_ip)) {
        return Some(peer_ip);
    }
    // Walk X-Forwarded-For from the right, skipping our own trusted proxies.
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    for ip in forwarded.iter().rev() {
        if !trusted.iter().any(|net| net.contains(ip)) {
            return Some(*ip);
        }
    }
    Some(peer_ip)
}

/// Extracts the peer address when the server was started with connect info.
pub fn peer_addr(request_extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    request_extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// The whole application router.
pub fn router(state: AppState, simulator: Option<Router>) -> Router {
    let settings = state.settings.clone();
    let api = Router::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(legal::router())
        .merge(admin::router())
        .merge(bench::router())
        .merge(chat::router())
        .merge(payments::router())
        .merge(promo::router())
        .merge(tryon::router())
        .merge(gallery::router())
        .layer(RequestBodyLimitLayer::new(settings.file.server.json_body_limit_bytes));

    let mut app: Router = Router::new()
        .merge(api)
        .merge(ws::router())
        .merge(uploads::router(&state))
        .merge(media::router())
        .merge(webhooks::router().layer(RequestBodyLimitLayer::new(settings.file.server.json_body_limit_bytes)))
        .merge(health::router())
        .with_state(state);
    if let Some(sim) = simulator {
        app = app.nest("/sim", sim);
    }
    app.fallback_service(spa::service(&settings)).layer(layers::RequestLayer::new(
        Duration::from_secs(settings.file.server.request_timeout_secs),
        cors(&settings),
    ))
}

fn cors(settings: &Settings) -> CorsLayer {
    let origin = if settings.file.server.cors_origin.is_empty() {
        origin_of(&settings.public_base_url)
    } else {
        settings.file.server.cors_origin.clone()
    };
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT_LANGUAGE])
        .max_age(Duration::from_secs(600));
    // Named only to a caller from that origin.
    match HeaderValue::from_str(&origin) {
        Ok(value) => layer.allow_origin(AllowOrigin::list([value])),
        Err(_) => layer,
    }
}

/// `https://app.example.com/path` → `https://app.example.com`.
fn origin_of(url: &str) -> String {
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url[..i + 3 + j].to_string(),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}
