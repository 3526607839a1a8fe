//! `users`: profiles from Telegram and the cached balance columns.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

use super::{DbError, SqlxResultExt};
use crate::domain::credits::{BucketState, Buckets};
use crate::domain::ids::UserId;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub telegram_id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub language_code: String,
    pub is_premium: bool,
    pub photo_url: Option<String>,
    pub allows_write_to_pm: bool,
    pub blocked: bool,
    pub bot_blocked: bool,
    pub free_credits: i32,
    pub free_month: Option<NaiveDate>,
    pub sub_credits: i32,
    pub sub_period_end: Option<DateTime<Utc>>,
    pub purchased_credits: i32,
    pub storage_bytes: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Session tokens carry it; a bump (block, delete-my-data) revokes every earlier token.
    pub token_version: i32,
    /// The personal code in the user's invitation link (`ref_<code>`).
    pub referral_code: String,
    /// The user turned the bot's reminders off.
    pub reminders_off: bool,
    /// When the user finished or skipped the onboarding cards.
    pub onboarded_at: Option<DateTime<Utc>>,
}

impl UserRow {
    pub fn id(&self) -> UserId {
        UserId(self.telegram_id)
    }

    pub fn bucket_state(&self) -> BucketState {
        BucketState {
            buckets: Buckets {
                free: self.free_credits,
                subscription: self.sub_credits,
                purchased: self.purchased_credits,
            },
            free_month: self.free_month,
            sub_period_end: self.sub_period_end,
        }
    }
}

/// Profile fields as Telegram sends them in initData's `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramProfile {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub language_code: Option<String>,
    pub is_premium: bool,
    pub photo_url: Option<String>,
    pub allows_write_to_pm: bool,
}

const USER_COLUMNS: &str = "telegram_id, first_name, last_name, username, language_code, is_premium, photo_url, \
     allows_write_to_pm, blocked, bot_blocked, free_credits, free_month, sub_credits, sub_period_end, \
     purchased_credits, storage_bytes, created_at, updated_at, last_seen_at, deleted_at, token_version, \
     referral_code, reminders_off, onboarded_at";

/// Creates the user or refreshes their profile, in one round-trip. Concurrent first logins
/// of one user create exactly one row (the primary key arbitrates). A language chosen in
/// the app's settings is kept over Telegram's.
#[tracing::instrument(skip_all, fields(user.id = profile.id), err)]
pub async fn upsert_from_telegram(db: impl PgExecutor<'_>, profile: &TelegramProfile) -> Result<UserRow, DbError> {
    let sql = format!(
        "insert into users (telegram_id, first_name, last_name, username, language_code, is_premium, photo_url, allows_write_to_pm)
         values ($1, $2, $3, $4, coalesce($5, 'ru'), $6, $7, $8)
         on conflict (telegram_id) do update set
             first_name = excluded.first_name,
             last_name = excluded.last_name,
             username = excluded.username,
             language_code = case when users.deleted_at is null then users.language_code else excluded.language_code end,
             is_premium = excluded.is_premium,
             photo_url = excluded.photo_url,
             allows_write_to_pm = excluded.allows_write_to_pm,
             deleted_at = null,
             last_seen_at = now(),
             updated_at = now()
         returning {USER_COLUMNS}"
    );
    sqlx::query_as::<_, UserRow>(&sql)
        .bind(profile.id)
        .bind(&profile.first_name)
        .bind(&profile.last_name)
        .bind(&profile.username)
        .bind(profile.language_code.as_deref().map(normalise_language))
        .bind(profile.is_premium)
        .bind(&profile.photo_url)
        .bind(profile.allows_write_to_pm)
        .fetch_one(db)
        .await
        .db()
}

/// `"en-US"` → `"en"`; anything but English is stored as given (the UI falls back to Russian).
fn normalise_language(code: &str) -> &str {
    code.split(['-', '_']).next().unwrap_or(code)
}

pub async fn get(db: impl PgExecutor<'_>, id: UserId) -> Result<UserRow, DbError> {
    let sql = format!("select {USER_COLUMNS} from users where telegram_id = $1");
    sqlx::query_as::<_, UserRow>(&sql).bind(id).fetch_optional(db).await.db()?.ok_or(DbError::NotFound)
}

pub async fn set_language(db: impl PgExecutor<'_>, id: UserId, language_code: &str) -> Result<UserRow, DbError> {
    let sql = format!(
        "update users set language_code = $2, updated_at = now() where telegram_id = $1 returning {USER_COLUMNS}"
    );
    sqlx::query_as::<_, UserRow>(&sql)
        .bind(id)
        .bind(language_code)
        .fetch_optional(db)
        .await
        .db()?
        .ok_or(DbError::NotFound)
}

/// The onboarding cards were seen (finished or skipped): they are not shown again.
pub async fn set_onboarded(db: impl PgExecutor<'_>, id: UserId) -> Result<(), DbError> {
    sqlx::query(
        "update users set onboarded_at = coalesce(onboarded_at, now()), updated_at = now() where telegram_id = $1",
    )
    .bind(id)
    .execute(db)
    .await
    .db()?;
    Ok(())
}

/// The Bot API answered 403 for this user: stop sending until they write to the bot again.
pub async fn set_bot_blocked(db: impl PgExecutor<'_>, id: UserId, blocked: bool) -> Result<(), DbError> {
    sqlx::query("update users set bot_blocked = $2, updated_at = now() where telegram_id = $1")
        .bind(id)
        .bind(blocked)
        .execute(db)
        .await
        .db()?;
    Ok(())
}

/// "Delete my data": clears personal fields (the receipt contact too); the row, balances, ledger,
/// payments and consents stay (accounting, proof of consent). Files and chat are removed by their
/// own modules.
pub async fn clear_personal_data(db: impl PgExecutor<'_>, id: UserId) -> Result<(), DbError> {
    sqlx::query(
        "update users set first_name = '', last_name = null, username = null, photo_url = null,
             is_premium = false, contact_email = null, contact_phone = null, deleted_at = now(),
             updated_at = now(), token_version = token_version + 1
         where telegram_id = $1",
    )
    .bind(id)
    .execute(db)
    .await
    .db()?;
    Ok(())
}

/// Blocks or unblocks a user (operator); either way every session token issued before is
/// revoked (the token version is bumped). The new `(blocked, token_version)`, or `None` for an
/// unknown user.
pub async fn set_blocked(db: impl PgExecutor<'_>, id: UserId, blocked: bool) -> Result<Option<(bool, i32)>, DbError> {
    sqlx::query_as(
        "update users set blocked = $2, token_version = token_version + 1, updated_at = now()
         where telegram_id = $1 returning blocked, token_version",
    )
    .bind(id)
    .bind(blocked)
    .fetch_optional(db)
    .await
    .db()
}

/// What a session token is checked against: `(token_version, blocked)`.
pub async fn token_state(db: impl PgExecutor<'_>, id: UserId) -> Result<Option<(i32, bool)>, DbError> {
    sqlx::query_as("select token_version, blocked from users where telegram_id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .db()
}

/// All users, and those seen in the last 24 hours.
pub async fn counts(db: impl PgExecutor<'_>) -> Result<(i64, i64), DbError> {
    sqlx::query_as("select count(*), count(*) filter (where last_seen_at > now() - interval '1 day') from users")
        .fetch_one(db)
        .await
        .db()
}

/// The user's language code (`ru` when the row is missing), for messages sent outside a request.
pub async fn user_language(db: impl PgExecutor<'_>, user: UserId) -> Result<String, DbError> {
    sqlx::query_scalar("select language_code from users where telegram_id = $1")
        .bind(user)
        .fetch_optional(db)
        .await
        .db()
        .map(|l| l.unwrap_or_else(|| "ru".to_string()))
}
