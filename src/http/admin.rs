//! Operator endpoints (Telegram ids in `ADMIN_TELEGRAM_IDS`).

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate, TimeZone};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AdminUser;
use super::{ApiError, ApiJson, AppState};
use crate::actors::payments::npd::{self, NpdCap};
use crate::db;
use crate::db::types::PaymentProvider;
use crate::domain::ids::UserId;
use crate::domain::tax;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/ledger/check", get(check_ledger))
        .route("/api/admin/stats", get(stats))
        .route("/api/admin/revenue", get(revenue))
        .route("/api/admin/ratings", get(ratings))
        .route("/api/admin/users/{telegram_id}/grant", post(grant))
        .route("/api/admin/users/{telegram_id}/block", post(block))
        .route("/api/admin/payments/{id}/refund", post(refund))
        .route("/api/admin/npd-cap", get(npd_cap).post(set_npd_cap))
        .route("/api/admin/promo", get(list_promo).post(create_promo))
}

#[derive(Deserialize)]
struct RatingsQuery {
    /// Days back (default 30, at most 365).
    days: Option<i64>,
}

/// How users rate results, per kind and category, with the latest reasons given with a 👎:
/// how prompts get better.
async fn ratings(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<RatingsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let days = query.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::validation("days"));
    }
    let since = chrono::Utc::now() - chrono::Duration::days(days);
    let rows = db::generations::rating_summary(&state.pool, since).await?;
    let (up, down) = rows.iter().fold((0, 0), |(u, d), r| (u + r.2, d + r.3));
    let complaints = db::generations::recent_complaints(&state.pool, 50).await?;
    Ok(Json(json!({
        "days": days,
        "up": up,
        "down": down,
        "by_category": rows.iter().map(|(kind, category, up, down)| json!({
            "kind": kind, "category": category, "up": up, "down": down,
            "share_up": if up + down > 0 { *up as f64 / (up + down) as f64 } else { 0.0 },
        })).collect::<Vec<_>>(),
        "recent_reasons": complaints.iter().map(|(id, kind, category, reason, at)| json!({
            "generation_id": id, "kind": kind, "category": category, "reason": reason, "at": at,
        })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoBody {
    code: String,
    credits: Option<i32>,
    discount_percent: Option<i32>,
    product: Option<String>,
    max_uses: i32,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Creates a promo code: credits (1–100000), or a discount percent (1–90) on a product; a use
/// limit; an optional expiry. `409 conflict` when the code exists.
async fn create_promo(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<PromoBody>,
) -> Result<(axum::http::StatusCode, Json<db::promo::PromoRow>), ApiError> {
    let code = super::promo::normalise_code(&body.code).ok_or_else(|| ApiError::validation("code"))?;
    match (body.credits, body.discount_percent) {
        (Some(c), None) if (1..=100_000).contains(&c) => {}
        (None, Some(p)) if (1..=90).contains(&p) => {}
        (Some(_), None) => return Err(ApiError::validation("credits")),
        _ => return Err(ApiError::validation("discount_percent")),
    }
    let product = match (&body.product, body.discount_percent) {
        (Some(p), Some(_)) if state.catalogue.get(p).is_some() => Some(p.as_str()),
        (None, None) => None,
        _ => return Err(ApiError::validation("product")),
    };
    if !(1..=1_000_000).contains(&body.max_uses) {
        return Err(ApiError::validation("max_uses"));
    }
    if body.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
        return Err(ApiError::validation("expires_at"));
    }
    let new = db::promo::NewPromo {
        code: &code,
        credits: body.credits,
        discount_percent: body.discount_percent,
        product,
        max_uses: body.max_uses,
        expires_at: body.expires_at,
        created_by: admin.id,
    };
    let row = db::promo::create(&state.pool, &new).await?;
    tracing::info!(admin.id = %admin.id, code = %row.code, "promo code created");
    Ok((axum::http::StatusCode::CREATED, Json(row)))
}

async fn list_promo(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Value>, ApiError> {
    let items = db::promo::list(&state.pool, 200).await?;
    Ok(Json(json!({"items": items})))
}

#[derive(Deserialize)]
struct GrantBody {
    credits: i32,
    reason: String,
    /// Makes a retried request harmless; a fresh one per grant otherwise.
    key: Option<String>,
}

/// Adds purchased credits (no watermark) through the PaymentActor, once per key.
async fn grant(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(telegram_id): Path<i64>,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Json<Value>, ApiError> {
    if !(1..=100_000).contains(&body.credits) {
        return Err(ApiError::validation("credits"));
    }
    let reason = crate::domain::text::require(&body.reason, 200).map_err(|_| ApiError::validation("reason"))?;
    db::users::get(&state.pool, UserId(telegram_id)).await?;
    let key = match body.key {
        Some(key) => crate::domain::text::require(&key, 100).map_err(|_| ApiError::validation("key"))?,
        None => Uuid::new_v4().to_string(),
    };
    let note = format!("by {}: {reason}", admin.id);
    let applied = state.actors.payments.admin_grant(UserId(telegram_id), body.credits, key.clone(), note).await?;
    tracing::info!(admin.id = %admin.id, user.id = telegram_id, credits = body.credits, applied, "admin grant");
    // The key guards retries of this user's grant; a key already used for this user grants
    // nothing again (and says so), and the same key for another user is another grant.
    Ok(Json(json!({"granted": applied, "credits": body.credits, "key": key, "already_granted": !applied})))
}

#[derive(Deserialize)]
struct BlockBody {
    /// `true` blocks, `false` unblocks.
    blocked: bool,
    reason: String,
}

/// Blocks (or unblocks) a user: login is refused and every session token issued before stops
/// working at once (the token version is bumped), sockets included on their next check.
async fn block(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(telegram_id): Path<i64>,
    ApiJson(body): ApiJson<BlockBody>,
) -> Result<Json<Value>, ApiError> {
    let reason = crate::domain::text::require(&body.reason, 200).map_err(|_| ApiError::validation("reason"))?;
    if telegram_id == admin.id.0 && body.blocked {
        return Err(ApiError::validation("telegram_id"));
    }
    let user = UserId(telegram_id);
    let Some((blocked, token_version)) = state.actors.sessions.session(user).set_blocked(body.blocked).await? else {
        return Err(ApiError::not_found());
    };
    state.token_versions.forget(user);
    state.recent_logins.forget(telegram_id);
    tracing::warn!(admin.id = %admin.id, user.id = telegram_id, blocked, %reason, "admin block");
    Ok(Json(json!({"telegram_id": telegram_id, "blocked": blocked, "token_version": token_version})))
}

#[derive(Deserialize)]
struct RefundBody {
    reason: String,
}

/// Refunds a payment in full through the PaymentActor (money first, then as many of its
/// credits as are left); says exactly what happened.
async fn refund(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<Json<Value>, ApiError> {
    let reason = crate::domain::text::require(&body.reason, 250).map_err(|_| ApiError::validation("reason"))?;
    let outcome = state.actors.payments.refund(id, reason).await?;
    tracing::info!(admin.id = %admin.id, payment.id = %id, removed = outcome.credits_removed, "payment refunded");
    let mut answer = json!({
        "refund_status": outcome.refund_status,
        "credits_removed": outcome.credits_removed,
    });
    match outcome.provider {
        PaymentProvider::Stars => answer["refunded_stars"] = json!(outcome.amount_minor),
        PaymentProvider::Yookassa => {
            answer["refunded_rub"] = json!(crate::domain::pricing::format_rub(outcome.amount_minor))
        }
    }
    Ok(Json(answer))
}

/// The range the revenue report accepts, as (year, day of year).
const REPORT_FIRST_DAY: (i32, u32) = (2000, 1);
const REPORT_LAST_DAY: (i32, u32) = (2999, 365);

#[derive(Deserialize)]
struct RevenueQuery {
    from: NaiveDate,
    to: NaiveDate,
    format: Option<String>,
}

/// Revenue, commission, НПД tax and net per month, provider and product for `[from, to]` (days
/// in the configured timezone); `format=csv` for a spreadsheet with the same numbers.
async fn revenue(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<RevenueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Query(q) = query?;
    // Dates the report can mean: anything else (year +262142, the last representable day,
    // whose next day overflows) is a 422, never arithmetic on the edge of chrono's range.
    let (min, max) = (REPORT_FIRST_DAY, REPORT_LAST_DAY);
    let in_range = |d: NaiveDate| (min..=max).contains(&(d.year(), d.ordinal()));
    if !in_range(q.from) {
        return Err(ApiError::validation("from"));
    }
    if !in_range(q.to) || q.to < q.from {
        return Err(ApiError::validation("to"));
    }
    let tz = state.tz;
    let start = |d: NaiveDate| tz.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN)).earliest();
    let next_day = q.to.succ_opt().ok_or_else(|| ApiError::validation("to"))?;
    let (Some(from), Some(to)) = (start(q.from), start(next_day)) else {
        return Err(ApiError::validation("from"));
    };
    let lines = db::payments::revenue(&state.pool, from.to_utc(), to.to_utc(), tz.name()).await?;
    let now = chrono::Utc::now().with_timezone(&tz);
    let year_start = tz
        .with_ymd_and_hms(now.year(), 1, 1, 0, 0, 0)
        .earliest()
        .map(|d| d.to_utc())
        .ok_or_else(|| ApiError::internal("year start"))?;
    let year_income = db::payments::year_income(&state.pool, year_start).await?;
    let t = &state.settings.file.tax;
    if q.format.as_deref() == Some("csv") {
        let mut csv = String::from(
            "month,provider,product,payments,gross_rub,commission_rub,tax_rub,net_rub,refunded_payments,refunded_rub,\
             commission_reversed_rub,tax_reversed_rub\n",
        );
        for l in &lines {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{}\n",
                l.month,
                l.provider,
                l.product,
                l.payments,
                crate::domain::pricing::format_rub(l.gross_kopecks),
                crate::domain::pricing::format_rub(l.commission_kopecks),
                crate::domain::pricing::format_rub(l.tax_kopecks),
                crate::domain::pricing::format_rub(l.net_kopecks),
                l.refunded_payments,
                crate::domain::pricing::format_rub(l.refunded_kopecks),
                crate::domain::pricing::format_rub(l.commission_reversed_kopecks),
                crate::domain::pricing::format_rub(l.tax_reversed_kopecks),
            ));
        }
        return Ok(([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response());
    }
    Ok(Json(json!({
        "from": q.from,
        "to": q.to,
        "lines": lines,
        "year_income_kopecks": year_income,
        "npd_cap_kopecks": t.npd_annual_cap_kopecks,
        "near_npd_cap": tax::near_npd_cap(year_income, t.npd_annual_cap_kopecks, t.npd_warn_at_bp),
        "npd_cap": current_npd_cap(&state).await?,
    }))
    .into_response())
}

/// The year's income against the НПД cap (a read; the same numbers a rouble sale is checked with).
async fn current_npd_cap(state: &AppState) -> Result<NpdCap, ApiError> {
    let cheapest = state.catalogue.products().iter().map(|p| p.price_kopecks).min().unwrap_or(0);
    Ok(npd::status(&state.pool, &state.settings, state.tz, cheapest).await?)
}

/// `GET /api/admin/npd-cap`: `{mode, year, cap_rub, income_rub, percent, stopped, counted_from}`.
async fn npd_cap(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<NpdCap>, ApiError> {
    Ok(Json(current_npd_cap(&state).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NpdCapBody {
    /// A new cap in roubles ("3000000.00").
    cap_rub: Option<String>,
    /// Count the year's income from now (e.g. after the tax office confirmed a new status).
    #[serde(default)]
    reset: bool,
}

/// `POST /api/admin/npd-cap {cap_rub?, reset?}`: raise (or lower) the cap and/or reset the count;
/// rouble sales resume as soon as the income is under the cap again.
async fn set_npd_cap(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<NpdCapBody>,
) -> Result<Json<NpdCap>, ApiError> {
    let cap = match body.cap_rub.as_deref() {
        Some(raw) => Some(
            crate::domain::pricing::parse_rub(raw)
                .filter(|k| (100..=100_000_000_000).contains(k))
                .ok_or_else(|| ApiError::validation("cap_rub"))?,
        ),
        None => None,
    };
    if cap.is_none() && !body.reset {
        return Err(ApiError::validation("cap_rub"));
    }
    let status = state.actors.payments.set_npd_cap(cap, body.reset).await?;
    tracing::info!(admin.id = %admin.id, cap = %status.cap_rub, reset = body.reset, "НПД cap changed");
    Ok(Json(status))
}

/// Recomputes every balance from the ledger: `{ok, differences}`.
async fn check_ledger(State(state): State<AppState>, admin: AdminUser) -> Result<Json<Value>, ApiError> {
    let differences = db::credits::check(&state.pool).await?;
    if !differences.is_empty() {
        tracing::error!(admin.id = %admin.id, count = differences.len(), "ledger check found differences");
    }
    Ok(Json(json!({"ok": differences.is_empty(), "differences": differences})))
}

/// The operator's figures: totals of the last 24 hours (as before), today's and this month's
/// figures (configured timezone, whose day is `date`), and the providers' health over the last hour.
async fn stats(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Value>, ApiError> {
    let now = chrono::Utc::now();
    let tz = state.tz;
    let local = now.with_timezone(&tz).date_naive();
    let midnight = |d: NaiveDate| tz.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN)).earliest();
    let (Some(day_start), Some(month_start)) = (midnight(local), midnight(local.with_day(1).unwrap_or(local))) else {
        return Err(ApiError::internal("day start"));
    };
    let pool = &state.pool;
    let ((users, users_today), (assistant_calls, assistant_cost), today, month, providers) = tokio::try_join!(
        db::users::counts(pool),
        db::assistant::totals_since(pool, now - chrono::Duration::hours(24)),
        db::stats::figures_since(pool, day_start.to_utc()),
        db::stats::figures_since(pool, month_start.to_utc()),
        db::stats::provider_errors(pool, now - chrono::Duration::hours(1)),
    )?;
    let (kie_finished, kie_errors, openrouter_calls, openrouter_errors) = providers;
    let (queued, running) = state.actors.generator.load();
    Ok(Json(json!({
        "date": local,
        "users": users,
        "users_active_24h": users_today,
        "assistant_calls_24h": assistant_calls,
        "assistant_cost_usd_24h": assistant_cost,
        "sessions_live": state.actors.sessions.live(),
        "today": today,
        "month": month,
        "providers": {
            "kie": {"finished_1h": kie_finished, "errors_1h": kie_errors},
            "openrouter": {"calls_1h": openrouter_calls, "errors_1h": openrouter_errors},
            "queue": {"queued": queued, "running": running, "max": state.settings.file.generation.max_queue},
        },
    })))
}
