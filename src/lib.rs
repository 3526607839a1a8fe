//! Primerka: a Telegram Mini App for virtual try-on and image editing.
//!
//! Module map (dependencies point inward: `http` → `actors` → `domain`/`db`/`clients`):
//!
//! - [`config`]: `Settings` from `config/*.toml` plus secrets from the environment.
//! - [`telemetry`]: tracing subscriber and the Prometheus recorder.
//! - [`startup`]: `Application::build` binds the listener, runs migrations, spawns the actor
//!   tree and serves the router until shutdown ([`serve`]: timeouts and a connection cap).
//! - [`http`]: axum handlers, one file per feature; `ApiError` is the only type that knows
//!   status codes; `AuthUser` guards every `/api` route.
//! - [`auth`]: Telegram initData validation (HMAC-SHA-256) and our JWTs.
//! - [`actors`]: the ractor tree (`AppSupervisor` → `SessionRegistry` → `SessionActor`,
//!   `Notifier`, `Scheduler`, …). Handlers only talk to actors through typed handles.
//! - [`domain`]: pure rules (credit buckets, spend order, products, messages); no I/O.
//! - [`db`]: every SQL statement lives here; plain async functions over `PgExecutor`s.
//! - [`clients`]: provider HTTP clients (Telegram Bot API, …); the only users of reqwest.
//! - [`simulator`]: loopback stand-ins for the providers (demo mode, tests, load tests).
//! - [`typescript`]: the frontend's API and event types, generated from the Rust ones.

pub mod actors;
pub mod auth;
pub mod bot;
pub mod clients;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod serve;
pub mod simulator;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod typescript;
