//! `subscriptions`: a user's plan and its periods.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::types::{PaymentProvider, SubscriptionStatus};
use super::{DbError, SqlxResultExt};
use crate::domain::ids::UserId;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub product: String,
    pub rail: PaymentProvider,
    pub status: SubscriptionStatus,
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

/// Starts a subscription period paid by `payment_id` (in the caller's transaction): a new plan
/// (replacing the current one, whose unused allowance is carried over once) or the renewal of
/// `renewing`. Grants the period's credits and moves the user's `sub_period_end`.
#[allow(clippy::too_many_arguments)]
pub async fn start_period(
    conn: &mut sqlx::PgConnection,
    user: UserId,
    product: &str,
    credits: i32,
    period_days: i64,
    payment_id: Uuid,
    rail: PaymentProvider,
    payment_method_id: Option<&str>,
    renewing: Option<Uuid>,
) -> Result<SubscriptionRow, DbError> {
    use super::credits::{Entry, apply_entry};
    use crate::domain::credits::Split;

    let (leftover, old_end): (i32, Option<DateTime<Utc>>) =
        sqlx::query_as("select sub_credits, sub_period_end from users where telegram_id = $1 for update")
            .bind(user)
            .fetch_one(&mut *conn)
            .await
            .db()?;
    let current: Option<SubscriptionRow> = sqlx::query_as::<_, SubscriptionRow>(&format!(
        "select {SUBSCRIPTION_COLUMNS} from subscriptions
         where user_id = $1 and status in ('active', 'canceled', 'past_due') for update"
    ))
    .bind(user)
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    let now = Utc::now();
    let (keep_leftover, carried) = match (&renewing, &current) {
        // A renewal: the ended period's allowance expires.
        (Some(_), _) => (false, false),
        // A new plan over a running one: carry the unused allowance over, once.
        (None, Some(old)) if old.period_end > now && !old.carried_over => (true, leftover > 0),
        _ => (false, false),
    };
    if leftover > 0 && !keep_leftover {
        let end = old_end.unwrap_or(now);
        let key = format!("sub:{user}:{}:expire", end.timestamp());
        let entry = Entry {
            user,
            key: &key,
            kind: "expire",
            reason: "subscription",
            delta: Split { free: 0, subscription: -leftover, purchased: 0 },
            payment_id: None,
            note: None,
        };
        apply_entry(&mut *conn, &entry).await?;
    }
    let row = match (renewing, current) {
        (Some(id), Some(old)) if old.id == id => {
            let start = if old.period_end > now { old.period_end } else { now };
            sqlx::query_as::<_, SubscriptionRow>(&format!(
                "update subscriptions set status = 'active', period_start = $2, period_end = $3,
                        renewal_attempts = 0, next_attempt_at = null, updated_at = now()
                 where id = $1 returning {SUBSCRIPTION_COLUMNS}"
            ))
            .bind(id)
            .bind(start)
            .bind(start + chrono::Duration::days(period_days))
            .fetch_one(&mut *conn)
            .await
            .db()?
        }
        (_, current) => {
            if let Some(old) = current {
                sqlx::query("update subscriptions set status = 'replaced', updated_at = now() where id = $1")
                    .bind(old.id)
                    .execute(&mut *conn)
                    .await
                    .db()?;
            }
            sqlx::query_as::<_, SubscriptionRow>(&format!(
                "insert into subscriptions (id, user_id, product, rail, status, period_start, period_end, auto_renew,
                                            payment_method_id, carried_over)
                 values ($1, $2, $3, $9, 'active', $4, $5, $6, $7, $8)
                 returning {SUBSCRIPTION_COLUMNS}"
            ))
            .bind(Uuid::new_v4())
            .bind(user)
            .bind(product)
            .bind(now)
            .bind(now + chrono::Duration::days(period_days))
            .bind(payment_method_id.is_some())
            .bind(payment_method_id)
            .bind(carried)
            .bind(rail)
            .fetch_one(&mut *conn)
            .await
            .db()?
        }
    };
    // One grant per paying payment (a period is always paid by exactly one).
    let key = format!("payment:{payment_id}:period");
    let entry = Entry {
        user,
        key: &key,
        kind: "grant",
        reason: "subscription",
        delta: Split { free: 0, subscription: credits, purchased: 0 },
        payment_id: Some(payment_id),
        note: None,
    };
    apply_entry(&mut *conn, &entry).await?;
    sqlx::query("update users set sub_period_end = $2, updated_at = now() where telegram_id = $1")
        .bind(user)
        .bind(row.period_end)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(row)
}

/// Stops renewal; the plan stays until its period ends.
pub async fn cancel(db: impl PgExecutor<'_>, user: UserId) -> Result<Option<SubscriptionRow>, DbError> {
    sqlx::query_as::<_, SubscriptionRow>(&format!(
        "update subscriptions set auto_renew = false, status = 'canceled', updated_at = now()
         where user_id = $1 and status in ('active', 'past_due') and period_end > now()
         returning {SUBSCRIPTION_COLUMNS}"
    ))
    .bind(user)
    .fetch_optional(db)
    .await
    .db()
}

/// Plans whose period has ended (or a retry is due) and that we renew through YooKassa
/// (Telegram renews Stars plans by itself).
pub async fn due_for_renewal(db: impl PgExecutor<'_>, now: DateTime<Utc>) -> Result<Vec<SubscriptionRow>, DbError> {
    sqlx::query_as::<_, SubscriptionRow>(&format!(
        "select {SUBSCRIPTION_COLUMNS} from subscriptions
         where status in ('active', 'past_due') and auto_renew and payment_method_id is not null and rail = 'yookassa'
           and period_end <= $1 and (next_attempt_at is null or next_attempt_at <= $1)
         order by period_end limit 200"
    ))
    .bind(now)
    .fetch_all(db)
    .await
    .db()
}

/// A failed renewal: retry later (`past_due`) or give up (`lapsed`).
pub async fn renewal_failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    next_attempt_at: Option<DateTime<Utc>>,
) -> Result<SubscriptionRow, DbError> {
    sqlx::query_as::<_, SubscriptionRow>(&format!(
        "update subscriptions set renewal_attempts = renewal_attempts + 1, next_attempt_at = $2,
                status = case when $2::timestamptz is null then 'lapsed' else 'past_due' end, updated_at = now()
         where id = $1 returning {SUBSCRIPTION_COLUMNS}"
    ))
    .bind(id)
    .bind(next_attempt_at)
    .fetch_one(db)
    .await
    .db()
}

/// Active Stars plans whose period ended `grace` ago without Telegram's renewal payment (the
/// user's stars ran out, or the subscription was cancelled in Telegram) become `lapsed`.
pub async fn lapse_unrenewed_stars(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> Result<Vec<SubscriptionRow>, DbError> {
    sqlx::query_as::<_, SubscriptionRow>(&format!(
        "update subscriptions set status = 'lapsed', updated_at = now()
         where status = 'active' and rail = 'stars' and period_end <= $1 returning {SUBSCRIPTION_COLUMNS}"
    ))
    .bind(now - grace)
    .fetch_all(db)
    .await
    .db()
}

/// Cancelled plans whose period ended become `lapsed`.
pub async fn end_cancelled(db: impl PgExecutor<'_>, now: DateTime<Utc>) -> Result<Vec<SubscriptionRow>, DbError> {
    sqlx::query_as::<_, SubscriptionRow>(&format!(
        "update subscriptions set status = 'lapsed', updated_at = now()
         where status = 'canceled' and period_end <= $1 returning {SUBSCRIPTION_COLUMNS}"
    ))
    .bind(now)
    .fetch_all(db)
    .await
    .db()
}
