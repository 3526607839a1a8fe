//! `referrals`: who invited whom, and the once-only reward on the invitee's first payment.

use sqlx::{PgConnection, PgExecutor};

use super::credits::{self, Entry};
use super::{DbError, SqlxResultExt};
use crate::domain::credits::Split;
use crate::domain::ids::UserId;

/// What attaching an invitation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attached {
    /// The invitee is now linked to `referrer`.
    Linked(UserId),
    /// The invitee was invited before (the first invitation stands).
    Already,
    /// No user has this code.
    UnknownCode,
    /// One's own code.
    SelfReferral,
    /// The referrer was (directly or further up) invited by the invitee.
    Loop,
    /// The invitee is not new (older than the window, or has paid already).
    NotNew,
}

/// Links `invitee` to the owner of `code`, unless that is the invitee, would close a loop, or
/// the invitee is not a new user (a row older than `window_hours`, or any payment). Attaches run
/// one at a time (a transaction-scoped advisory lock), so two users inviting each other at the
/// same moment cannot both succeed.
pub async fn attach(
    conn: &mut PgConnection,
    invitee: UserId,
    code: &str,
    source: &str,
    window_hours: i64,
) -> Result<Attached, DbError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await.db()?;
    sqlx::query("select pg_advisory_xact_lock(18001)").execute(&mut *tx).await.db()?;
    let referrer: Option<i64> = sqlx::query_scalar("select telegram_id from users where referral_code = $1")
        .bind(code)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
    let Some(referrer) = referrer else {
        return Ok(Attached::UnknownCode);
    };
    if referrer == invitee.0 {
        return Ok(Attached::SelfReferral);
    }
    let already: bool = sqlx::query_scalar("select exists (select 1 from referrals where invitee = $1)")
        .bind(invitee)
        .fetch_one(&mut *tx)
        .await
        .db()?;
    if already {
        return Ok(Attached::Already);
    }
    let not_new: bool = sqlx::query_scalar(
        "select exists (select 1 from users where telegram_id = $1 and created_at < now() - make_interval(hours => $2::int))
             or exists (select 1 from payments where user_id = $1 and status in ('succeeded', 'refunded'))",
    )
    .bind(invitee)
    .bind(window_hours as i32)
    .fetch_one(&mut *tx)
    .await
    .db()?;
    if not_new {
        return Ok(Attached::NotNew);
    }
    // Walk up from the referrer: meeting the invitee would make a loop.
    let looped: bool = sqlx::query_scalar(
        "with recursive chain (id, depth) as (
             select $1::bigint, 0
             union all
             select r.referrer, c.depth + 1 from referrals r join chain c on r.invitee = c.id where c.depth < 100
         )
         select exists (select 1 from chain where id = $2)",
    )
    .bind(referrer)
    .bind(invitee)
    .fetch_one(&mut *tx)
    .await
    .db()?;
    if looped {
        return Ok(Attached::Loop);
    }
    sqlx::query(
        "insert into referrals (invitee, referrer, source) values ($1, $2, $3) on conflict (invitee) do nothing",
    )
    .bind(invitee)
    .bind(referrer)
    .bind(source)
    .execute(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(Attached::Linked(UserId(referrer)))
}

/// Grants the referral reward for `invitee` once (their first payment): `invitee_credits` to
/// them and `inviter_credits` to who invited them, as purchased credits, with the ledger keys
/// `referral:<invitee>:invitee` and `…:inviter`, in one transaction with the `rewarded_at`
/// guard. Returns the referrer when the reward was granted now.
pub async fn reward(
    conn: &mut PgConnection,
    invitee: UserId,
    invitee_credits: i32,
    inviter_credits: i32,
) -> Result<Option<UserId>, DbError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await.db()?;
    let referrer: Option<i64> = sqlx::query_scalar(
        "update referrals set rewarded_at = now() where invitee = $1 and rewarded_at is null returning referrer",
    )
    .bind(invitee)
    .fetch_optional(&mut *tx)
    .await
    .db()?;
    let Some(referrer) = referrer.map(UserId) else {
        return Ok(None);
    };
    for (user, credits, side) in [(invitee, invitee_credits, "invitee"), (referrer, inviter_credits, "inviter")] {
        if credits <= 0 {
            continue;
        }
        let key = format!("referral:{invitee}:{side}");
        let entry = Entry {
            user,
            key: &key,
            kind: "grant",
            reason: "referral",
            delta: Split { free: 0, subscription: 0, purchased: credits },
            payment_id: None,
            note: None,
        };
        credits::apply_entry(&mut *tx, &entry).await?;
    }
    tx.commit().await.db()?;
    Ok(Some(referrer))
}

/// The user's code, how many they invited and how many of those brought a reward.
pub async fn summary(db: impl PgExecutor<'_>, user: UserId) -> Result<(String, i64, i64), DbError> {
    sqlx::query_as(
        "select u.referral_code,
                (select count(*) from referrals where referrer = u.telegram_id),
                (select count(*) from referrals where referrer = u.telegram_id and rewarded_at is not null)
         from users u where u.telegram_id = $1",
    )
    .bind(user)
    .fetch_optional(db)
    .await
    .db()?
    .ok_or(DbError::NotFound)
}
