//! Re-engagement through the bot (`reminders_sent`): who may get a reminder now, and the
//! once-only record of each one (claimed before it is handed to the Notifier).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

use super::{DbError, SqlxResultExt};
use crate::domain::ids::UserId;

/// A user to remind, in their language; `key` identifies what the reminder is about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Candidate {
    pub user_id: UserId,
    pub language_code: String,
    pub key: String,
    pub product: Option<String>,
}

/// Shared conditions: reminders on, the bot not blocked, the account live, and no reminder of
/// any kind within the gap (the per-user rate limit).
const REACHABLE: &str = "not u.reminders_off and not u.bot_blocked and not u.blocked and u.deleted_at is null
     and not exists (select 1 from reminders_sent r where r.user_id = u.telegram_id and r.sent_at > $2)";

/// Users whose free credits of `month` are waiting (they have not opened the app this month)
/// and who were not told about this month yet.
pub async fn free_credits_due(
    db: impl PgExecutor<'_>,
    month: NaiveDate,
    quiet_since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Candidate>, DbError> {
    sqlx::query_as::<_, Candidate>(&format!(
        "select u.telegram_id as user_id, u.language_code, to_char($1::date, 'YYYY-MM') as key, null::text as product
         from users u
         where u.free_month is not null and u.free_month < $1 and {REACHABLE}
           and not exists (select 1 from reminders_sent r where r.user_id = u.telegram_id and r.kind = 'free_credits'
                                                          and r.key = to_char($1::date, 'YYYY-MM'))
         order by u.last_seen_at desc
         limit $3"
    ))
    .bind(month)
    .bind(quiet_since)
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

/// Purchases left unpaid between `max_age` and `after` ago, with no payment of the user since,
/// not reminded yet: the newest per user.
pub async fn unpaid_due(
    db: impl PgExecutor<'_>,
    older_than: DateTime<Utc>,
    newer_than: DateTime<Utc>,
    quiet_since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Candidate>, DbError> {
    sqlx::query_as::<_, Candidate>(&format!(
        "select * from (
             select distinct on (p.user_id) p.user_id, u.language_code, p.id::text as key, p.product
             from payments p join users u on u.telegram_id = p.user_id
             where p.purpose = 'purchase' and p.status in ('pending', 'canceled')
               and p.created_at <= $1 and p.created_at >= $4 and {REACHABLE}
               and not exists (select 1 from payments q where q.user_id = p.user_id
                                 and q.status in ('succeeded', 'refunded') and q.created_at >= p.created_at)
               and not exists (select 1 from reminders_sent r where r.user_id = p.user_id and r.kind = 'unpaid'
                                 and r.key = p.id::text)
             order by p.user_id, p.created_at desc
         ) due limit $3"
    ))
    .bind(older_than)
    .bind(quiet_since)
    .bind(limit)
    .bind(newer_than)
    .fetch_all(db)
    .await
    .db()
}

/// Records a reminder before it is sent; `false` when it was recorded already (never twice).
pub async fn claim(db: impl PgExecutor<'_>, user: UserId, kind: &str, key: &str) -> Result<bool, DbError> {
    let r = sqlx::query("insert into reminders_sent (user_id, kind, key) values ($1, $2, $3) on conflict do nothing")
        .bind(user)
        .bind(kind)
        .bind(key)
        .execute(db)
        .await
        .db()?;
    Ok(r.rows_affected() == 1)
}

/// The user's switch (Profile, or the bot's `/reminders_off` and `/reminders_on`).
pub async fn set_off(db: impl PgExecutor<'_>, user: UserId, off: bool) -> Result<bool, DbError> {
    let r = sqlx::query("update users set reminders_off = $2, updated_at = now() where telegram_id = $1")
        .bind(user)
        .bind(off)
        .execute(db)
        .await
        .db()?;
    Ok(r.rows_affected() == 1)
}
