//! Figures for the operator screen: users, activity, generations, failures, assistant spend
//! since a moment; provider errors of the last hour.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::{DbError, SqlxResultExt};

/// Figures of one period (today, this month).
#[derive(Debug, Clone, Default, sqlx::FromRow, serde::Serialize, ts_rs::TS)]
#[ts(export_to = "Admin.ts")]
pub struct Figures {
    /// Users who joined in the period.
    pub new_users: i64,
    /// Users seen (logged in) in the period.
    pub active_users: i64,
    pub generations: i64,
    pub failures: i64,
    pub assistant_calls: i64,
    pub assistant_cost_usd: f64,
}

pub async fn figures_since(db: impl PgExecutor<'_>, since: DateTime<Utc>) -> Result<Figures, DbError> {
    sqlx::query_as::<_, Figures>(
        "select
             (select count(*) from users where created_at >= $1) as new_users,
             (select count(*) from users where last_seen_at >= $1) as active_users,
             (select count(*) from generations where created_at >= $1) as generations,
             (select count(*) from generations where created_at >= $1 and status = 'failed') as failures,
             (select count(*) from assistant_requests where created_at >= $1) as assistant_calls,
             (select coalesce(sum(cost_usd), 0)::float8 from assistant_requests where created_at >= $1) as assistant_cost_usd",
    )
    .bind(since)
    .fetch_one(db)
    .await
    .db()
}

/// Failure codes that mean kie.ai misbehaved (not the user's input or a cancel).
const KIE_ERRORS: &str =
    "('generation_failed', 'provider_timeout', 'provider_unknown', 'provider_down', 'no_result', 'unchanged_result')";

/// kie.ai: finished generations and provider failures since `since`; OpenRouter: calls and
/// failed calls (invalid, transient, refused) since `since`.
pub async fn provider_errors(db: impl PgExecutor<'_>, since: DateTime<Utc>) -> Result<(i64, i64, i64, i64), DbError> {
    sqlx::query_as(&format!(
        "select
             (select count(*) from generations where finished_at >= $1),
             (select count(*) from generations where finished_at >= $1 and status = 'failed' and error_code in {KIE_ERRORS}),
             (select count(*) from assistant_requests where created_at >= $1),
             (select count(*) from assistant_requests where created_at >= $1 and outcome in ('invalid', 'transient', 'refused'))"
    ))
    .bind(since)
    .fetch_one(db)
    .await
    .db()
}
