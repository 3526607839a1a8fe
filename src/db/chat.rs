//! The editor chat (DESIGN §4): one `chat_history` row per user with the last N messages as
//! JSONB (trimmed on every write) and the chat's current image (the input of the next edit).

use serde_json::{Value, json};
use sqlx::PgExecutor;

use super::{DbError, SqlxResultExt};
use crate::domain::chat::ChatMessage;
use crate::domain::ids::UserId;

/// The stored chat: messages oldest first, and the current image's storage key, if any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chat {
    pub messages: Vec<ChatMessage>,
    pub current_image: Option<String>,
}

pub async fn load(db: impl PgExecutor<'_>, user: UserId) -> Result<Chat, DbError> {
    let row: Option<(Value, Option<Value>)> =
        sqlx::query_as("select messages, current_image from chat_history where user_id = $1")
            .bind(user)
            .fetch_optional(db)
            .await
            .db()?;
    let Some((messages, current_image)) = row else { return Ok(Chat::default()) };
    // One message that no longer parses (written by an older version) is dropped, not the chat.
    let messages = messages
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| match serde_json::from_value::<ChatMessage>(m.clone()) {
                    Ok(message) => Some(message),
                    Err(e) => {
                        tracing::warn!(user.id = %user, error = %e, "dropping a chat message that does not parse");
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let current_image = current_image.and_then(|v| v.get("key").and_then(Value::as_str).map(str::to_string));
    Ok(Chat { messages, current_image })
}

/// Writes the chat, keeping only the last `keep` messages.
pub async fn save(db: impl PgExecutor<'_>, user: UserId, chat: &Chat, keep: usize) -> Result<(), DbError> {
    let skip = chat.messages.len().saturating_sub(keep);
    let messages =
        serde_json::to_value(&chat.messages[skip..]).map_err(|e| DbError::Other(sqlx::Error::Encode(e.into())))?;
    let current = chat.current_image.as_ref().map(|key| json!({"key": key}));
    sqlx::query(
        "insert into chat_history (user_id, messages, current_image) values ($1, $2, $3)
         on conflict (user_id) do update set messages = excluded.messages, current_image = excluded.current_image,
                                             updated_at = now()",
    )
    .bind(user)
    .bind(messages)
    .bind(current)
    .execute(db)
    .await
    .db()
    .map(|_| ())
}

/// Reads the chat under its row's lock, lets `change` modify it, writes it back (trimmed to the
/// last `keep` messages) in the same transaction; returns what was written. Two writers of one
/// user's chat (a turn on one node, a finished edit on another) never overwrite each other.
pub async fn modify(
    pool: &sqlx::PgPool,
    user: UserId,
    keep: usize,
    change: impl FnOnce(&mut Chat),
) -> Result<Chat, DbError> {
    let mut tx = pool.begin().await.db()?;
    // The row exists before it is locked (a first write creates it empty).
    sqlx::query(
        "insert into chat_history (user_id, messages) values ($1, '[]'::jsonb) on conflict (user_id) do nothing",
    )
    .bind(user)
    .execute(&mut *tx)
    .await
    .db()?;
    sqlx::query("select 1 from chat_history where user_id = $1 for update").bind(user).execute(&mut *tx).await.db()?;
    let mut chat = load(&mut *tx, user).await?;
    change(&mut chat);
    let skip = chat.messages.len().saturating_sub(keep);
    chat.messages.drain(..skip);
    save(&mut *tx, user, &chat, keep).await?;
    tx.commit().await.db()?;
    Ok(chat)
}

pub async fn clear(db: impl PgExecutor<'_>, user: UserId) -> Result<(), DbError> {
    sqlx::query("delete from chat_history where user_id = $1").bind(user).execute(db).await.db().map(|_| ())
}

/// The user's unfinished edit of `keys` with exactly `prompt`, if any. A repeated request for
/// the same edit gets this one instead of a second charge.
pub async fn unfinished_edit(
    db: impl PgExecutor<'_>,
    user: UserId,
    prompt: &str,
    keys: &[String],
) -> Result<Option<super::generations::GenerationRow>, DbError> {
    sqlx::query_as(&format!(
        "select {} from generations
         where user_id = $1 and kind = 'edit' and md5(prompt) = md5($2) and prompt = $2 and input_keys = $3
           and status in ('queued', 'submitted', 'running')",
        super::generations::GEN_COLUMNS
    ))
    .bind(user)
    .bind(prompt)
    .bind(keys)
    .fetch_optional(db)
    .await
    .db()
}
