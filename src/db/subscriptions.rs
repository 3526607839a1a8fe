//! `subscriptions`: a user's plan and its periods.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{DbError, SqlxResultExt};
use crate::domain::ids::UserId;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub product: String,
    pub rail: String,
    pub status: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub auto_renew: bool,
    pub payment_method_id: Option<String>,
    pub renewal_attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub carried_over: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const SUBSCRIPTION_COLUMNS: &str = "id, user_id, product, rail, status, period_start, period_end, auto_renew, \
     payment_method_id, renewal_attempts, next_attempt_at, carried_over, created_at, updated_at";

/// The user's current plan (active, cancelled-but-running, or past due), if any.
pub async fn current(db: impl PgExecutor<'_>, user: UserId) -> Result<Option<SubscriptionRow>, DbError> {
    sqlx::query_as::<_, SubscriptionRow>(&format!(
        "select {SUBSCRIPTION_COLUMNS} from subscriptions
         where user_id = $1 and status in ('active', 'canceled', 'past_due') and period_end > now()"
    ))
    .bind(user)
    .fetch_optional(db)
    .await
    .db()
}
