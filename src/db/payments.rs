//! `payments`: one row per attempt to pay, written before the provider is called; settled once
//! (the status guard) in the same transaction as the ledger grant.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::credits::{self, Entry};
use super::types::{PaymentProvider, PaymentStatus};
use super::{DbError, SqlxResultExt};
use crate::domain::credits::Split;
use crate::domain::ids::UserId;
use crate::domain::tax::Breakdown;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub provider: PaymentProvider,
    pub provider_payment_id: Option<String>,
    pub product: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: PaymentStatus,
    /// `purchase` or `renewal`.
    pub purpose: String,
    pub subscription_id: Option<Uuid>,
    pub confirmation_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub succeeded_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, provider, provider_payment_id, product, amount_minor, currency, status, \
     purpose, subscription_id, confirmation_url, created_at, succeeded_at";

/// Which rail a payment goes through: roubles in kopecks (YooKassa) or whole stars (Telegram).
pub type Rail = PaymentProvider;

impl PaymentProvider {
    pub fn currency(self) -> &'static str {
        match self {
            PaymentProvider::Yookassa => "RUB",
            PaymentProvider::Stars => "XTR",
        }
    }
}

pub async fn insert_pending(
    db: impl PgExecutor<'_>,
    rail: Rail,
    id: Uuid,
    user: UserId,
    product: &str,
    amount_minor: i64,
    renewal_of: Option<Uuid>,
) -> Result<(), DbError> {
    sqlx::query(
        "insert into payments (id, user_id, provider, product, amount_minor, currency, status, idempotency_key,
                               purpose, subscription_id)
         values ($1, $2, $8, $3, $4, $9, 'pending', $5, $6, $7)",
    )
    .bind(id)
    .bind(user)
    .bind(product)
    .bind(amount_minor)
    .bind(format!("payment:{id}"))
    .bind(if renewal_of.is_some() { "renewal" } else { "purchase" })
    .bind(renewal_of)
    .bind(rail)
    .bind(rail.currency())
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

/// Stores a Stars invoice link (the provider's charge id arrives with the payment).
pub async fn set_provider_link(db: impl PgExecutor<'_>, id: Uuid, url: &str) -> Result<(), DbError> {
    sqlx::query("update payments set confirmation_url = $2, updated_at = now() where id = $1")
        .bind(id)
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

/// YooKassa payments still pending, created between `max_age` and `min_age` ago, oldest first.
pub async fn pending_yookassa(
    db: impl PgExecutor<'_>,
    min_age: chrono::Duration,
    max_age: chrono::Duration,
    limit: i64,
) -> Result<Vec<PaymentRow>, DbError> {
    let now = Utc::now();
    sqlx::query_as::<_, PaymentRow>(&format!(
        "select {COLUMNS} from payments
         where status = 'pending' and provider = 'yookassa' and provider_payment_id is not null
           and created_at <= $1 and created_at >= $2
         order by created_at limit $3"
    ))
    .bind(now - min_age)
    .bind(now - max_age)
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
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
                payment.provider,
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

/// How a refund is booked.
#[derive(Debug, Clone, Copy)]
pub struct RefundBooks<'a> {
    /// The payment bought a subscription period (its credits are in the subscription bucket).
    pub subscription: bool,
    /// Credits the payment bought (as many as are left are taken back).
    pub credits: i32,
    pub returns_commission: bool,
    pub refund_id: Option<&'a str>,
}

/// Records the contact the payment's receipt was sent to (a refund's receipt goes there too).
pub async fn set_receipt_customer(db: impl PgExecutor<'_>, id: Uuid, customer: &Value) -> Result<(), DbError> {
    sqlx::query("update payments set receipt_customer = $2, updated_at = now() where id = $1")
        .bind(id)
        .bind(customer)
        .execute(db)
        .await
        .db()
        .map(|_| ())
}

/// The contact a payment's receipt was sent to.
pub async fn receipt_customer(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Value>, DbError> {
    sqlx::query_scalar("select receipt_customer from payments where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .db()
        .map(Option::flatten)
}

/// A refunded payment: the status flips once and the bought credits are taken back, as many as
/// are left (a bucket never goes below zero). Returns the credits removed, or `None` when the
/// payment was not `succeeded` (already refunded, never paid).
///
/// The refund reverses the payment in the books: its tax always (the receipt is annulled), its
/// commission when `returns_commission`; `refund_id` is the provider's refund, when known.
pub async fn settle_refund(
    conn: &mut PgConnection,
    payment: &PaymentRow,
    refund: &RefundBooks<'_>,
) -> Result<Option<i32>, DbError> {
    let RefundBooks { subscription, credits, returns_commission, refund_id } = *refund;
    let mut tx = sqlx::Connection::begin(&mut *conn).await.db()?;
    let updated = sqlx::query(
        "update payments set status = 'refunded', refunded_at = now(), updated_at = now(),
                refund_tax_kopecks = coalesce(tax_kopecks, 0),
                refund_commission_kopecks = case when $2 then coalesce(commission_kopecks, 0) else 0 end,
                provider_refund_id = coalesce($3, provider_refund_id)
         where id = $1 and status = 'succeeded'",
    )
    .bind(payment.id)
    .bind(returns_commission)
    .bind(refund_id)
    .execute(&mut *tx)
    .await
    .db()?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    let (sub, purchased): (i32, i32) =
        sqlx::query_as("select sub_credits, purchased_credits from users where telegram_id = $1 for update")
            .bind(payment.user_id)
            .fetch_one(&mut *tx)
            .await
            .db()?;
    let removed = credits.min(if subscription { sub } else { purchased }).max(0);
    if removed > 0 {
        let delta = if subscription {
            Split { free: 0, subscription: -removed, purchased: 0 }
        } else {
            Split { free: 0, subscription: 0, purchased: -removed }
        };
        let key = format!("payment:{}:refund", payment.id);
        let entry = Entry {
            user: payment.user_id,
            key: &key,
            kind: "payment_refund",
            reason: &payment.product,
            delta,
            payment_id: Some(payment.id),
            note: None,
        };
        credits::apply_entry(&mut *tx, &entry).await?;
    }
    if subscription {
        sqlx::query(
            "update subscriptions set status = 'lapsed', auto_renew = false, updated_at = now()
             where id = $1 and status in ('active', 'canceled', 'past_due')",
        )
        .bind(payment.subscription_id)
        .execute(&mut *tx)
        .await
        .db()?;
    }
    tx.commit().await.db()?;
    Ok(Some(removed))
}

/// One line of the revenue report: a provider's payments that succeeded in the range (by the
/// month they were paid in). Refunds reverse: `commission`, `tax` and `net` are what remains
/// after them (`gross − refunded = commission + tax + net`); the `*_reversed` columns say how
/// much the refunds took back.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RevenueLine {
    /// First day of the month (configured timezone), `YYYY-MM`.
    pub month: String,
    pub provider: String,
    pub product: String,
    pub payments: i64,
    pub gross_kopecks: i64,
    pub commission_kopecks: i64,
    pub tax_kopecks: i64,
    pub net_kopecks: i64,
    pub refunded_payments: i64,
    pub refunded_kopecks: i64,
    pub commission_reversed_kopecks: i64,
    pub tax_reversed_kopecks: i64,
}

pub async fn revenue(
    db: impl PgExecutor<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: &str,
) -> Result<Vec<RevenueLine>, DbError> {
    sqlx::query_as::<_, RevenueLine>(
        "select to_char(succeeded_at at time zone $3, 'YYYY-MM') as month, provider, product,
                count(*) as payments,
                coalesce(sum(gross_kopecks), 0)::bigint as gross_kopecks,
                coalesce(sum(commission_kopecks - coalesce(refund_commission_kopecks, 0)), 0)::bigint
                    as commission_kopecks,
                coalesce(sum(tax_kopecks - coalesce(refund_tax_kopecks, 0)), 0)::bigint as tax_kopecks,
                coalesce(sum(case when status = 'refunded'
                                  then coalesce(refund_commission_kopecks, 0) - commission_kopecks
                                  else net_kopecks end), 0)::bigint as net_kopecks,
                count(*) filter (where status = 'refunded') as refunded_payments,
                coalesce(sum(gross_kopecks) filter (where status = 'refunded'), 0)::bigint as refunded_kopecks,
                coalesce(sum(refund_commission_kopecks), 0)::bigint as commission_reversed_kopecks,
                coalesce(sum(refund_tax_kopecks), 0)::bigint as tax_reversed_kopecks
         from payments
         where status in ('succeeded', 'refunded') and succeeded_at >= $1 and succeeded_at < $2
         group by 1, provider, product order by 1, provider, product",
    )
    .bind(from)
    .bind(to)
    .bind(tz)
    .fetch_all(db)
    .await
    .db()
}

/// Gross income of the calendar year so far (for the НПД cap warning), net of refunds.
pub async fn year_income(db: impl PgExecutor<'_>, year_start: DateTime<Utc>) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "select coalesce(sum(gross_kopecks), 0)::bigint from payments where status = 'succeeded' and succeeded_at >= $1",
    )
    .bind(year_start)
    .fetch_one(db)
    .await
    .db()
}

/// A Stars payment as Telegram reported it (`successful_payment`, or a transaction of
/// `getStarTransactions`), kept until it is applied.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StarsInboxRow {
    pub charge_id: String,
    pub payment_id: Uuid,
    pub payer: i64,
    pub total_stars: i64,
    pub raw: Value,
    pub attempts: i32,
}

/// Stores a Stars payment once; `true` when it was new.
pub async fn inbox_insert(db: impl PgExecutor<'_>, row: &StarsInboxRow, source: &str) -> Result<bool, DbError> {
    let r = sqlx::query(
        "insert into stars_inbox (charge_id, payment_id, payer, total_stars, raw, source)
         values ($1, $2, $3, $4, $5, $6) on conflict (charge_id) do nothing",
    )
    .bind(&row.charge_id)
    .bind(row.payment_id)
    .bind(row.payer)
    .bind(row.total_stars)
    .bind(&row.raw)
    .bind(source)
    .execute(db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}

/// Stars payments not applied yet, oldest first.
pub async fn inbox_unapplied(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<StarsInboxRow>, DbError> {
    sqlx::query_as(
        "select charge_id, payment_id, payer, total_stars, raw, attempts from stars_inbox
         where applied_at is null order by received_at limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

pub async fn inbox_get(db: impl PgExecutor<'_>, charge_id: &str) -> Result<Option<StarsInboxRow>, DbError> {
    sqlx::query_as(
        "select charge_id, payment_id, payer, total_stars, raw, attempts from stars_inbox where charge_id = $1",
    )
    .bind(charge_id)
    .fetch_optional(db)
    .await
    .db()
}

/// Records the outcome of applying an inbox row (`applied`: done, whatever the outcome).
pub async fn inbox_done(db: impl PgExecutor<'_>, charge_id: &str, applied: bool, outcome: &str) -> Result<(), DbError> {
    sqlx::query(
        "update stars_inbox set attempts = attempts + 1,
                applied_at = case when $2 then coalesce(applied_at, now()) else applied_at end,
                outcome = case when $2 then $3 else outcome end,
                last_error = case when $2 then last_error else $3 end
         where charge_id = $1",
    )
    .bind(charge_id)
    .bind(applied)
    .bind(outcome)
    .execute(db)
    .await
    .db()
    .map(|_| ())
}

/// Charge ids among `ids` already in the inbox.
pub async fn inbox_known(db: impl PgExecutor<'_>, ids: &[String]) -> Result<Vec<String>, DbError> {
    sqlx::query_scalar("select charge_id from stars_inbox where charge_id = any($1)").bind(ids).fetch_all(db).await.db()
}
