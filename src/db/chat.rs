//! The editor chat (DESIGN §4): one `chat_history` row per user with the last N messages as
//! JSONB (trimmed on every write) and the chat's current image (the input of the next edit).

use serde_json::Value;
use sqlx::PgExecutor;

use super::{DbError, SqlxResultExt};
use crate::domain::ids::UserId;

/// The stored chat: messages oldest first, and the current image (`{"key": …}`) if any.
#[derive(Debug, Clone, Default)]
pub struct Chat {
    pub messages: Vec<Value>,
    pub current_image: Option<Value>,
}

pub async fn load(db: impl PgExecutor<'_>, user: UserId) -> Result<Chat, DbError> {
    let row: Option<(Value, Option<Value>)> =
        sqlx::query_as("select messages, current_image from chat_history where user_id = $1")
            .bind(user)
            .fetch_optional(db)
            .await
            .db()?;
    Ok(row
        .map(|(messages, current_image)| Chat {
            messages: messages.as_array().cloned().unwrap_or_default(),
            current_image: current_image.filter(|v| !v.is_null()),
        })
        .unwrap_or_default())
}

/// Writes the chat, keeping only the last `keep` messages.
pub async fn save(db: impl PgExecutor<'_>, user: UserId, chat: &Chat, keep: usize) -> Result<(), DbError> {
    let skip = chat.messages.len().saturating_sub(keep);
    let messages = Value::Array(chat.messages[skip..].to_vec());
    sqlx::query(
        "insert into chat_history (user_id, messages, current_image) values ($1, $2, $3)
         on conflict (user_id) do update set messages = excluded.messages, current_image = excluded.current_image,
                                             updated_at = now()",
    )
    .bind(user)
    .bind(messages)
    .bind(&chat.current_image)
    .execute(db)
    .await
    .db()
    .map(|_| ())
}

pub async fn clear(db: impl PgExecutor<'_>, user: UserId) -> Result<(), DbError> {
    sqlx::query("delete from chat_history where user_id = $1").bind(user).execute(db).await.db().map(|_| ())
}

/// The user's unfinished edit of `keys` with exactly `prompt`, if any: `(id, status, cost,
/// watermarked)`. A repeated request for the same edit gets this one instead of a second charge.
pub async fn unfinished_edit(
    db: impl PgExecutor<'_>,
    user: UserId,
    prompt: &str,
    keys: &[String],
) -> Result<Option<(uuid::Uuid, String, i32, bool)>, DbError> {
    sqlx::query_as(
        "select id, status, cost, watermarked from generations
         where user_id = $1 and kind = 'edit' and md5(prompt) = md5($2) and prompt = $2 and input_keys = $3
           and status in ('queued', 'submitted', 'running')",
    )
    .bind(user)
    .bind(prompt)
    .bind(keys)
    .fetch_optional(db)
    .await
    .db()
}
