//! `payments`: one row per attempt to pay, written before the provider is called; settled once
//! (the status guard) in the same transaction as the ledger grant.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::credits::{self, Entry};
use super::{DbError, SqlxResultExt};
use crate::domain::credits::Split;
use crate::domain::ids::UserId;
use crate::domain::tax::Breakdown;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub provider: String,
    pub provider_payment_id: Option<String>,
    pub product: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    /// `purchase` or `renewal`.
    pub purpose: String,
    pub subscription_id: Option<Uuid>,
    pub confirmation_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub succeeded_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, provider, provider_payment_id, product, amount_minor, currency, status, \
     purpose, subscription_id, confirmation_url, created_at, succeeded_at";

pub async fn insert_pending(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user: UserId,
    product: &str,
    amount_kopecks: i64,
    renewal_of: Option<Uuid>,
) -> Result<(), DbError> {
    sqlx::query(
        "insert into payments (id, user_id, provider, product, amount_minor, currency, status, idempotency_key,
                               purpose, subscription_id)
         values ($1, $2, 'yookassa', $3, $4, 'RUB', 'pending', $5, $6, $7)",
    )
    .bind(id)
    .bind(user)
    .bind(product)
    .bind(amount_kopecks)
    .bind(format!("payment:{id}"))
    .bind(if renewal_of.is_some() { "renewal" } else { "purchase" })
    .bind(renewal_of)
    .execute(db)
    .await
    .db()
    .map(|_| ())
}

pub async fn set_provider(
    db: impl PgExecutor<'_>,
    id: Uuid,
    provider_id: &str,
    url: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query("update payments set provider_payment_id = $2, confirmation_url = $3, updated_at = now() where id = $1")
        .bind(id)
        .bind(provider_id)
        .bind(url)
        .execute(db)
        .await
        .db()
        .map(|_| ())
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<PaymentRow, DbError> {
    sqlx::query_as::<_, PaymentRow>(&format!("select {COLUMNS} from payments where id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
        .db()?
        .ok_or(DbError::NotFound)
}

pub async fn by_provider_id(db: impl PgExecutor<'_>, provider_id: &str) -> Result<Option<PaymentRow>, DbError> {
    sqlx::query_as::<_, PaymentRow>(&format!(
        "select {COLUMNS} from payments where provider = 'yookassa' and provider_payment_id = $1"
    ))
    .bind(provider_id)
    .fetch_optional(db)
    .await
    .db()
}

/// Marks the payment succeeded and grants its credits in one transaction; `false` when it was
/// already settled (a duplicate notification).
/// What a succeeded payment buys.
pub enum Grant<'a> {
    Pack {
        credits: i32,
    },
    /// A subscription period (a new plan, or the renewal in `payment.subscription_id`).
    Period {
        credits: i32,
        period_days: i64,
        payment_method_id: Option<&'a str>,
    },
}

pub async fn settle_succeeded(
    conn: &mut PgConnection,
    payment: &PaymentRow,
    grant: &Grant<'_>,
    breakdown: &Breakdown,
    verified: &Value,
) -> Result<bool, DbError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await.db()?;
    let updated = sqlx::query(
        "update payments set status = 'succeeded', gross_kopecks = $2, commission_kopecks = $3, tax_kopecks = $4,
                net_kopecks = $5, provider_object = $6, succeeded_at = now(), updated_at = now()
         where id = $1 and status = 'pending'",
    )
    .bind(payment.id)
    .bind(breakdown.gross_kopecks)
    .bind(breakdown.commission_kopecks)
    .bind(breakdown.tax_kopecks)
    .bind(breakdown.net_kopecks)
    .bind(verified)
    .execute(&mut *tx)
    .await
    .db()?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    match *grant {
        Grant::Pack { credits } => {
            let key = format!("payment:{}", payment.id);
            let entry = Entry {
                user: payment.user_id,
                key: &key,
                kind: "purchase",
                reason: &payment.product,
                delta: Split { free: 0, subscription: 0, purchased: credits },
                payment_id: Some(payment.id),
                note: None,
            };
            credits::apply_entry(&mut *tx, &entry).await?;
        }
        Grant::Period { credits, period_days, payment_method_id } => {
            let sub = super::subscriptions::start_period(
                &mut tx,
                payment.user_id,
                &payment.product,
                credits,
                period_days,
                payment.id,
                payment_method_id,
                payment.subscription_id,
            )
            .await?;
            sqlx::query("update payments set subscription_id = $2 where id = $1")
                .bind(payment.id)
                .bind(sub.id)
                .execute(&mut *tx)
                .await
                .db()?;
        }
    }
    tx.commit().await.db()?;
    Ok(true)
}

pub async fn mark_canceled(db: impl PgExecutor<'_>, id: Uuid, verified: &Value) -> Result<bool, DbError> {
    let r = sqlx::query(
        "update payments set status = 'canceled', provider_object = $2, updated_at = now()
         where id = $1 and status = 'pending'",
    )
    .bind(id)
    .bind(verified)
    .execute(db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}
