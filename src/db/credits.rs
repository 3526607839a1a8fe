//! The credit ledger, holds and the cached balance columns.
//!
//! Every balance change writes one ledger row with a unique idempotency key in the same
//! statement or transaction as the balance columns. Reserve, commit and release are single
//! statements (one round-trip each); reserve is guarded by the caller's snapshot of the
//! buckets (optimistic concurrency), so a stale snapshot can never pick a wrong spend order
//! or overdraw: it simply applies nothing and the caller reloads.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{DbError, SqlxResultExt};
use crate::domain::credits::{self, BucketChange, BucketState, Buckets, Split};
use crate::domain::ids::{HoldId, UserId};

#[derive(sqlx::FromRow)]
struct StateRow {
    free_credits: i32,
    free_month: Option<NaiveDate>,
    sub_credits: i32,
    sub_period_end: Option<DateTime<Utc>>,
    purchased_credits: i32,
}

impl From<StateRow> for BucketState {
    fn from(r: StateRow) -> Self {
        BucketState {
            buckets: Buckets { free: r.free_credits, subscription: r.sub_credits, purchased: r.purchased_credits },
            free_month: r.free_month,
            sub_period_end: r.sub_period_end,
        }
    }
}

/// The user's buckets as stored.
pub async fn load_state(db: impl PgExecutor<'_>, user: UserId) -> Result<BucketState, DbError> {
    sqlx::query_as::<_, StateRow>(
        "select free_credits, free_month, sub_credits, sub_period_end, purchased_credits from users where telegram_id = $1",
    )
    .bind(user)
    .fetch_optional(db)
    .await
    .db()?
    .map(Into::into)
    .ok_or(DbError::NotFound)
}

/// Brings the buckets up to date at `now` (new month's free allowance, ended subscription
/// period), writing one ledger row per change, under a row lock. Returns the current state.
pub async fn refresh(
    conn: &mut PgConnection,
    user: UserId,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    free_allowance: i32,
) -> Result<BucketState, DbError> {
    let mut tx = sqlx::Connection::begin(conn).await.db()?;
    let row = sqlx::query_as::<_, StateRow>(
        "select free_credits, free_month, sub_credits, sub_period_end, purchased_credits
         from users where telegram_id = $1 for update",
    )
    .bind(user)
    .fetch_optional(&mut *tx)
    .await
    .db()?
    .ok_or(DbError::NotFound)?;
    let mut state: BucketState = row.into();
    let changes = credits::refresh(&state, now, tz, free_allowance);
    if changes.is_empty() {
        tx.commit().await.db()?;
        return Ok(state);
    }
    for change in &changes {
        let (key, kind, reason, delta) = match *change {
            BucketChange::ExpireFree { month, amount } => (
                format!("free:{user}:{}:expire", credits::month_key(month)),
                "expire",
                "free_monthly",
                Split { free: -amount, ..Split::default() },
            ),
            BucketChange::GrantFree { month, amount } => (
                format!("free:{user}:{}:grant", credits::month_key(month)),
                "grant",
                "free_monthly",
                Split { free: amount, ..Split::default() },
            ),
            BucketChange::ExpireSubscription { period_end, amount } => (
                format!("sub:{user}:{}:expire", period_end.timestamp()),
                "expire",
                "subscription",
                Split { subscription: -amount, ..Split::default() },
            ),
        };
        insert_ledger_row(&mut tx, user, &key, kind, reason, &delta, delta.total(), None).await?;
        state.buckets = state.buckets.apply(&delta, 1);
        if let BucketChange::GrantFree { month, .. } = change {
            state.free_month = Some(*month);
        }
    }
    if state.free_month != Some(credits::month_start(now, tz)) {
        // No allowance configured (free_monthly = 0): still mark the month as current.
        state.free_month = Some(credits::month_start(now, tz));
    }
    sqlx::query(
        "update users set free_credits = $2, free_month = $3, sub_credits = $4, purchased_credits = $5, updated_at = now()
         where telegram_id = $1",
    )
    .bind(user)
    .bind(state.buckets.free)
    .bind(state.free_month)
    .bind(state.buckets.subscription)
    .bind(state.buckets.purchased)
    .execute(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(state)
}

#[allow(clippy::too_many_arguments)]
async fn insert_ledger_row(
    conn: &mut PgConnection,
    user: UserId,
    key: &str,
    kind: &str,
    reason: &str,
    delta: &Split,
    amount: i32,
    payment_id: Option<Uuid>,
) -> Result<(), DbError> {
    sqlx::query(
        "insert into ledger (user_id, idempotency_key, kind, reason, delta_free, delta_subscription, delta_purchased, amount, payment_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(user)
    .bind(key)
    .bind(kind)
    .bind(reason)
    .bind(delta.free)
    .bind(delta.subscription)
    .bind(delta.purchased)
    .bind(amount)
    .bind(payment_id)
    .execute(conn)
    .await
    .db()?;
    Ok(())
}

/// What a reserve asks for.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    pub hold_id: HoldId,
    pub user: UserId,
    /// The operation's key (`gen:<uuid>`, `chat:<uuid>`); one hold per key.
    pub key: String,
    /// `tryon`, `chat_message`, `edit`… (shown in the user's history).
    pub purpose: String,
    pub split: Split,
    /// The snapshot the split was computed from; nothing is applied if the row differs.
    pub expected: BucketState,
    pub generation_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    /// The generation this hold pays for, written in the same statement (`generation_id` is
    /// its id): a generation never exists without its hold, nor a hold without its generation.
    pub generation: Option<super::generations::NewGeneration>,
}

/// Takes the split from the buckets, records the hold and its ledger row, in one statement.
/// `Ok(Some(buckets))`: applied, the new buckets. `Ok(None)`: the row no longer matches the
/// snapshot (reload and retry), or the user is at their cap of unfinished generations.
/// `Err(Conflict)` on `holds_idempotency_key_key`: this
/// operation already has a hold ([`find_hold_by_key`]).
pub async fn reserve(db: impl PgExecutor<'_>, req: &ReserveRequest) -> Result<Option<Buckets>, DbError> {
    // The generation row (when there is one) is a fourth part of the same statement: inserted
    // from the hold's row, so it exists exactly when the hold does.
    let generation_part = if req.generation.is_some() {
        ", g as (
             insert into generations (id, user_id, kind, category, prompt, input_upload_ids, input_keys, status,
                                      cost, callback_token, hold_id, watermarked)
             select $13, $2, $15, $16, $17, $18, $19, 'queued', $5 + $6 + $7, $20, id, $5 > 0 from h
         )"
    } else {
        ""
    };
    // With a generation, the user's cap on unfinished ones guards the statement too (a second
    // node's concurrent start changes the buckets, so it re-runs and sees this one's row).
    let cap_guard = if req.generation.is_some() {
        " and (select count(*) from generations
                where user_id = $2 and status in ('queued', 'submitted', 'running')) < $21"
    } else {
        ""
    };
    let sql = format!(
        "with u as (
             update users set free_credits = free_credits - $5, sub_credits = sub_credits - $6,
                 purchased_credits = purchased_credits - $7, updated_at = now()
             where telegram_id = $2 and free_credits = $8 and sub_credits = $9 and purchased_credits = $10
                 and free_month is not distinct from $11 and sub_period_end is not distinct from $12{cap_guard}
             returning free_credits, sub_credits, purchased_credits
         ), h as (
             insert into holds (id, user_id, idempotency_key, purpose, amount, from_free, from_subscription,
                                from_purchased, generation_id, expires_at)
             select $1, $2, $3, $4, $5 + $6 + $7, $5, $6, $7, $13, $14 from u
             returning id
         ), l as (
             insert into ledger (user_id, idempotency_key, kind, reason, delta_free, delta_subscription,
                                 delta_purchased, amount, hold_id, generation_id)
             select $2, $3 || ':reserve', 'reserve', $4, -$5, -$6, -$7, -($5 + $6 + $7), id, $13 from h
         ){generation_part}
         select free_credits, sub_credits, purchased_credits from u"
    );
    let mut query = sqlx::query_as::<_, (i32, i32, i32)>(&sql)
        .bind(req.hold_id)
        .bind(req.user)
        .bind(&req.key)
        .bind(&req.purpose)
        .bind(req.split.free)
        .bind(req.split.subscription)
        .bind(req.split.purchased)
        .bind(req.expected.buckets.free)
        .bind(req.expected.buckets.subscription)
        .bind(req.expected.buckets.purchased)
        .bind(req.expected.free_month)
        .bind(req.expected.sub_period_end)
        .bind(req.generation_id)
        .bind(req.expires_at);
    if let Some(g) = &req.generation {
        query = query
            .bind(g.kind)
            .bind(&g.category)
            .bind(&g.prompt)
            .bind(&g.input_upload_ids)
            .bind(&g.input_keys)
            .bind(&g.callback_token)
            .bind(g.max_unfinished);
    }
    let row = query.fetch_optional(db).await.db()?;
    Ok(row.map(|(free, subscription, purchased)| Buckets { free, subscription, purchased }))
}

/// Several users' reserves in one statement (the credit writer's batch: one round trip and one
/// plan instead of one per reserve). Each applies or not on its own exactly as [`reserve`] would
/// (the same guard against the snapshot, the same hold and ledger rows); the answer holds, per
/// request in order, the new buckets or `None`. The requests must be of distinct users and carry
/// no generation (the caller sends those through [`reserve`]); a duplicate idempotency key fails
/// the statement, as it fails [`reserve`].
pub async fn reserve_many(conn: &mut PgConnection, reqs: &[&ReserveRequest]) -> Result<Vec<Option<Buckets>>, DbError> {
    debug_assert!(reqs.iter().all(|r| r.generation.is_none()));
    let column = |f: fn(&ReserveRequest) -> i32| reqs.iter().map(|r| f(r)).collect::<Vec<i32>>();
    let rows: Vec<(Uuid, i32, i32, i32)> = sqlx::query_as(
        "with input as (
             select * from unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[],
                                  $8::int[], $9::int[], $10::int[], $11::date[], $12::timestamptz[], $13::uuid[],
                                  $14::timestamptz[])
                 as t(hold_id, user_id, key, purpose, f, s, p, ef, es, ep, free_month, sub_period_end,
                      generation_id, expires_at)
         ), u as (
             update users set free_credits = free_credits - i.f, sub_credits = sub_credits - i.s,
                 purchased_credits = purchased_credits - i.p, updated_at = now()
             from input i
             where users.telegram_id = i.user_id and users.free_credits = i.ef and users.sub_credits = i.es
                 and users.purchased_credits = i.ep and users.free_month is not distinct from i.free_month
                 and users.sub_period_end is not distinct from i.sub_period_end
             returning i.hold_id, i.user_id, i.key, i.purpose, i.f, i.s, i.p, i.generation_id, i.expires_at,
                 users.free_credits as free_after, users.sub_credits as sub_after,
                 users.purchased_credits as purchased_after
         ), h as (
             insert into holds (id, user_id, idempotency_key, purpose, amount, from_free, from_subscription,
                                from_purchased, generation_id, expires_at)
             select hold_id, user_id, key, purpose, f + s + p, f, s, p, generation_id, expires_at from u
             returning id
         ), l as (
             insert into ledger (user_id, idempotency_key, kind, reason, delta_free, delta_subscription,
                                 delta_purchased, amount, hold_id, generation_id)
             select u.user_id, u.key || ':reserve', 'reserve', u.purpose, -u.f, -u.s, -u.p, -(u.f + u.s + u.p),
                    h.id, u.generation_id
             from u join h on h.id = u.hold_id
         )
         select hold_id, free_after, sub_after, purchased_after from u",
    )
    .bind(reqs.iter().map(|r| r.hold_id.0).collect::<Vec<Uuid>>())
    .bind(reqs.iter().map(|r| r.user.0).collect::<Vec<i64>>())
    .bind(reqs.iter().map(|r| r.key.as_str()).collect::<Vec<&str>>())
    .bind(reqs.iter().map(|r| r.purpose.as_str()).collect::<Vec<&str>>())
    .bind(column(|r| r.split.free))
    .bind(column(|r| r.split.subscription))
    .bind(column(|r| r.split.purchased))
    .bind(column(|r| r.expected.buckets.free))
    .bind(column(|r| r.expected.buckets.subscription))
    .bind(column(|r| r.expected.buckets.purchased))
    .bind(reqs.iter().map(|r| r.expected.free_month).collect::<Vec<Option<NaiveDate>>>())
    .bind(reqs.iter().map(|r| r.expected.sub_period_end).collect::<Vec<Option<DateTime<Utc>>>>())
    .bind(reqs.iter().map(|r| r.generation_id).collect::<Vec<Option<Uuid>>>())
    .bind(reqs.iter().map(|r| r.expires_at).collect::<Vec<DateTime<Utc>>>())
    .fetch_all(&mut *conn)
    .await
    .db()?;
    Ok(reqs
        .iter()
        .map(|r| {
            rows.iter().find(|(id, ..)| *id == r.hold_id.0).map(|&(_, free, subscription, purchased)| Buckets {
                free,
                subscription,
                purchased,
            })
        })
        .collect())
}

/// Commits several holds in one statement; answers, per hold in order, whether this call
/// committed it. A hold it did not commit (already committed, or released) is for [`commit`]
/// to classify.
pub async fn commit_many(conn: &mut PgConnection, ids: &[HoldId]) -> Result<Vec<bool>, DbError> {
    let done: Vec<Uuid> = sqlx::query_scalar(
        "with h as (
             update holds set status = 'committed', settled_at = now(), updated_at = now()
             where id = any($1) and status = 'held'
             returning id, user_id, idempotency_key, purpose, amount, generation_id
         ), l as (
             insert into ledger (user_id, idempotency_key, kind, reason, amount, hold_id, generation_id)
             select user_id, idempotency_key || ':commit', 'commit', purpose, amount, id, generation_id from h
         )
         select id from h",
    )
    .bind(ids.iter().map(|h| h.0).collect::<Vec<Uuid>>())
    .fetch_all(&mut *conn)
    .await
    .db()?;
    Ok(ids.iter().map(|h| done.contains(&h.0)).collect())
}

/// A hold as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HoldRow {
    pub id: HoldId,
    pub user_id: UserId,
    pub idempotency_key: String,
    pub purpose: String,
    pub amount: i32,
    pub from_free: i32,
    pub from_subscription: i32,
    pub from_purchased: i32,
    pub status: String,
    pub generation_id: Option<Uuid>,
    pub release_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl HoldRow {
    pub fn split(&self) -> Split {
        Split { free: self.from_free, subscription: self.from_subscription, purchased: self.from_purchased }
    }
}

const HOLD_COLUMNS: &str = "id, user_id, idempotency_key, purpose, amount, from_free, from_subscription, from_purchased, \
     status, generation_id, release_reason, created_at, expires_at";

pub async fn find_hold(db: impl PgExecutor<'_>, id: HoldId) -> Result<HoldRow, DbError> {
    sqlx::query_as::<_, HoldRow>(&format!("select {HOLD_COLUMNS} from holds where id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
        .db()?
        .ok_or(DbError::NotFound)
}

pub async fn find_hold_by_key(db: impl PgExecutor<'_>, key: &str) -> Result<HoldRow, DbError> {
    sqlx::query_as::<_, HoldRow>(&format!("select {HOLD_COLUMNS} from holds where idempotency_key = $1"))
        .bind(key)
        .fetch_optional(db)
        .await
        .db()?
        .ok_or(DbError::NotFound)
}

/// Outcome of settling a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// This call settled it.
    Now,
    /// It was already settled the same way (idempotent repeat).
    Already,
}

/// Marks the hold spent. Committing twice is harmless; committing a released hold is a
/// `Conflict`.
pub async fn commit(conn: &mut PgConnection, id: HoldId) -> Result<Settled, DbError> {
    let done: i64 = sqlx::query_scalar(
        "with h as (
             update holds set status = 'committed', settled_at = now(), updated_at = now()
             where id = $1 and status = 'held'
             returning id, user_id, idempotency_key, purpose, amount, generation_id
         ), l as (
             insert into ledger (user_id, idempotency_key, kind, reason, amount, hold_id, generation_id)
             select user_id, idempotency_key || ':commit', 'commit', purpose, amount, id, generation_id from h
         )
         select count(*) from h",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .db()?;
    if done == 1 {
        return Ok(Settled::Now);
    }
    match find_hold(&mut *conn, id).await?.status.as_str() {
        "committed" => Ok(Settled::Already),
        _ => Err(DbError::Conflict { constraint: "hold_already_released".into() }),
    }
}

/// Puts the held credits back into the buckets they came from. Returns the new buckets when
/// this call released it; `Already` when it was released before; `Conflict` if committed.
pub async fn release(
    conn: &mut PgConnection,
    id: HoldId,
    reason: &str,
) -> Result<(Settled, Option<BucketState>), DbError> {
    let row: Option<StateRow> = sqlx::query_as(
        "with h as (
             update holds set status = 'released', settled_at = now(), updated_at = now(), release_reason = $2
             where id = $1 and status = 'held'
             returning id, user_id, idempotency_key, amount, from_free, from_subscription, from_purchased, generation_id
         ), u as (
             update users set free_credits = users.free_credits + h.from_free,
                 sub_credits = users.sub_credits + h.from_subscription,
                 purchased_credits = users.purchased_credits + h.from_purchased, updated_at = now()
             from h where users.telegram_id = h.user_id
             returning users.free_credits, users.free_month, users.sub_credits, users.sub_period_end, users.purchased_credits
         ), l as (
             insert into ledger (user_id, idempotency_key, kind, reason, delta_free, delta_subscription,
                                 delta_purchased, amount, hold_id, generation_id)
             select user_id, idempotency_key || ':release', 'release', $2, from_free, from_subscription,
                    from_purchased, amount, id, generation_id from h
         )
         select free_credits, free_month, sub_credits, sub_period_end, purchased_credits from u",
    )
    .bind(id)
    .bind(reason)
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    if let Some(row) = row {
        return Ok((Settled::Now, Some(row.into())));
    }
    match find_hold(&mut *conn, id).await?.status.as_str() {
        "released" => Ok((Settled::Already, None)),
        _ => Err(DbError::Conflict { constraint: "hold_already_committed".into() }),
    }
}

/// A credit change that is not a hold: a purchase, a subscription allowance, an admin grant,
/// a payment refund taking credits back.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub user: UserId,
    pub key: &'a str,
    /// `grant`, `purchase`, `expire`, `payment_refund`, `adjust`.
    pub kind: &'a str,
    pub reason: &'a str,
    pub delta: Split,
    pub payment_id: Option<Uuid>,
    pub note: Option<&'a str>,
}

/// Applies `entry` once: the ledger row and the balance columns in one statement. Returns the
/// new buckets, or `None` when the key was already applied (a duplicate). A change that
/// would make a bucket negative fails with `Conflict`.
pub async fn apply_entry(db: impl PgExecutor<'_>, entry: &Entry<'_>) -> Result<Option<Buckets>, DbError> {
    let row: Option<(i32, i32, i32)> = sqlx::query_as(
        "with l as (
             insert into ledger (user_id, idempotency_key, kind, reason, delta_free, delta_subscription,
                                 delta_purchased, amount, payment_id, note)
             values ($1, $2, $3, $4, $5, $6, $7, $5 + $6 + $7, $8, $9)
             on conflict (idempotency_key) do nothing
             returning user_id, delta_free, delta_subscription, delta_purchased
         )
         update users set free_credits = users.free_credits + l.delta_free,
             sub_credits = users.sub_credits + l.delta_subscription,
             purchased_credits = users.purchased_credits + l.delta_purchased, updated_at = now()
         from l where users.telegram_id = l.user_id
         returning users.free_credits, users.sub_credits, users.purchased_credits",
    )
    .bind(entry.user)
    .bind(entry.key)
    .bind(entry.kind)
    .bind(entry.reason)
    .bind(entry.delta.free)
    .bind(entry.delta.subscription)
    .bind(entry.delta.purchased)
    .bind(entry.payment_id)
    .bind(entry.note)
    .fetch_optional(db)
    .await
    .db()?;
    Ok(row.map(|(free, subscription, purchased)| Buckets { free, subscription, purchased }))
}

/// One row of the user's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LedgerItem {
    pub id: i64,
    pub kind: String,
    pub reason: String,
    pub amount: i32,
    pub generation_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// The user's history, newest first, without `commit` markers (the `reserve` row already
/// shows the charge). `before` is the cursor (an id).
pub async fn list_ledger(
    db: impl PgExecutor<'_>,
    user: UserId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<LedgerItem>, DbError> {
    sqlx::query_as::<_, LedgerItem>(
        "select id, kind, reason, amount, generation_id, payment_id, created_at from ledger
         where user_id = $1 and kind <> 'commit' and ($2::bigint is null or id < $2)
         order by id desc limit $3",
    )
    .bind(user)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

/// A mismatch found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub user_id: i64,
    pub what: String,
    pub stored: i64,
    pub from_ledger: i64,
}

/// Recomputes every balance from the ledger and compares it with the cached columns; also
/// checks that every hold has the ledger rows its status implies.
pub async fn check(db: &sqlx::PgPool) -> Result<Vec<Difference>, DbError> {
    let rows: Vec<(i64, i32, i32, i32, i64, i64, i64)> = sqlx::query_as(
        "select u.telegram_id, u.free_credits, u.sub_credits, u.purchased_credits,
                coalesce(l.free, 0), coalesce(l.sub, 0), coalesce(l.purchased, 0)
         from users u
         left join (select user_id, sum(delta_free)::bigint as free, sum(delta_subscription)::bigint as sub,
                           sum(delta_purchased)::bigint as purchased
                    from ledger group by user_id) l on l.user_id = u.telegram_id
         where u.free_credits <> coalesce(l.free, 0) or u.sub_credits <> coalesce(l.sub, 0)
            or u.purchased_credits <> coalesce(l.purchased, 0)",
    )
    .fetch_all(db)
    .await
    .db()?;
    let mut diffs = Vec::new();
    for (user, free, sub, purchased, l_free, l_sub, l_purchased) in rows {
        for (what, stored, derived) in
            [("free", free, l_free), ("subscription", sub, l_sub), ("purchased", purchased, l_purchased)]
        {
            if i64::from(stored) != derived {
                diffs.push(Difference {
                    user_id: user,
                    what: what.into(),
                    stored: stored.into(),
                    from_ledger: derived,
                });
            }
        }
    }
    let holds: Vec<(i64, Uuid, String)> = sqlx::query_as(
        "select h.user_id, h.id, h.status from holds h
         where not exists (select 1 from ledger l where l.idempotency_key = h.idempotency_key || ':reserve')
            or (h.status = 'committed') <> exists (select 1 from ledger l where l.idempotency_key = h.idempotency_key || ':commit')
            or (h.status = 'released') <> exists (select 1 from ledger l where l.idempotency_key = h.idempotency_key || ':release')",
    )
    .fetch_all(db)
    .await
    .db()?;
    for (user, id, status) in holds {
        diffs.push(Difference {
            user_id: user,
            what: format!("hold {id} ({status}) ledger rows"),
            stored: 0,
            from_ledger: 0,
        });
    }
    Ok(diffs)
}

/// Holds still open after their expiry whose operation is not a running generation (those
/// are settled by generation recovery).
pub async fn expired_open_holds(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<HoldRow>, DbError> {
    sqlx::query_as::<_, HoldRow>(&format!(
        "select {HOLD_COLUMNS} from holds h
         where h.status = 'held' and h.expires_at <= $1
           and not exists (select 1 from generations g where g.hold_id = h.id
                           and g.status in ('queued', 'submitted', 'running'))
         order by h.expires_at limit $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

/// Open holds that belong to no generation: operations (chat requests) that a crash
/// interrupted. Settled (released) at start-up.
pub async fn orphaned_open_holds(
    db: impl PgExecutor<'_>,
    created_before: DateTime<Utc>,
) -> Result<Vec<HoldRow>, DbError> {
    sqlx::query_as::<_, HoldRow>(&format!(
        "select {HOLD_COLUMNS} from holds h
         where h.status = 'held' and h.created_at < $1
           and not exists (select 1 from generations g where g.hold_id = h.id)
         order by h.created_at"
    ))
    .bind(created_before)
    .fetch_all(db)
    .await
    .db()
}
