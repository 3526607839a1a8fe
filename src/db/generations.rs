//! Uploads and generations (DESIGN §4). A generation is a durable job: its row exists before
//! any credit moves or any provider call, and every state change is one conditional UPDATE
//! written before it is announced. Finishing is guarded by the status, so only one writer
//! ever settles a job.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::types::{GenerationKind, GenerationStatus};
use super::{DbError, SqlxResultExt};
use crate::domain::errors::ErrorCode;
use crate::domain::ids::{HoldId, UserId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub storage_key: String,
    pub content_type: String,
    pub width: i32,
    pub height: i32,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `person` or `garment` (try-on photos); `None` for editor attachments and older rows.
    pub kind: Option<String>,
}

const UPLOAD_COLUMNS: &str =
    "id, user_id, storage_key, content_type, width, height, size_bytes, created_at, expires_at, kind";

pub struct NewUpload<'a> {
    pub id: Uuid,
    pub user_id: UserId,
    pub storage_key: &'a str,
    pub content_type: &'a str,
    pub width: i32,
    pub height: i32,
    pub size_bytes: i64,
    pub expires_at: DateTime<Utc>,
    pub kind: Option<&'a str>,
}

pub async fn insert_upload(db: impl PgExecutor<'_>, u: &NewUpload<'_>) -> Result<(), DbError> {
    sqlx::query(
        "insert into uploads (id, user_id, storage_key, content_type, width, height, size_bytes, expires_at, kind)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(u.id)
    .bind(u.user_id)
    .bind(u.storage_key)
    .bind(u.content_type)
    .bind(u.width)
    .bind(u.height)
    .bind(u.size_bytes)
    .bind(u.expires_at)
    .bind(u.kind)
    .execute(db)
    .await
    .db()
    .map(|_| ())
}

/// The user's live uploads among `ids` (someone else's, deleted or expired ones are absent).
/// Bytes the user keeps stored: live uploads and kept results (the per-user quota).
pub async fn stored_bytes(db: impl PgExecutor<'_>, user: UserId) -> Result<i64, DbError> {
    let bytes: i64 = sqlx::query_scalar(
        "select (coalesce((select sum(size_bytes) from uploads where user_id = $1 and deleted_at is null), 0)
               + coalesce((select sum(result_bytes) from generations
                           where user_id = $1 and deleted_at is null and result_key is not null), 0))::bigint",
    )
    .bind(user.0)
    .fetch_one(db)
    .await?;
    Ok(bytes)
}

pub async fn live_uploads(db: impl PgExecutor<'_>, user: UserId, ids: &[Uuid]) -> Result<Vec<UploadRow>, DbError> {
    sqlx::query_as::<_, UploadRow>(&format!(
        "select {UPLOAD_COLUMNS} from uploads
         where user_id = $1 and id = any($2) and deleted_at is null and expires_at > now()"
    ))
    .bind(user)
    .bind(ids)
    .fetch_all(db)
    .await
    .db()
}

/// The user's live uploads, newest first; only those of `kind` when given ("my photos",
/// "my wardrobe").
pub async fn list_uploads(
    db: impl PgExecutor<'_>,
    user: UserId,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<UploadRow>, DbError> {
    sqlx::query_as::<_, UploadRow>(&format!(
        "select {UPLOAD_COLUMNS} from uploads
         where user_id = $1 and deleted_at is null and expires_at > now() and ($3::text is null or kind = $3)
         order by created_at desc limit $2"
    ))
    .bind(user)
    .bind(limit)
    .bind(kind)
    .fetch_all(db)
    .await
    .db()
}

/// Marks expired uploads deleted and returns their storage keys (the caller removes the files).
pub async fn expire_uploads(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<String>, DbError> {
    sqlx::query_scalar(
        "update uploads set deleted_at = now()
         where id in (select id from uploads where deleted_at is null and expires_at <= now()
                      order by expires_at limit $1)
         returning storage_key",
    )
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

/// Marks results older than `days` deleted (they leave the gallery) and returns their storage
/// keys (the caller removes the files).
pub async fn expire_results(db: impl PgExecutor<'_>, days: i64, limit: i64) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "update generations set deleted_at = now(), updated_at = now()
         where id in (select id from generations
                      where deleted_at is null and result_key is not null
                        and finished_at <= now() - make_interval(days => $1::int)
                      order by finished_at limit $2)
         returning result_key, master_key",
    )
    .bind(days)
    .bind(limit)
    .fetch_all(db)
    .await
    .db()?;
    Ok(rows.into_iter().flat_map(|(result, master)| std::iter::once(result).chain(master)).collect())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GenerationRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub kind: GenerationKind,
    pub category: Option<String>,
    pub prompt: String,
    pub input_keys: Vec<String>,
    pub status: GenerationStatus,
    pub stage: Option<String>,
    pub provider_task_id: Option<String>,
    pub callback_token: String,
    pub result_key: Option<String>,
    pub watermarked: bool,
    pub cost: i32,
    pub hold_id: Option<HoldId>,
    pub attempts: i32,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    pub refunded: bool,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The clean master of a watermarked result (`result_key` is the delivered, marked copy).
    pub master_key: Option<String>,
    /// The user's rating: +1 / -1.
    pub rating: Option<i16>,
    pub rating_reason: Option<String>,
}

impl GenerationRow {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

pub(crate) const GEN_COLUMNS: &str = "id, user_id, kind, category, prompt, input_keys, status, stage, provider_task_id, \
     callback_token, result_key, watermarked, cost, hold_id, attempts, error_code, error_message, refunded, \
     created_at, submitted_at, finished_at, master_key, rating, rating_reason";

/// A generation to create together with its credit hold (`db::credits::reserve`): the row
/// and the hold are one statement, so neither ever exists without the other.
#[derive(Debug, Clone)]
pub struct NewGeneration {
    pub id: Uuid,
    pub kind: GenerationKind,
    pub category: Option<String>,
    pub prompt: String,
    pub input_upload_ids: Vec<Uuid>,
    pub input_keys: Vec<String>,
    /// The opaque token of the kie.ai callback URL.
    pub callback_token: String,
    /// The user's cap on unfinished generations, checked in the same statement: two nodes
    /// serving the same user can never start more than this between them.
    pub max_unfinished: i64,
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<GenerationRow, DbError> {
    sqlx::query_as::<_, GenerationRow>(&format!("select {GEN_COLUMNS} from generations where id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
        .db()?
        .ok_or(DbError::NotFound)
}

/// One of the user's own, not deleted.
pub async fn get_for_user(db: impl PgExecutor<'_>, user: UserId, id: Uuid) -> Result<GenerationRow, DbError> {
    sqlx::query_as::<_, GenerationRow>(&format!(
        "select {GEN_COLUMNS} from generations where id = $1 and user_id = $2 and deleted_at is null"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
    .db()?
    .ok_or(DbError::NotFound)
}

/// The gallery, newest first, strictly before the cursor `(created_at, id)`.
pub async fn list_for_user(
    db: impl PgExecutor<'_>,
    user: UserId,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<GenerationRow>, DbError> {
    let (at, id) = before.map_or((None, None), |(a, i)| (Some(a), Some(i)));
    sqlx::query_as::<_, GenerationRow>(&format!(
        "select {GEN_COLUMNS} from generations
         where user_id = $1 and deleted_at is null
           and ($2::timestamptz is null or (created_at, id) < ($2, $3))
         order by created_at desc, id desc limit $4"
    ))
    .bind(user)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

/// The user's unfinished jobs (queued, submitted, running), newest first: what the Mini App
/// re-reads after a reconnect, when it comes back to the foreground or is opened again.
pub async fn active_for_user(db: impl PgExecutor<'_>, user: UserId, limit: i64) -> Result<Vec<GenerationRow>, DbError> {
    sqlx::query_as::<_, GenerationRow>(&format!(
        "select {GEN_COLUMNS} from generations
         where user_id = $1 and deleted_at is null and status in ('queued', 'submitted', 'running')
         order by created_at desc, id desc limit $2"
    ))
    .bind(user)
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

/// Hides a finished job from the gallery; returns its files to delete (the result and its
/// clean master).
pub async fn soft_delete(db: impl PgExecutor<'_>, user: UserId, id: Uuid) -> Result<Vec<String>, DbError> {
    let (result, master) = sqlx::query_as::<_, (Option<String>, Option<String>)>(
        "update generations set deleted_at = now(), updated_at = now()
         where id = $1 and user_id = $2 and deleted_at is null and status in ('succeeded', 'failed')
         returning result_key, master_key",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await
    .db()?
    .ok_or(DbError::NotFound)?;
    Ok(result.into_iter().chain(master).collect())
}

/// The clean masters of those of `keys` that are the user's watermarked results:
/// `(delivered key, master key)`.
pub async fn masters_of(
    db: impl PgExecutor<'_>,
    user: UserId,
    keys: &[String],
) -> Result<Vec<(String, String)>, DbError> {
    sqlx::query_as(
        "select result_key, master_key from generations
         where user_id = $1 and result_key = any($2) and master_key is not null",
    )
    .bind(user)
    .bind(keys)
    .fetch_all(db)
    .await
    .db()
}

/// Stores the user's rating of a finished result (a later one replaces it); false when no such
/// finished generation of the user exists.
pub async fn set_rating(
    db: impl PgExecutor<'_>,
    user: UserId,
    id: Uuid,
    rating: i16,
    reason: Option<&str>,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "update generations set rating = $3, rating_reason = $4, rated_at = now(), updated_at = now()
         where id = $1 and user_id = $2 and deleted_at is null and status = 'succeeded'",
    )
    .bind(id)
    .bind(user)
    .bind(rating)
    .bind(reason)
    .execute(db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}

/// Ratings per kind and category since `since`, for the operator: (kind, category, up, down).
pub async fn rating_summary(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> Result<Vec<(String, Option<String>, i64, i64)>, DbError> {
    sqlx::query_as(
        "select kind, category, count(*) filter (where rating = 1), count(*) filter (where rating = -1)
         from generations where rating is not null and rated_at >= $1
         group by kind, category order by kind, category nulls first",
    )
    .bind(since)
    .fetch_all(db)
    .await
    .db()
}

/// The latest reasons given with a thumbs-down: (generation id, kind, category, reason, when).
pub async fn recent_complaints(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<(Uuid, String, Option<String>, String, DateTime<Utc>)>, DbError> {
    sqlx::query_as(
        "select id, kind, category, rating_reason, rated_at from generations
         where rating = -1 and rating_reason is not null and rated_at is not null
         order by rated_at desc limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
    .db()
}

/// Before sending createTask: from now on a provider task may exist.
pub async fn mark_creating(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, DbError> {
    let r = sqlx::query(
        "update generations set stage = 'creating', attempts = attempts + 1, updated_at = now()
         where id = $1 and status = 'queued' and provider_task_id is null",
    )
    .bind(id)
    .execute(db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}

/// createTask was refused before anything was created (429, 455, connection error).
pub async fn clear_creating(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), DbError> {
    sqlx::query("update generations set stage = null, updated_at = now() where id = $1 and status = 'queued'")
        .bind(id)
        .execute(db)
        .await
        .db()
        .map(|_| ())
}

/// Stores the task id the moment createTask returns it.
pub async fn set_task(db: impl PgExecutor<'_>, id: Uuid, task_id: &str) -> Result<(), DbError> {
    sqlx::query(
        "update generations set provider_task_id = $2, status = 'submitted', stage = 'submitted',
                submitted_at = now(), updated_at = now()
         where id = $1 and provider_task_id is null",
    )
    .bind(id)
    .bind(task_id)
    .execute(db)
    .await
    .db()
    .map(|_| ())
}

pub async fn set_running(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, DbError> {
    let r = sqlx::query(
        "update generations set status = 'running', stage = 'generating', updated_at = now()
         where id = $1 and status = 'submitted'",
    )
    .bind(id)
    .execute(db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}

/// Settles a job as succeeded; false if another writer settled it first. `master` is the clean
/// original of a watermarked result (key, bytes); `bytes` counts both files (the user's quota).
pub async fn finish_success(
    db: impl PgExecutor<'_>,
    id: Uuid,
    result_key: &str,
    bytes: i64,
    master: Option<(&str, i64)>,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "update generations set status = 'succeeded', stage = null, result_key = $2, result_bytes = $3,
                master_key = $4, master_bytes = $5, finished_at = now(), updated_at = now()
         where id = $1 and status in ('queued', 'submitted', 'running')",
    )
    .bind(id)
    .bind(result_key)
    .bind(bytes + master.map_or(0, |m| m.1))
    .bind(master.map(|m| m.0))
    .bind(master.map(|m| m.1))
    .execute(db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}

/// Settles a job as failed (its credits are returned by the caller); false if already settled.
pub async fn finish_failure(
    db: impl PgExecutor<'_>,
    id: Uuid,
    code: ErrorCode,
    message: &str,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "update generations set status = 'failed', stage = null, error_code = $2, error_message = $3,
                refunded = hold_id is not null, finished_at = now(), updated_at = now()
         where id = $1 and status in ('queued', 'submitted', 'running')",
    )
    .bind(id)
    .bind(code)
    .bind(message)
    .execute(db)
    .await
    .db()?;
    Ok(r.rows_affected() == 1)
}

/// Unfinished jobs, oldest first (recovery at start-up).
pub async fn unfinished(db: impl PgExecutor<'_>) -> Result<Vec<(Uuid, UserId)>, DbError> {
    sqlx::query_as(
        "select id, user_id from generations where status in ('queued', 'submitted', 'running') order by created_at",
    )
    .fetch_all(db)
    .await
    .db()
}

/// The user's unfinished generations (what their session counts as in flight).
pub async fn unfinished_for_user(db: impl PgExecutor<'_>, user: UserId) -> Result<Vec<Uuid>, DbError> {
    sqlx::query_scalar("select id from generations where user_id = $1 and status in ('queued', 'submitted', 'running')")
        .bind(user)
        .fetch_all(db)
        .await
        .db()
}

/// Finished jobs whose hold is still open (a crash between the two writes).
pub async fn finished_with_open_hold(db: impl PgExecutor<'_>) -> Result<Vec<GenerationRow>, DbError> {
    sqlx::query_as::<_, GenerationRow>(&format!(
        "select {GEN_COLUMNS} from generations g
         where g.status in ('succeeded', 'failed')
           and exists (select 1 from holds h where h.id = g.hold_id and h.status = 'held')"
    ))
    .fetch_all(db)
    .await
    .db()
}

pub async fn by_callback_token(db: impl PgExecutor<'_>, token: &str) -> Result<Option<(Uuid, UserId)>, DbError> {
    sqlx::query_as("select id, user_id from generations where callback_token = $1")
        .bind(token)
        .fetch_optional(db)
        .await
        .db()
}

/// "Delete my data": hides every upload and generation of the user and returns the storage
/// keys to remove (rows stay for accounting: costs and holds refer to them).
pub async fn forget_user_content(db: &sqlx::PgPool, user: UserId) -> Result<Vec<String>, DbError> {
    let mut tx = db.begin().await.db()?;
    let mut keys: Vec<String> = sqlx::query_scalar(
        "update uploads set deleted_at = now() where user_id = $1 and deleted_at is null returning storage_key",
    )
    .bind(user)
    .fetch_all(&mut *tx)
    .await
    .db()?;
    let results: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "update generations set deleted_at = now(), updated_at = now()
         where user_id = $1 and deleted_at is null returning result_key, master_key",
    )
    .bind(user)
    .fetch_all(&mut *tx)
    .await
    .db()?;
    keys.extend(results.into_iter().flat_map(|(result, master)| result.into_iter().chain(master)));
    super::chat::clear(&mut *tx, user).await?;
    tx.commit().await.db()?;
    Ok(keys)
}
