//! What the nodes of a cluster share through the database (issue 19): notifications, large
//! frames handed over by id.

use sqlx::PgExecutor;

use super::{DbError, SqlxResultExt};

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

/// Forgets stored frames older than a minute (every node has read them by then).
pub async fn prune_frames(db: impl PgExecutor<'_>) -> Result<u64, DbError> {
    let r = sqlx::query("delete from cluster_frames where created_at < now() - interval '1 minute'")
        .execute(db)
        .await
        .db()?;
    Ok(r.rows_affected())
}
