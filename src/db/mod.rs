//! The only place with SQL. Functions are plain `async fn`s over a `PgExecutor` or a
//! `&mut PgConnection`, so callers compose them in one transaction.

pub mod assistant;
pub mod chat;
pub mod cluster;
pub mod credit_writer;
pub mod credits;
pub mod generations;
pub mod legal;
pub mod payments;
pub mod promo;
pub mod referrals;
pub mod reminders;
pub mod stats;
pub mod subscriptions;
pub mod types;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::Settings;

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    /// A unique or check constraint refused the write; `constraint` names it.
    #[error("constraint {constraint} refused the write")]
    Conflict { constraint: String },
    #[error(transparent)]
    Other(#[from] sqlx::Error),
}

impl DbError {
    /// Maps a unique/check violation to `Conflict`, anything else to `Other`.
    pub fn from_sqlx(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && matches!(db.code().as_deref(), Some("23505" | "23514" | "23503"))
        {
            return DbError::Conflict { constraint: db.constraint().unwrap_or("unknown").to_string() };
        }
        if matches!(err, sqlx::Error::RowNotFound) {
            return DbError::NotFound;
        }
        DbError::Other(err)
    }

    /// The database could not be reached (pool exhausted or closed, connection lost, the
    /// server shutting down or starting): the operation did not happen and may be retried.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Other(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)) => true,
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions
            DbError::Other(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08"))
            }
            _ => false,
        }
    }
}

/// `?`-friendly conversion used by the `db/` functions.
pub trait SqlxResultExt<T> {
    fn db(self) -> Result<T, DbError>;
}

impl<T> SqlxResultExt<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, DbError> {
        self.map_err(DbError::from_sqlx)
    }
}

/// Connects to `DATABASE_URL`, creating the database first when it is missing and the
/// settings allow it, then applies the migrations.
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<PgPool> {
    let url = settings.secrets.database_url.expose_secret();
    let options = PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .application_name("primerka")
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    if settings.file.database.create_if_missing {
        create_database_if_missing(&options).await?;
    }
    let db = &settings.file.database;
    let pool = PgPoolOptions::new()
        .max_connections(db.max_connections)
        .min_connections(db.min_connections)
        .acquire_timeout(Duration::from_secs(db.acquire_timeout_secs))
        // No ping before every checkout: it doubled the round-trips of the credit path. A
        // connection that died is discovered by the query that uses it (and replaced).
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Applies the embedded migrations (`migrations/`).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await.context("applying database migrations")?;
    Ok(())
}

async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    let admin = options.clone().database("postgres");
    let mut conn = match sqlx::PgConnection::connect_with(&admin).await {
        Ok(conn) => conn,
        // No maintenance database or no right to it: let the real connect report the problem.
        Err(_) => return Ok(()),
    };
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .context("checking whether the database exists")?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&format!("create database {quoted}")).execute(&mut conn).await {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Someone else created it at the same moment.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context("creating the database"),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// True when the database answers within `timeout`.
pub async fn ping(pool: &PgPool, timeout: Duration) -> bool {
    tokio::time::timeout(timeout, sqlx::query("select 1").execute(pool)).await.is_ok_and(|r| r.is_ok())
}
