//! The catalogue and payments (DESIGN §2, §5; docs/API.md):
//!
//! - `GET /api/plans`: packs and plans with prices in roubles and stars.
//! - `POST /api/payments {product}`: a `payments` row first, then a YooKassa payment (our id is
//!   the idempotence key and the order id) → `{payment_id, confirmation_url}`; the user pays on
//!   YooKassa's page and comes back to `/plans?payment=<id>`.
//! - `GET /api/payments/{id}`: the status; a pending payment is re-fetched from YooKassa and
//!   settled through the PaymentActor (so a lost notification never loses a purchase).
//! - `GET /api/payments/{id}/return?sig=`: the same for the return page without a login (the
//!   checkout often opens outside Telegram); only for a return link the server signed
//!   (`auth::return_link`), and only the outcome: status, product, credits, the way back.
//! - `POST /webhooks/yookassa`: only from YooKassa's networks (`X-Forwarded-For` only from our
//!   trusted proxies); the body is a hint: the payment is fetched back and only that is acted on.
//!
//! Packs and monthly plans are sold through YooKassa (plans save the payment method; the
//! Scheduler renews them, `actors::renewals`); packs also for Telegram Stars (an invoice link;
//! `bot.rs` answers `pre_checkout_query` and applies `successful_payment`). Stars plans are
//! refused with `not_available`.
//! - `POST /api/subscription/cancel`: no more renewals; the plan runs to its period end.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use uuid::Uuid;

use super::auth::AuthUser;
use super::error::request_lang;
use super::{ApiError, ApiJson, AppState, client_ip};
use crate::actors::payments::{ReconcileError, Settled};
use crate::clients::yookassa::{NewPayment, YooKassaError};
use crate::config::ProductKind;
use crate::db::payments::{self as pay_db, PaymentRow};
use crate::domain::pricing::format_rub;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plans", get(plans))
        .route("/api/payments", post(create_payment))
        .route("/api/payments/{id}", get(get_payment))
        .route("/api/payments/{id}/return", get(payment_return))
        .route("/webhooks/yookassa", post(yookassa_webhook))
        .route("/api/subscription/cancel", post(cancel_subscription))
}

/// Stops renewal; the plan and its credits stay until the period ends.
async fn cancel_subscription(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, ApiError> {
    let current = crate::db::subscriptions::current(&state.pool, user.id).await?;
    if let Some(sub) = current.filter(|s| s.rail == "stars" && s.status != "canceled") {
        // Telegram charges Stars plans itself: stop it there first, or it would charge again.
        if let Some(charge) = sub.payment_method_id.as_deref() {
            state
                .services
                .telegram
                .edit_user_star_subscription(user.id.0, charge, true)
                .await
                .map_err(|e| ApiError::unavailable("payment_unavailable", e))?;
        }
    }
    let Some(plan) = crate::db::subscriptions::cancel(&state.pool, user.id).await? else {
        return Err(ApiError::not_found());
    };
    tracing::info!(user.id = %user.id, subscription.id = %plan.id, "subscription renewal cancelled");
    Ok(Json(json!({"plan": super::me::PlanView::new(&plan, &state)})))
}

async fn plans(State(state): State<AppState>, headers: HeaderMap, _user: AuthUser) -> Json<Value> {
    let lang = request_lang(&headers);
    let products: Vec<Value> = state
        .catalogue
        .products()
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "kind": match p.kind { ProductKind::Pack => "pack", ProductKind::Subscription => "subscription" },
                "title": p.title(lang),
                "credits": p.credits,
                "price_kopecks": p.price_kopecks,
                "price_rub": format_rub(p.price_kopecks),
                "price_stars": p.price_stars,
                "period_days": p.period_days,
                "available": true,
                "stars_available": p.kind == ProductKind::Pack || p.period_days == Some(STARS_PERIOD_DAYS),
            })
        })
        .collect();
    Json(json!({"products": products}))
}

#[derive(Deserialize)]
struct CreatePayment {
    product: String,
    /// `yookassa` (default). `rail` is accepted as an alias.
    method: Option<String>,
    rail: Option<String>,
    /// YooKassa only: `redirect` (default; answer `confirmation_url`) or `embedded` (answer
    /// `confirmation_token` for YooKassa's checkout widget).
    confirmation: Option<String>,
}

fn payment_view(row: &PaymentRow, credits: i32) -> Value {
    json!({
        "payment_id": row.id,
        "status": row.status,
        "product": row.product,
        "credits": credits,
        "amount_rub": format_rub(row.amount_minor),
        "confirmation_url": row.confirmation_url,
        "created_at": row.created_at,
        "succeeded_at": row.succeeded_at,
    })
}

async fn create_payment(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreatePayment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let product = state.catalogue.get(&body.product).ok_or(ApiError::validation("product"))?.clone();
    let method = body.method.or(body.rail).unwrap_or_else(|| "yookassa".into());
    let lang = request_lang(&headers);
    match method.as_str() {
        "yookassa" => {}
        // Telegram renews Stars subscriptions every 30 days exactly, so only such plans qualify.
        "stars" if product.kind == ProductKind::Pack || product.period_days == Some(STARS_PERIOD_DAYS) => {
            return stars_invoice(&state, user, &product, lang).await;
        }
        _ => return Err(ApiError::new(StatusCode::CONFLICT, "not_available")),
    }
    let embedded = match body.confirmation.as_deref() {
        None | Some("redirect") => false,
        Some("embedded") => true,
        Some(_) => return Err(ApiError::validation("confirmation")),
    };
    let id = Uuid::new_v4();
    pay_db::insert_pending(&state.pool, pay_db::Rail::YooKassa, id, user.id, &product.id, product.price_kopecks, None)
        .await?;
    let return_url = return_url(&state, id);
    let order = id.to_string();
    let description = match lang {
        crate::domain::i18n::Lang::Ru => format!("{} — Примерка", product.title(lang)),
        crate::domain::i18n::Lang::En => format!("{} — Primerka", product.title(lang)),
    };
    let new = NewPayment {
        amount_kopecks: product.price_kopecks,
        description: &description,
        return_url: &return_url,
        order_id: &order,
        user_id: user.id.0,
        receipt_item: &description,
        save_payment_method: product.kind == ProductKind::Subscription,
        embedded,
    };
    // Our id is the idempotence key: a retry can never create a second YooKassa payment.
    let mut last_error = None;
    for attempt in 0..3u64 {
        match state.services.yookassa.create_payment(&new, &order).await {
            Ok(payment) => {
                pay_db::set_provider(&state.pool, id, &payment.id, payment.confirmation_url.as_deref()).await?;
                let row = pay_db::get(&state.pool, id).await?;
                let mut view = payment_view(&row, product.credits);
                if let Some(token) = payment.confirmation_token.filter(|_| embedded) {
                    // The widget opens with the token and sends the user to `return_url` after.
                    view["confirmation_token"] = json!(token);
                    view["return_url"] = json!(return_url);
                }
                return Ok((StatusCode::CREATED, Json(view)));
            }
            Err(YooKassaError::Transient(e)) => {
                last_error = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(300 * (attempt + 1))).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "YooKassa refused to create a payment");
                let _ = pay_db::mark_canceled(&state.pool, id, &json!({"error": e.to_string()})).await;
                return Err(ApiError::unavailable("payment_unavailable", e));
            }
        }
    }
    let _ = pay_db::mark_canceled(&state.pool, id, &json!({"error": "unavailable"})).await;
    Err(ApiError::unavailable("payment_unavailable", last_error.unwrap_or_default()))
}

/// The only subscription period Telegram Stars supports (`subscription_period` = 2592000 s).
const STARS_PERIOD_DAYS: i64 = 30;

/// A Telegram Stars invoice for a pack or a plan: the Mini App opens `invoice_link` with
/// `WebApp.openInvoice`; the credits arrive with Telegram's `successful_payment` (for a plan,
/// again with every monthly renewal Telegram charges by itself).
async fn stars_invoice(
    state: &AppState,
    user: AuthUser,
    product: &crate::domain::pricing::Product,
    lang: crate::domain::i18n::Lang,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = Uuid::new_v4();
    pay_db::insert_pending(&state.pool, pay_db::Rail::Stars, id, user.id, &product.id, product.price_stars, None)
        .await?;
    let title = product.title(lang);
    let subscription = product.kind == ProductKind::Subscription;
    let description = if subscription {
        lang.pick(
            "Подписка на 30 дней с продлением каждый месяц; отменить можно в любой момент",
            "A 30-day plan renewed monthly; cancel at any time",
        )
    } else {
        lang.pick("Кредиты для примерки и редактирования фото", "Credits for try-ons and photo edits")
    };
    let period = subscription.then_some((STARS_PERIOD_DAYS * 86_400) as u32);
    let link = match state
        .services
        .telegram
        .create_stars_invoice_link(title, description, &id.to_string(), product.price_stars, period)
        .await
    {
        Ok(link) => link,
        Err(e) => {
            let _ = pay_db::mark_canceled(&state.pool, id, &json!({"error": e.to_string()})).await;
            return Err(ApiError::unavailable("payment_unavailable", e));
        }
    };
    pay_db::set_provider_link(&state.pool, id, &link).await?;
    let row = pay_db::get(&state.pool, id).await?;
    let mut view = payment_view(&row, product.credits);
    view["invoice_link"] = json!(link);
    view["price_stars"] = json!(product.price_stars);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Fetches the payment from YooKassa and settles it through the PaymentActor.
async fn reconcile(state: &AppState, row: &PaymentRow) -> Result<Settled, ApiError> {
    state.actors.payments.reconcile(&state.services, row).await.map_err(|e| match e {
        ReconcileError::Provider(e @ YooKassaError::Transient(_)) => ApiError::unavailable("payment_unavailable", e),
        e => ApiError::internal(e),
    })
}

async fn get_payment(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>, ApiError> {
    let mut row = pay_db::get(&state.pool, id).await?;
    if row.user_id != user.id {
        return Err(ApiError::not_found());
    }
    if row.status == "pending" && row.provider == "yookassa" {
        reconcile(&state, &row).await?;
        row = pay_db::get(&state.pool, id).await?;
    }
    let credits = state.catalogue.get(&row.product).map_or(0, |p| p.credits);
    Ok(Json(payment_view(&row, credits)))
}

/// Where YooKassa sends the payer afterwards: the app's plans screen with the payment id and a
/// signature that lets the page show the outcome even where nobody is logged in.
fn return_url(state: &AppState, id: Uuid) -> String {
    let sig = crate::auth::return_link::sign(&state.settings.secrets.media_signing_key, id);
    format!("{}/plans?payment={id}&sig={sig}", state.settings.public_base_url)
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

/// The return page's read, without a login: a valid signature shows the outcome (a pending
/// YooKassa payment is re-fetched and settled first, exactly as for its owner); anything else is
/// `404`, so ids cannot be probed. Limited per IP like logins.
async fn payment_return(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(query): Query<ReturnQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(ip) = client_ip(&headers, Some(peer), &state.trusted_proxies) {
        state.limits.check_login(ip)?;
    }
    let sig = query.sig.unwrap_or_default();
    if !crate::auth::return_link::verify(&state.settings.secrets.media_signing_key, id, &sig) {
        return Err(ApiError::not_found());
    }
    let mut row = pay_db::get(&state.pool, id).await?;
    if row.status == "pending" && row.provider == "yookassa" {
        reconcile(&state, &row).await?;
        row = pay_db::get(&state.pool, id).await?;
    }
    let product = state.catalogue.get(&row.product);
    Ok(Json(json!({
        "payment_id": row.id,
        "status": row.status,
        "product": row.product,
        "title": product.map(|p| p.title(request_lang(&headers))),
        "credits": product.map_or(0, |p| p.credits),
        "telegram_url": telegram_return_url(&state, id),
    })))
}

async fn yookassa_webhook(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let ip = client_ip(&headers, Some(peer), &state.trusted_proxies);
    let allowed = ip.is_some_and(|ip| state.webhook_networks.iter().any(|n| n.contains(&ip)));
    if !allowed {
        tracing::warn!(ip = ?ip, "a YooKassa notification from outside YooKassa's networks was refused");
        return Err(ApiError::forbidden());
    }
    let event: Value = serde_json::from_slice(&body).map_err(|e| ApiError::invalid_body(e.to_string()))?;
    let Some(provider_id) = event["object"]["id"].as_str() else { return Ok(StatusCode::OK) };
    if !event["event"].as_str().is_some_and(|e| e.starts_with("payment.")) {
        return Ok(StatusCode::OK);
    }
    let Some(row) = pay_db::by_provider_id(&state.pool, provider_id).await? else {
        // Not ours (or not stored yet): the reconciliation on return settles it.
        return Ok(StatusCode::OK);
    };
    if row.status != "pending" {
        return Ok(StatusCode::OK);
    }
    // A transient failure answers 5xx so YooKassa sends the notification again.
    let outcome = reconcile(&state, &row).await?;
    tracing::info!(payment.id = %row.id, outcome = ?outcome, "YooKassa notification handled");
    Ok(StatusCode::OK)
}
