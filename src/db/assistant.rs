//! `assistant_requests`: one row per call to the editing assistant (OpenRouter) with its
//! tokens, cost and latency, for cost accounting (contracts/openrouter.md §4).

use sqlx::PgExecutor;

use super::{DbError, SqlxResultExt};
use crate::domain::ids::UserId;

/// One call, as recorded.
#[derive(Debug, Clone, Default)]
pub struct AssistantCall {
    pub openrouter_id: Option<String>,
    pub model: String,
    pub provider: Option<String>,
    /// `ok` (schema-valid), `invalid` (broke the schema), `transient`, `refused`, `moderated`.
    pub outcome: &'static str,
    pub error: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub latency_ms: i64,
}

pub async fn record(db: impl PgExecutor<'_>, user: UserId, call: &AssistantCall) -> Result<(), DbError> {
    sqlx::query(
        "insert into assistant_requests (user_id, openrouter_id, model, provider, outcome, error, prompt_tokens,
                                         completion_tokens, cost_usd, latency_ms)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(user)
    .bind(&call.openrouter_id)
    .bind(&call.model)
    .bind(&call.provider)
    .bind(call.outcome)
    .bind(call.error.as_deref().map(|e| e.chars().take(300).collect::<String>()))
    .bind(call.prompt_tokens.clamp(0, i32::MAX as i64) as i32)
    .bind(call.completion_tokens.clamp(0, i32::MAX as i64) as i32)
    .bind(call.cost_usd)
    .bind(call.latency_ms.clamp(0, i32::MAX as i64) as i32)
    .execute(db)
    .await
    .db()
    .map(|_| ())
}

/// Calls and their cost since `since`: `(requests, cost_usd)`.
pub async fn totals_since(
    db: impl PgExecutor<'_>,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<(i64, f64), DbError> {
    sqlx::query_as("select count(*), coalesce(sum(cost_usd), 0)::float8 from assistant_requests where created_at >= $1")
        .bind(since)
        .fetch_one(db)
        .await
        .db()
}
