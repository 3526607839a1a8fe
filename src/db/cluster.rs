//! What the nodes of a cluster share through the database (issue 19): notifications, large
//! frames handed over by id, provider budgets, scheduled-job claims and job leases.

use std::time::Duration;

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{DbError, SqlxResultExt};
use crate::domain::ids::UserId;

/// `NOTIFY channel, payload` (delivered to every listening connection once this commits).
pub async fn notify(db: impl PgExecutor<'_>, channel: &str, payload: &str) -> Result<(), DbError> {
    sqlx::query("select pg_notify($1, $2)").bind(channel).bind(payload).execute(db).await.db().map(|_| ())
}

/// Keeps a frame too large for a notification; returns its id.
pub async fn store_frame(db: impl PgExecutor<'_>, frame: &str) -> Result<i64, DbError> {
    sqlx::query_scalar("insert into cluster_frames (frame) values ($1) returning id")
        .bind(frame)
        .fetch_one(db)
        .await
        .db()
}

pub async fn stored_frame(db: impl PgExecutor<'_>, id: i64) -> Result<Option<String>, DbError> {
    sqlx::query_scalar("select frame from cluster_frames where id = $1").bind(id).fetch_optional(db).await.db()
}

/// Forgets stored frames older than a minute (every node has read them by then) and provider
/// slots long out of every window.
pub async fn prune_frames(db: &PgPool) -> Result<u64, DbError> {
    let r = sqlx::query("delete from cluster_frames where created_at < now() - interval '1 minute'")
        .execute(db)
        .await
        .db()?;
    let s =
        sqlx::query("delete from provider_slots where at < now() - interval '10 minutes'").execute(db).await.db()?;
    Ok(r.rows_affected() + s.rows_affected())
}

/// A slot in a shared budget was taken (`Ok(id)`) or the budget is full: wait this long.
pub enum SlotAttempt {
    Taken(i64),
    Wait(Duration),
}

/// Takes a slot of budget `budget` (at most `limit` requests in any `window`, counting a request
/// from its answer; a request still unanswered after `stale` is counted from its start, as its
/// node died) when one is free. Budgets are serialised by a transaction-scoped advisory lock.
pub async fn try_take_slot(
    db: &PgPool,
    budget: &str,
    limit: i64,
    window: Duration,
    stale: Duration,
) -> Result<SlotAttempt, DbError> {
    let mut tx = db.begin().await.db()?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 19))").bind(budget).execute(&mut *tx).await.db()?;
    // Slots counting now: answered inside the window, or in flight (and not stale).
    let (count, wait_ms): (i64, Option<f64>) = sqlx::query_as(
        "select count(*),
                min(case when answered then extract(epoch from (at + $2 - clock_timestamp())) * 1000 end)::float8
         from provider_slots
         where budget = $1
           and ((answered and at > clock_timestamp() - $2) or (not answered and at > clock_timestamp() - $3))",
    )
    .bind(budget)
    .bind(window)
    .bind(stale)
    .fetch_one(&mut *tx)
    .await
    .db()?;
    if count < limit {
        let id: i64 = sqlx::query_scalar("insert into provider_slots (budget) values ($1) returning id")
            .bind(budget)
            .fetch_one(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        return Ok(SlotAttempt::Taken(id));
    }
    tx.commit().await.db()?;
    // The oldest answered slot leaves the window first; when all are in flight, look again soon.
    let wait = wait_ms.map_or(Duration::from_millis(20), |ms| Duration::from_millis(ms.max(1.0) as u64));
    Ok(SlotAttempt::Wait(wait.min(Duration::from_secs(1))))
}

/// The request of slot `id` got its answer: the slot counts a full window from now.
///
/// Committed without waiting for the WAL flush (`synchronous_commit = off`), so the job does not
/// wait for a disk flush for it: a mark lost in a PostgreSQL crash leaves the slot unanswered,
/// counted for `stale` from its start (the client's connect + request timeouts, longer than a
/// window plus a usual answer's time) — the budget errs on the safe side.
pub async fn finish_slot(pool: &sqlx::PgPool, id: i64) -> Result<(), DbError> {
    let mut tx = pool.begin().await.db()?;
    sqlx::query("set local synchronous_commit = off").execute(&mut *tx).await.db()?;
    sqlx::query("update provider_slots set at = clock_timestamp(), answered = true where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .db()?;
    tx.commit().await.db()
}

/// Slot `id` was not used (no request was sent).
pub async fn cancel_slot(db: impl PgExecutor<'_>, id: i64) -> Result<(), DbError> {
    sqlx::query("delete from provider_slots where id = $1").bind(id).execute(db).await.db().map(|_| ())
}

/// Node `node` may run scheduled job `job` now: true when it moved the job's next run to `now +
/// every` (no other node did within the period). A job's period is shortened by a tenth so the
/// node that claimed it last is never refused its own next tick by timer jitter.
pub async fn claim_job(db: impl PgExecutor<'_>, job: &str, every: Duration, node: Uuid) -> Result<bool, DbError> {
    let hold = every.mul_f64(0.9);
    let claimed: Option<String> = sqlx::query_scalar(
        "insert into scheduler_claims (job, next_at, node) values ($1, clock_timestamp() + $2, $3)
         on conflict (job) do update
             set next_at = clock_timestamp() + $2, node = $3, runs = scheduler_claims.runs + 1, updated_at = now()
             where scheduler_claims.next_at <= clock_timestamp()
         returning job",
    )
    .bind(job)
    .bind(hold)
    .bind(node)
    .fetch_optional(db)
    .await
    .db()?;
    Ok(claimed.is_some())
}

/// How many times job `job` ran in the cluster (tests, the operator).
pub async fn job_runs(db: impl PgExecutor<'_>, job: &str) -> Result<i64, DbError> {
    sqlx::query_scalar("select coalesce((select runs from scheduler_claims where job = $1), 0)")
        .bind(job)
        .fetch_one(db)
        .await
        .db()
}

/// Renews node `node`'s lease on the jobs it drives or holds in its queue (claiming those no
/// node holds); returns the ids it holds now. A job another node holds is not taken.
pub async fn renew_leases(
    db: impl PgExecutor<'_>,
    node: Uuid,
    jobs: &[Uuid],
    ttl: Duration,
) -> Result<Vec<Uuid>, DbError> {
    sqlx::query_scalar(
        "update generations set lease_owner = $1, lease_until = clock_timestamp() + $3
         where id = any($2) and status in ('queued', 'submitted', 'running')
           and (lease_owner is null or lease_owner = $1 or lease_until < clock_timestamp())
         returning id",
    )
    .bind(node)
    .bind(jobs)
    .bind(ttl)
    .fetch_all(db)
    .await
    .db()
}

/// Takes over unfinished jobs whose lease ran out (their node died) or that no node ever
/// leased and are older than `ttl` (their node died before its first renewal), oldest first.
pub async fn take_over_expired(
    db: impl PgExecutor<'_>,
    node: Uuid,
    ttl: Duration,
    limit: i64,
) -> Result<Vec<(Uuid, UserId)>, DbError> {
    sqlx::query_as(
        "with expired as (
             select id from generations
             where status in ('queued', 'submitted', 'running')
               and (lease_until < clock_timestamp()
                    or (lease_owner is null and created_at < clock_timestamp() - $2))
             order by created_at
             limit $3
             for update skip locked
         )
         update generations g set lease_owner = $1, lease_until = clock_timestamp() + $2
         from expired where g.id = expired.id
         returning g.id, g.user_id",
    )
    .bind(node)
    .bind(ttl)
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

/// The cluster-wide place in line of jobs `ids` among every job not yet sent to kie.ai, in the
/// fair order the pools serve (round by round: every user's first waiting job, then every
/// user's second…, oldest first within a round): `(id, user, position from 1)`.
pub async fn queue_positions(db: impl PgExecutor<'_>, ids: &[Uuid]) -> Result<Vec<(Uuid, UserId, i64)>, DbError> {
    sqlx::query_as(
        "with waiting as (
             select id, user_id, created_at,
                    row_number() over (partition by user_id order by created_at) as round
             from generations
             where status = 'queued' and provider_task_id is null and stage is distinct from 'creating'
         ), ranked as (
             select id, user_id, row_number() over (order by round, created_at) as position from waiting
         )
         select id, user_id, position from ranked where id = any($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await
    .db()
}
