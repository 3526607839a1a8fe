//! The catalogue and payments (DESIGN §2, §5; docs/API.md). Every payment workflow is the
//! PaymentActor's (`actors/payments`); these handlers parse, authorise and shape the answer.
//!
//! - `GET /api/plans`: packs and plans with prices in roubles and stars.
//! - `POST /api/payments {product, method?, confirmation?}`: a YooKassa payment
//!   (`confirmation_url`, or `confirmation_token` for the embedded widget) or a Stars invoice
//!   (`method: "stars"` → `invoice_link`). The user comes back to `/plans?payment=<id>`.
//! - `GET /api/payments/{id}`: the status; a pending YooKassa payment is fetched back and
//!   settled (so a lost notification never loses a purchase).
//! - `GET /api/payments/{id}/return?sig=`: the same for the return page without a login (the
//!   checkout often opens outside Telegram); only for a return link the server signed
//!   (`auth::return_link`), and only the outcome: status, product, credits, the way back.
//! - `POST /api/subscription/cancel`: no more renewals; the plan runs to its period end.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::request_lang;
use super::{ApiError, ApiJson, AppState, client_ip};
use crate::actors::payments::NewOrder;
use crate::db::payments::PaymentRow;
use crate::db::types::{PaymentProvider, PaymentStatus};
use crate::domain::errors::ErrorCode;
use crate::domain::pricing::{ProductKind, STARS_PERIOD_DAYS, format_rub};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plans", get(plans))
        .route("/api/payments", post(create_payment))
        .route("/api/payments/{id}", get(get_payment))
        .route("/api/payments/{id}/return", get(payment_return))
        .route("/api/subscription/cancel", post(cancel_subscription))
}

/// A product in the catalogue.
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Plans.ts")]
pub struct ProductView {
    pub id: String,
    pub kind: ProductKind,
    pub title: String,
    pub credits: i32,
    pub price_kopecks: i64,
    pub price_rub: String,
    pub price_stars: i64,
    pub period_days: Option<i64>,
    pub available: bool,
    pub stars_available: bool,
    /// A promo discount the user holds for this product (YooKassa payments).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub discount_percent: Option<i32>,
    /// The price after that discount.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub discounted_price_rub: Option<String>,
}

#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Plans.ts")]
pub struct PlansView {
    pub products: Vec<ProductView>,
}

async fn plans(State(state): State<AppState>, headers: HeaderMap, user: AuthUser) -> Result<Json<PlansView>, ApiError> {
    let lang = request_lang(&headers);
    let discounts = crate::db::promo::pending_discounts(&state.pool, user.id).await?;
    let discount_of = |id: &str| discounts.iter().find(|(p, _)| p == id).map(|(_, d)| *d);
    let products = state
        .catalogue
        .products()
        .iter()
        .map(|p| ProductView {
            id: p.id.clone(),
            kind: p.kind,
            title: p.title(lang).to_string(),
            credits: p.credits,
            price_kopecks: p.price_kopecks,
            price_rub: format_rub(p.price_kopecks),
            price_stars: p.price_stars,
            period_days: p.period_days,
            available: true,
            // Telegram renews Stars subscriptions every 30 days exactly, so only such plans qualify.
            stars_available: p.kind == ProductKind::Pack || p.period_days == Some(STARS_PERIOD_DAYS),
            discount_percent: discount_of(&p.id),
            discounted_price_rub: discount_of(&p.id)
                .map(|d| format_rub(crate::domain::pricing::discounted_kopecks(p.price_kopecks, Some(d)))),
        })
        .collect();
    Ok(Json(PlansView { products }))
}

/// A payment as the API shows it.
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Plans.ts")]
pub struct PaymentView {
    pub payment_id: Uuid,
    pub status: PaymentStatus,
    pub provider: PaymentProvider,
    pub product: String,
    pub credits: i32,
    /// The price in roubles (YooKassa payments).
    pub amount_rub: Option<String>,
    /// The price in stars (Stars payments).
    pub amount_stars: Option<i64>,
    pub confirmation_url: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub succeeded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// YooKassa's embedded widget.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub confirmation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub return_url: Option<String>,
    /// Telegram Stars: open with `WebApp.openInvoice`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub invoice_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub price_stars: Option<i64>,
}

fn payment_view(state: &AppState, row: &PaymentRow) -> PaymentView {
    let credits = state.catalogue.get(&row.product).map_or(0, |p| p.credits);
    let stars = row.provider == PaymentProvider::Stars;
    PaymentView {
        payment_id: row.id,
        status: row.status,
        provider: row.provider,
        product: row.product.clone(),
        credits,
        amount_rub: (!stars).then(|| format_rub(row.amount_minor)),
        amount_stars: stars.then_some(row.amount_minor),
        confirmation_url: row.confirmation_url.clone(),
        created_at: row.created_at,
        succeeded_at: row.succeeded_at,
        confirmation_token: None,
        return_url: None,
        invoice_link: None,
        price_stars: None,
    }
}

#[derive(Deserialize)]
struct CreatePayment {
    product: String,
    /// `yookassa` (default) or `stars`. `rail` is accepted as an alias.
    method: Option<String>,
    rail: Option<String>,
    /// YooKassa only: `redirect` (default; answer `confirmation_url`) or `embedded` (answer
    /// `confirmation_token` for YooKassa's checkout widget).
    confirmation: Option<String>,
}

async fn create_payment(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreatePayment>,
) -> Result<(StatusCode, Json<PaymentView>), ApiError> {
    if state.catalogue.get(&body.product).is_none() {
        return Err(ApiError::validation("product"));
    }
    let rail = match body.method.or(body.rail).as_deref() {
        None | Some("yookassa") => PaymentProvider::Yookassa,
        Some("stars") => PaymentProvider::Stars,
        Some(_) => return Err(ErrorCode::NotAvailable.into()),
    };
    let embedded = match body.confirmation.as_deref() {
        None | Some("redirect") => false,
        Some("embedded") => true,
        Some(_) => return Err(ApiError::validation("confirmation")),
    };
    let order = NewOrder { user: user.id, product: body.product, rail, embedded, lang: request_lang(&headers) };
    let created = state.actors.payments.create(order).await?;
    let mut view = payment_view(&state, &created.row);
    view.confirmation_token = created.confirmation_token;
    view.return_url = created.return_url;
    if let Some(link) = created.invoice_link {
        view.invoice_link = Some(link);
        view.price_stars = Some(created.row.amount_minor);
    }
    Ok((StatusCode::CREATED, Json(view)))
}

async fn get_payment(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<PaymentView>, ApiError> {
    let row = state.actors.payments.status(user.id, id).await?;
    Ok(Json(payment_view(&state, &row)))
}

/// The Mini App link that reopens the app on this payment (`startapp=paid_<id>`), or the bot's
/// chat when no Mini App short name is configured; `None` without a bot username.
fn telegram_return_url(state: &AppState, id: Uuid) -> Option<String> {
    let t = &state.settings.file.telegram;
    let bot = t.bot_username.trim().trim_start_matches('@');
    match (bot, t.miniapp_short_name.trim()) {
        ("", _) => None,
        (bot, "") => Some(format!("https://t.me/{bot}")),
        (bot, app) => Some(format!("https://t.me/{bot}/{app}?startapp=paid_{}", id.simple())),
    }
}

#[derive(Deserialize)]
struct ReturnQuery {
    sig: Option<String>,
}

/// What the return page shows without a login.
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Plans.ts")]
pub struct PaymentReturnView {
    pub payment_id: Uuid,
    pub status: PaymentStatus,
    pub product: String,
    pub title: Option<String>,
    pub credits: i32,
    /// The way back into the Mini App (`t.me/<bot>/<app>?startapp=paid_<id>`).
    pub telegram_url: Option<String>,
}

/// The return page's read, without a login: a valid signature shows the outcome (a pending
/// YooKassa payment is fetched back and settled first, exactly as for its owner, and at most as
/// often); anything else is `404`, so ids cannot be probed. Limited per IP like logins.
async fn payment_return(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(query): Query<ReturnQuery>,
) -> Result<Json<PaymentReturnView>, ApiError> {
    if let Some(ip) = client_ip(&headers, Some(peer), &state.trusted_proxies) {
        state.limits.check_login(ip)?;
    }
    let sig = query.sig.unwrap_or_default();
    if !crate::auth::return_link::verify(&state.settings.secrets.media_signing_key, id, &sig) {
        return Err(ApiError::not_found());
    }
    let row = state.actors.payments.status_by_link(id).await?;
    let product = state.catalogue.get(&row.product);
    Ok(Json(PaymentReturnView {
        payment_id: row.id,
        status: row.status,
        title: product.map(|p| p.title(request_lang(&headers)).to_string()),
        credits: product.map_or(0, |p| p.credits),
        product: row.product,
        telegram_url: telegram_return_url(&state, id),
    }))
}

/// Stops renewal; the plan and its credits stay until the period ends.
async fn cancel_subscription(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let plan = state.actors.payments.cancel_subscription(user.id).await?;
    Ok(Json(serde_json::json!({"plan": super::me::PlanView::new(&plan, &state)})))
}
