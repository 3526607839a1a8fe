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
    /// The user's invitation link: `https://t.me/<bot>?startapp=ref_<code>` (the Mini App's own
    /// address with `?startapp=` when no bot username is configured).
    pub referral_link: String,
    pub referral: ReferralView,
    /// The bot's reminders are off (Profile's switch, `/reminders_off`).
    pub reminders_off: bool,
    /// The onboarding cards were seen (finished or skipped).
    pub onboarded: bool,
    /// Free credits at the start of every month (`credits.free_monthly`).
    pub free_monthly: i32,
}

/// Invitations: the code, how many users joined through it, how many of them brought a reward.
#[derive(Serialize, ts_rs::TS)]
#[ts(export_to = "Me.ts")]
pub struct ReferralView {
    pub code: String,
    pub invited: i64,
    pub rewarded: i64,
    /// Credits each side gets on the invited user's first payment.
    pub credits_invitee: i32,
    pub credits_inviter: i32,
}

/// `https://t.me/<bot>?startapp=ref_<code>`, or `https://t.me/<bot>/<app>?startapp=…` with a
/// Mini App short name; without a bot username, the app's own address with `?startapp=`.
pub fn referral_link(state: &AppState, code: &str) -> String {
    let t = &state.settings.file.telegram;
    let bot = t.bot_username.trim().trim_start_matches('@');
    match (bot, t.miniapp_short_name.trim()) {
        ("", _) => format!("{}/?startapp=ref_{code}", state.settings.public_base_url.trim_end_matches('/')),
        (bot, "") => format!("https://t.me/{bot}?startapp=ref_{code}"),
        (bot, app) => format!("https://t.me/{bot}/{app}?startapp=ref_{code}"),
    }
}

async fn get_me(State(state): State<AppState>, user: AuthUser) -> Result<Json<MeResponse>, ApiError> {
    let session = state.actors.sessions.session(user.id);
    let (row, balance, plan, (code, invited, rewarded)) = tokio::try_join!(
        async { users::get(&state.pool, user.id).await.map_err(ApiError::from) },
        async { session.balance().await.map_err(ApiError::from) },
        async { db::subscriptions::current(&state.pool, user.id).await.map_err(ApiError::from) },
        async { db::referrals::summary(&state.pool, user.id).await.map_err(ApiError::from) },
    )?;
    let growth = &state.settings.file.growth;
    Ok(Json(MeResponse {
        user: UserView::new(&row, &state),
        balance,
        plan: plan.as_ref().map(|p| PlanView::new(p, &state)),
        prices: state.catalogue.prices,
        demo: state.settings.demo_login,
        referral_link: referral_link(&state, &code),
        referral: ReferralView {
            code,
            invited,
            rewarded,
            credits_invitee: growth.referral_credits_invitee,
            credits_inviter: growth.referral_credits_inviter,
        },
        reminders_off: row.reminders_off,
        onboarded: row.onboarded_at.is_some(),
        free_monthly: state.settings.file.credits.free_monthly,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMe {
    language_code: Option<String>,
    /// Turns the bot's reminders off (`true`) or on.
    reminders_off: Option<bool>,
    /// `true`: the onboarding cards were seen (they are not shown again).
    onboarded: Option<bool>,
}

async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<UpdateMe>,
) -> Result<Json<UserView>, ApiError> {
    if let Some(off) = body.reminders_off {
        db::reminders::set_off(&state.pool, user.id, off).await?;
    }
    if body.onboarded == Some(true) {
        users::set_onboarded(&state.pool, user.id).await?;
    }
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
