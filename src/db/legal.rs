//! `consents`, the users' receipt contact and the НПД cap's per-year state (issue 17).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::{DbError, SqlxResultExt};
use crate::domain::ids::UserId;
use crate::domain::legal::Contact;

/// A consent the user gave.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub kind: String,
    pub version: String,
    pub accepted_at: DateTime<Utc>,
}

/// Records a consent to `kind` at `version`; a repeat keeps the first time. Returns the row.
pub async fn record_consent(
    db: impl PgExecutor<'_> + Copy,
    user: UserId,
    kind: &str,
    version: &str,
) -> Result<ConsentRow, DbError> {
    sqlx::query(
        "insert into consents (user_id, kind, version) values ($1, $2, $3)
         on conflict (user_id, kind, version) do nothing",
    )
    .bind(user)
    .bind(kind)
    .bind(version)
    .execute(db)
    .await
    .db()?;
    sqlx::query_as("select kind, version, accepted_at from consents where user_id = $1 and kind = $2 and version = $3")
        .bind(user)
        .bind(kind)
        .bind(version)
        .fetch_one(db)
        .await
        .db()
}

/// Every consent of the user, newest first.
pub async fn consents(db: impl PgExecutor<'_>, user: UserId) -> Result<Vec<ConsentRow>, DbError> {
    sqlx::query_as("select kind, version, accepted_at from consents where user_id = $1 order by accepted_at desc, kind")
        .bind(user)
        .fetch_all(db)
        .await
        .db()
}

/// Whether the user consented to `kind` at `version` (the current text: a new version asks again).
pub async fn has_consent(db: impl PgExecutor<'_>, user: UserId, kind: &str, version: &str) -> Result<bool, DbError> {
    sqlx::query_scalar("select exists (select 1 from consents where user_id = $1 and kind = $2 and version = $3)")
        .bind(user)
        .bind(kind)
        .bind(version)
        .fetch_one(db)
        .await
        .db()
}

/// Keeps `contact` as the user's receipt contact (it replaces the other kind).
pub async fn set_contact(db: impl PgExecutor<'_>, user: UserId, contact: &Contact) -> Result<(), DbError> {
    let (email, phone) = match contact {
        Contact::Email(e) => (Some(e.as_str()), None),
        Contact::Phone(p) => (None, Some(p.as_str())),
    };
    let r = sqlx::query(
        "update users set contact_email = $2, contact_phone = $3, contact_updated_at = now(), updated_at = now()
         where telegram_id = $1",
    )
    .bind(user)
    .bind(email)
    .bind(phone)
    .execute(db)
    .await
    .db()?;
    if r.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
}

/// The user's receipt contact, if they gave one.
pub async fn contact(db: impl PgExecutor<'_>, user: UserId) -> Result<Option<Contact>, DbError> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("select contact_email, contact_phone from users where telegram_id = $1")
            .bind(user)
            .fetch_optional(db)
            .await
            .db()?;
    Ok(match row {
        Some((Some(email), _)) => Some(Contact::Email(email)),
        Some((None, Some(phone))) => Some(Contact::Phone(phone)),
        _ => None,
    })
}

/// The НПД cap's state for one calendar year.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct CapYear {
    /// The operator's cap, when raised (the configured one otherwise).
    pub cap_kopecks: Option<i64>,
    /// Income counts from here (the operator reset the count), else from the year's start.
    pub counted_from: Option<DateTime<Utc>>,
    /// The highest warning sent (basis points of the cap).
    pub warned_bp: i32,
}

pub async fn cap_year(db: impl PgExecutor<'_>, year: i32) -> Result<CapYear, DbError> {
    Ok(sqlx::query_as("select cap_kopecks, counted_from, warned_bp from npd_cap_years where year = $1")
        .bind(year)
        .fetch_optional(db)
        .await
        .db()?
        .unwrap_or_default())
}

/// Marks the warning at `bp` sent; `true` only for the caller that moved it up (once each).
pub async fn cap_warned(db: impl PgExecutor<'_>, year: i32, bp: i32) -> Result<bool, DbError> {
    let r = sqlx::query(
        "insert into npd_cap_years (year, warned_bp) values ($1, $2)
         on conflict (year) do update set warned_bp = $2, updated_at = now() where npd_cap_years.warned_bp < $2",
    )
    .bind(year)
    .bind(bp)
    .execute(db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}

/// The operator's change: a new cap (`Some`), and/or a reset of the count from now (the
/// warnings start over).
pub async fn cap_update(
    db: impl PgExecutor<'_>,
    year: i32,
    cap_kopecks: Option<i64>,
    reset: bool,
) -> Result<(), DbError> {
    sqlx::query(
        "insert into npd_cap_years (year, cap_kopecks, counted_from, warned_bp)
         values ($1, $2, case when $3 then now() end, 0)
         on conflict (year) do update set
             cap_kopecks = coalesce($2, npd_cap_years.cap_kopecks),
             counted_from = case when $3 then now() else npd_cap_years.counted_from end,
             warned_bp = case when $3 or $2 is not null then 0 else npd_cap_years.warned_bp end,
             updated_at = now()",
    )
    .bind(year)
    .bind(cap_kopecks)
    .bind(reset)
    .execute(db)
    .await
    .db()
    .map(|_| ())
}
