//! The user's own profile, balance, plan and credit history; language setting; "delete my
//! data".

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{AuthUser, UserView};
use super::error::request_lang;
use super::{ApiError, ApiJson, AppState};
use crate::actors::events::BalanceView;
use crate::db::subscriptions::SubscriptionRow;
use crate::db::{self, users};
use crate::domain::i18n;
use crate::domain::pricing::Prices;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(get_me).patch(update_me).delete(delete_me))
        .route("/api/me/ledger", get(list_ledger))
}

/// A plan as the API shows it.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export_to = "Me.ts")]
pub struct PlanView {
    pub product: String,
    pub status: crate::db::types::SubscriptionStatus,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub auto_renew: bool,
    pub credits_per_period: i32,
}

impl PlanView {
    pub fn new(sub: &SubscriptionRow, state: &AppState) -> Self {
        PlanView {
            product: sub.product.clone(),
            status: sub.status,
            period_start: sub.period_start,
            period_end: sub.period_end,
            auto_renew: sub.auto_renew,
            credits_per_period: state.catalogue.get(&sub.product).map(|p| p.credits).unwrap_or(0),
        }
    }
}

#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Me.ts")]
pub struct MeResponse {
    pub user: UserView,
    pub balance: BalanceView,
    pub plan: Option<PlanView>,
    pub prices: Prices,
    pub demo: bool,
}

async fn get_me(State(state): State<AppState>, user: AuthUser) -> Result<Json<MeResponse>, ApiError> {
    let session = state.actors.sessions.session(user.id);
    let (row, balance, plan) = tokio::try_join!(
        async { users::get(&state.pool, user.id).await.map_err(ApiError::from) },
        async { session.balance().await.map_err(ApiError::from) },
        async { db::subscriptions::current(&state.pool, user.id).await.map_err(ApiError::from) },
    )?;
    Ok(Json(MeResponse {
        user: UserView::new(&row, &state),
        balance,
        plan: plan.as_ref().map(|p| PlanView::new(p, &state)),
        prices: state.catalogue.prices,
        demo: state.settings.demo_login,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMe {
    language_code: Option<String>,
}

async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<UpdateMe>,
) -> Result<Json<UserView>, ApiError> {
    let Some(lang) = body.language_code else {
        let row = users::get(&state.pool, user.id).await?;
        return Ok(Json(UserView::new(&row, &state)));
    };
    if !matches!(lang.as_str(), "ru" | "en") {
        return Err(ApiError::validation("language_code"));
    }
    let row = users::set_language(&state.pool, user.id, &lang).await?;
    state.recent_logins.forget(user.id.0);
    Ok(Json(UserView::new(&row, &state)))
}

/// "Delete my data": the user's session clears the profile, deletes their photos, results and
/// chat. Ledger and payment rows stay (accounting).
async fn delete_me(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    state.actors.sessions.session(user.id).delete_my_data().await?;
    // The session bumped the token version: tokens issued before stop working now.
    state.recent_logins.forget(user.id.0);
    state.token_versions.forget(user.id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct LedgerQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Me.ts")]
pub struct LedgerEntryView {
    pub id: i64,
    pub kind: LedgerKind,
    pub amount: i32,
    pub reason: String,
    pub description: String,
    pub generation_id: Option<uuid::Uuid>,
    pub payment_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A line of the credit history, as the user reads it.
#[derive(Serialize, ts_rs::TS, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "Me.ts")]
pub enum LedgerKind {
    Charge,
    Refund,
    Grant,
    Purchase,
    Expire,
    PaymentRefund,
    Adjust,
}

#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Me.ts")]
pub struct LedgerPage {
    pub items: Vec<LedgerEntryView>,
    pub next_cursor: Option<String>,
}

async fn list_ledger(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    query: Result<Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LedgerPage>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(30).clamp(1, 100);
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| ApiError::validation("cursor"))?),
    };
    let lang = request_lang(&headers);
    let rows = db::credits::list_ledger(&state.pool, user.id, before, limit).await?;
    let next_cursor = if rows.len() as i64 == limit { rows.last().map(|r| r.id.to_string()) } else { None };
    let items = rows
        .into_iter()
        .map(|r| LedgerEntryView {
            id: r.id,
            kind: match r.kind.as_str() {
                "reserve" => LedgerKind::Charge,
                "release" => LedgerKind::Refund,
                "grant" => LedgerKind::Grant,
                "purchase" => LedgerKind::Purchase,
                "expire" => LedgerKind::Expire,
                "payment_refund" => LedgerKind::PaymentRefund,
                _ => LedgerKind::Adjust,
            },
            amount: r.amount,
            description: i18n::ledger_description(&r.kind, &r.reason, r.amount, lang),
            reason: r.reason,
            generation_id: r.generation_id,
            payment_id: r.payment_id,
            created_at: r.created_at,
        })
        .collect();
    Ok(Json(LedgerPage { items, next_cursor }))
}
