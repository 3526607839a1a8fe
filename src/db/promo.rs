//! `promo_codes` and `promo_redemptions`: codes an operator makes (credits, or a discount on a
//! product's next payment), redeemed once per user within the use limit and the expiry.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::credits::{self, Entry};
use super::{DbError, SqlxResultExt};
use crate::domain::credits::Split;
use crate::domain::ids::UserId;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, ts_rs::TS)]
#[ts(export_to = "Admin.ts")]
pub struct PromoRow {
    pub code: String,
    pub credits: Option<i32>,
    pub discount_percent: Option<i32>,
    pub product: Option<String>,
    pub max_uses: i32,
    pub uses: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "code, credits, discount_percent, product, max_uses, uses, expires_at, created_by, created_at";

/// A new code (already validated and normalised by the caller).
pub struct NewPromo<'a> {
    pub code: &'a str,
    pub credits: Option<i32>,
    pub discount_percent: Option<i32>,
    pub product: Option<&'a str>,
    pub max_uses: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: UserId,
}

/// Stores a code; `Conflict` when it exists.
pub async fn create(db: impl PgExecutor<'_>, p: &NewPromo<'_>) -> Result<PromoRow, DbError> {
    sqlx::query_as::<_, PromoRow>(&format!(
        "insert into promo_codes (code, credits, discount_percent, product, max_uses, expires_at, created_by)
         values ($1, $2, $3, $4, $5, $6, $7) returning {COLUMNS}"
    ))
    .bind(p.code)
    .bind(p.credits)
    .bind(p.discount_percent)
    .bind(p.product)
    .bind(p.max_uses)
    .bind(p.expires_at)
    .bind(p.created_by)
    .fetch_one(db)
    .await
    .db()
}

/// Every code, newest first.
pub async fn list(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<PromoRow>, DbError> {
    sqlx::query_as::<_, PromoRow>(&format!("select {COLUMNS} from promo_codes order by created_at desc limit $1"))
        .bind(limit)
        .fetch_all(db)
        .await
        .db()
}

/// What redeeming did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    Credits(i32),
    Discount { percent: i32, product: String },
}

/// Why a code was not redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    Expired,
    UsedUp,
    AlreadyUsed,
}

/// Redeems `code` for `user` in one transaction: the code's row is locked (concurrent
/// redemptions of a code run one after another, so the use limit holds), the user's
/// redemption row is the once-per-user guard, and a credit code's grant is a ledger entry with
/// the key `promo:<code>:<user>` in the same transaction.
pub async fn redeem(
    conn: &mut PgConnection,
    user: UserId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Result<Redeemed, Refused>, DbError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await.db()?;
    let row = sqlx::query_as::<_, PromoRow>(&format!("select {COLUMNS} from promo_codes where code = $1 for update"))
        .bind(code)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
    let Some(row) = row else {
        return Ok(Err(Refused::NotFound));
    };
    let inserted = sqlx::query(
        "insert into promo_redemptions (code, user_id) values ($1, $2) on conflict (code, user_id) do nothing",
    )
    .bind(code)
    .bind(user)
    .execute(&mut *tx)
    .await
    .db()?;
    if inserted.rows_affected() == 0 {
        return Ok(Err(Refused::AlreadyUsed));
    }
    if row.expires_at.is_some_and(|at| at <= now) {
        return Ok(Err(Refused::Expired));
    }
    if row.uses >= row.max_uses {
        return Ok(Err(Refused::UsedUp));
    }
    sqlx::query("update promo_codes set uses = uses + 1 where code = $1").bind(code).execute(&mut *tx).await.db()?;
    let outcome = match (row.credits, row.discount_percent, row.product) {
        (Some(credits), _, _) => {
            let key = format!("promo:{code}:{user}");
            let entry = Entry {
                user,
                key: &key,
                kind: "grant",
                reason: "promo",
                delta: Split { free: 0, subscription: 0, purchased: credits },
                payment_id: None,
                note: Some(code),
            };
            credits::apply_entry(&mut *tx, &entry).await?;
            Redeemed::Credits(credits)
        }
        (None, Some(percent), Some(product)) => Redeemed::Discount { percent, product },
        _ => return Err(DbError::Conflict { constraint: "promo_codes_kind".into() }),
    };
    tx.commit().await.db()?;
    Ok(Ok(outcome))
}

/// A discount waiting for the user's next payment of `product`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingDiscount {
    pub code: String,
    pub percent: i32,
}

/// The user's best unused discount for `product` (free, or its payment was canceled), locked
/// until the caller's transaction ends.
pub async fn pending_discount(
    conn: &mut PgConnection,
    user: UserId,
    product: &str,
) -> Result<Option<PendingDiscount>, DbError> {
    sqlx::query_as::<_, PendingDiscount>(
        "select pr.code, pc.discount_percent as percent
         from promo_redemptions pr join promo_codes pc on pc.code = pr.code
         where pr.user_id = $1 and pc.discount_percent is not null and pc.product = $2
           and (pr.payment_id is null
                or exists (select 1 from payments p where p.id = pr.payment_id and p.status = 'canceled'))
         order by pc.discount_percent desc, pr.redeemed_at
         limit 1
         for update of pr",
    )
    .bind(user)
    .bind(product)
    .fetch_optional(conn)
    .await
    .db()
}

/// The discounts the user holds, per product (for the plans screen).
pub async fn pending_discounts(db: impl PgExecutor<'_>, user: UserId) -> Result<Vec<(String, i32)>, DbError> {
    sqlx::query_as(
        "select pc.product, max(pc.discount_percent)
         from promo_redemptions pr join promo_codes pc on pc.code = pr.code
         where pr.user_id = $1 and pc.discount_percent is not null and pc.product is not null
           and (pr.payment_id is null
                or exists (select 1 from payments p where p.id = pr.payment_id and p.status = 'canceled'))
         group by pc.product",
    )
    .bind(user)
    .fetch_all(db)
    .await
    .db()
}

/// Marks the discount as applied to `payment` (in the transaction that inserted it).
pub async fn attach_discount(conn: &mut PgConnection, user: UserId, code: &str, payment: Uuid) -> Result<(), DbError> {
    sqlx::query("update promo_redemptions set payment_id = $3 where code = $2 and user_id = $1")
        .bind(user)
        .bind(code)
        .bind(payment)
        .execute(conn)
        .await
        .db()
        .map(|_| ())
}
