//! Settings: `config/default.toml`, then `config/{APP_ENV}.toml`, then `APP__SECTION__KEY`
//! environment overrides; secrets and deployment values come only from named environment
//! variables (see `.env.example`). `Settings` is a value handed to `Application::build`, so
//! tests build their own.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The environment variables the application reads, as a map, so tests can pass their own
/// without touching the process environment.
pub type EnvMap = HashMap<String, String>;

/// Bot token used in demo mode when `TELEGRAM_BOT_TOKEN` is not set. It is public on purpose:
/// demo mode only ever talks to the simulator.
pub const DEMO_BOT_TOKEN: &str = "1000000001:DEMO-primerka-simulated-bot-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    Local,
    Test,
    Production,
}

impl AppEnv {
    fn parse(raw: &str) -> anyhow::Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "local" | "development" | "dev" => Ok(Self::Local),
            "test" => Ok(Self::Test),
            "production" | "prod" => Ok(Self::Production),
            other => bail!("APP_ENV must be local, test or production, not {other:?}"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

/// Everything the application needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub env: AppEnv,
    pub file: FileSettings,
    pub secrets: Secrets,
    /// Port to bind; 0 lets the OS choose (tests).
    pub port: u16,
    /// Externally visible base URL without a trailing slash (`PUBLIC_BASE_URL`).
    pub public_base_url: String,
    /// Telegram ids with operator rights (`ADMIN_TELEGRAM_IDS`).
    pub admin_ids: Vec<i64>,
    /// Provider simulator mounted under `/sim/` and every client pointed at it.
    pub simulator: bool,
    /// An external simulator (`SIMULATOR_URL`, e.g. a standalone `primerka-sim`); when set,
    /// clients talk to it instead of the in-app one.
    pub simulator_url: Option<String>,
    /// Development login that signs initData for the demo bot. It exists only while Telegram
    /// itself is simulated: simulator on, no real provider keys, no `TELEGRAM_BOT_TOKEN` (a
    /// configured token switches it off whatever else is set) and never in production.
    pub demo_login: bool,
    /// `RATE_LIMITS=off` turns every limiter off (load tests on loopback).
    pub rate_limits_enabled: bool,
}

/// Secrets, only ever from the environment.
#[derive(Clone)]
pub struct Secrets {
    pub telegram_bot_token: SecretString,
    pub telegram_webhook_secret: SecretString,
    pub jwt_secret: SecretString,
    pub database_url: SecretString,
    pub kie_api_key: Option<SecretString>,
    pub openrouter_api_key: Option<SecretString>,
    pub yookassa_shop_id: Option<String>,
    pub yookassa_secret_key: Option<SecretString>,
    /// Key for signed media URLs; derived from the JWT secret unless `MEDIA_SIGNING_KEY` is set.
    pub media_signing_key: SecretString,
    /// Credentials for an S3-compatible bucket (`S3_ACCESS_KEY_ID`, `S3_SECRET_ACCESS_KEY`).
    pub s3: Option<S3Secrets>,
    /// Bearer token for `/metrics` and `/readyz` details on the public port (`METRICS_TOKEN`).
    pub metrics_token: Option<SecretString>,
    /// Bearer token for the simulator's control routes from outside loopback
    /// (`SIM_CONTROL_TOKEN`).
    pub sim_control_token: Option<SecretString>,
}

#[derive(Clone)]
pub struct S3Secrets {
    pub access_key_id: SecretString,
    pub secret_access_key: SecretString,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("telegram_bot_token", &"[redacted]")
            .field("jwt_secret", &"[redacted]")
            .field("database_url", &redact_url(self.database_url.expose_secret()))
            .field("kie_api_key", &self.kie_api_key.as_ref().map(|_| "[redacted]"))
            .field("openrouter_api_key", &self.openrouter_api_key.as_ref().map(|_| "[redacted]"))
            .field("yookassa_shop_id", &self.yookassa_shop_id)
            .field("yookassa_secret_key", &self.yookassa_secret_key.as_ref().map(|_| "[redacted]"))
            .field("s3", &self.s3.as_ref().map(|_| "[redacted]"))
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "[redacted]"))
            .field("sim_control_token", &self.sim_control_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// `postgres://user:password@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The non-secret part, read from `config/*.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub sessions: SessionSettings,
    pub credits: CreditSettings,
    pub products: BTreeMap<String, ProductSettings>,
    pub tax: TaxSettings,
    pub legal: LegalSettings,
    pub rate_limits: RateLimitSettings,
    pub telegram: TelegramSettings,
    pub kie: KieSettings,
    pub openrouter: OpenRouterSettings,
    pub yookassa: YooKassaSettings,
    pub storage: StorageSettings,
    pub generation: GenerationSettings,
    pub chat: ChatSettings,
    pub simulator: SimulatorSettings,
    pub bench: BenchSettings,
    pub cluster: ClusterSettings,
    #[serde(default)]
    pub growth: GrowthSettings,
}

/// Referrals and re-engagement through the bot (issue 18).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrowthSettings {
    /// Credits for the invited user, and for who invited them, on the invited user's first payment.
    pub referral_credits_invitee: i32,
    pub referral_credits_inviter: i32,
    /// An invitation counts only for a user whose account is at most this old (and never paid).
    pub referral_window_hours: i64,
    /// How often the Scheduler looks for users to remind (0 = never).
    pub reminders_interval_secs: u64,
    /// At most one reminder per user within this many hours (the rate limit).
    pub reminders_min_gap_hours: i64,
    /// Reminders handed to the Notifier per run at most (the rest wait for the next run).
    pub reminders_per_run: i64,
    /// A purchase left unpaid is recalled once, this long after it was started…
    pub unpaid_after_minutes: i64,
    /// …and not when it is older than this.
    pub unpaid_max_age_hours: i64,
}

impl Default for GrowthSettings {
    fn default() -> Self {
        GrowthSettings {
            referral_credits_invitee: 20,
            referral_credits_inviter: 20,
            referral_window_hours: 24,
            reminders_interval_secs: 900,
            reminders_min_gap_hours: 72,
            reminders_per_run: 200,
            unpaid_after_minutes: 60,
            unpaid_max_age_hours: 48,
        }
    }
}

/// Running several nodes on one database (docs/ARCHITECTURE.md, "Beyond one node").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Other nodes serve the same users: events travel between nodes (LISTEN/NOTIFY).
    pub enabled: bool,
    /// A node holds each job it drives or queues for this long and renews the lease at a third
    /// of it; another node takes over a job whose lease ran out (its node died).
    pub lease_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchSettings {
    /// Enables `POST /api/bench/credit-cycle` for the credit-path benchmark (never in production).
    pub credit_probe: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Used when `PUBLIC_BASE_URL` is not set (`{port}` is replaced by the bound port).
    pub default_public_base_url: String,
    /// Allowed CORS origin; empty means the origin of the public base URL.
    pub cors_origin: String,
    pub json_body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub frontend_dir: PathBuf,
    pub shutdown_grace_secs: u64,
    /// A connection must send a request's headers within this (silent and slow-header clients
    /// included); an idle keep-alive connection is closed after it too.
    pub header_read_timeout_secs: u64,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Serve `/metrics` on this port on `metrics_host` (0 = no separate listener; then
    /// `/metrics` on the main port needs `METRICS_TOKEN`).
    pub metrics_port: u16,
    pub metrics_host: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_secs: u64,
    /// Create the database named in `DATABASE_URL` when it does not exist yet.
    pub create_if_missing: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub init_data_max_age_secs: u64,
    pub init_data_future_skew_secs: u64,
    pub jwt_ttl_secs: u64,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// A returning user with an unchanged profile logs in without a database write for this
    /// long after their last written login (0 = always write).
    pub login_cache_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub idle_timeout_secs: u64,
    pub sweep_interval_secs: u64,
    pub call_timeout_ms: u64,
    pub max_sockets_per_user: usize,
    pub ws_heartbeat_secs: u64,
    pub ws_read_buffer_bytes: usize,
    pub ws_write_buffer_bytes: usize,
    pub ws_max_message_bytes: usize,
    pub max_in_flight_generations: u32,
    /// Restarts of one user's session allowed within a minute before the registry gives up
    /// until the next request.
    pub max_restarts_per_minute: u32,
}

fn default_writer_direct() -> usize {
    24
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditSettings {
    pub timezone: String,
    pub free_monthly: i32,
    pub hold_ttl_secs: u64,
    pub hold_sweep_interval_secs: u64,
    /// Workers executing reserve/commit/release; operations arriving together share one
    /// transaction (0 = no batching, each statement on its own).
    pub writer_workers: usize,
    pub writer_batch_max: usize,
    /// Operations executed at once on their own connections before the rest queue for the
    /// batching workers: low concurrency pays no queueing, high concurrency shares commits.
    #[serde(default = "default_writer_direct")]
    pub writer_direct: usize,
    /// How often the Scheduler looks for plans to renew.
    pub renewal_interval_secs: u64,
    /// Waits before each retry of a declined renewal; after the last one the plan lapses.
    pub renewal_retry_secs: Vec<u64>,
    /// A Stars plan whose renewal payment has not come this long after its period end lapses.
    pub stars_renewal_grace_secs: u64,
    pub prices: PriceSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSettings {
    pub tryon: i32,
    pub chat_message: i32,
    pub edit_generation: i32,
}

pub use crate::domain::pricing::ProductKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSettings {
    pub kind: ProductKind,
    pub credits: i32,
    pub price_kopecks: i64,
    pub price_stars: i64,
    #[serde(default)]
    pub period_days: Option<i64>,
    pub title_ru: String,
    pub title_en: String,
    /// Sort order on the plans screen.
    pub order: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxSettings {
    /// YooKassa commission in basis points (2.8 % = 280).
    pub yookassa_commission_bp: i64,
    /// NPD tax in basis points (4 % = 400).
    pub npd_tax_bp: i64,
    /// Telegram Stars: roubles (in kopecks) credited per star, for the report.
    pub stars_kopecks_per_star: i64,
    pub stars_commission_bp: i64,
    pub npd_annual_cap_kopecks: i64,
    /// Warn when the year's gross reaches this share of the cap (basis points).
    pub npd_warn_at_bp: i64,
    /// The second warning (basis points).
    pub npd_warn_high_bp: i64,
    /// `receipt_mode = "npd"`: rouble sales stop where they would take the year's income above
    /// the cap (until the operator raises or resets it).
    pub npd_stop_sales: bool,
    /// How receipts are made: `npd` («Мой налог» through YooKassa) or `54fz` (a cash register).
    pub receipt_mode: ReceiptMode,
    pub receipt_vat_code: u8,
    /// 54-ФЗ: the shop's tax system (1..6); 0 = not sent.
    pub receipt_tax_system_code: u8,
    /// YooKassa's fee for receipts, added to the commission (basis points).
    pub receipt_fee_bp: i64,
    /// A refund reverses the payment's commission too (its tax always).
    pub refund_returns_commission: bool,
}

/// Who registers the receipts of rouble payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ReceiptMode {
    /// Self-employed: YooKassa registers each receipt in «Мой налог» (the НПД cap applies).
    #[serde(rename = "npd")]
    Npd,
    /// An ИП or a company: receipts through an online cash register (54-ФЗ).
    #[serde(rename = "54fz")]
    Fz54,
}

/// The legal documents (`config/legal/`) and the owner's details they name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalSettings {
    pub dir: PathBuf,
    pub owner_name: String,
    pub owner_inn: String,
    pub owner_contact: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub login_per_minute_per_ip: u32,
    pub api_per_second_per_user: u32,
    pub api_burst_per_user: u32,
    pub uploads_per_minute_per_user: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    pub api_base_url: String,
    pub request_timeout_secs: u64,
    /// Text of the chat menu button and of the `/start` button, per language.
    pub menu_button_text_ru: String,
    pub menu_button_text_en: String,
    pub start_text_ru: String,
    pub start_text_en: String,
    /// Overall Bot API sends per second (Telegram allows ≈30).
    pub sends_per_second: u32,
    /// Sends per chat per second (Telegram allows ≈1).
    pub sends_per_chat_per_second: u32,
    pub notifier_queue_capacity: usize,
    /// How often unapplied Stars payments and `getStarTransactions` are reconciled.
    pub stars_reconcile_interval_secs: u64,
    /// Photos and files one user may have waiting in the bot's queue (send-to-chat beyond it → 429).
    pub media_queued_per_user: usize,
    /// Register the webhook and the menu button at start-up.
    pub configure_on_start: bool,
    /// Who to write to about payments and refunds (`/paysupport`).
    pub support_contact: String,
    /// The bot's username without `@` (e.g. `primerka_bot`) and the Mini App's short name from
    /// BotFather (`/newapp`): together they make the link back into the Mini App
    /// (`https://t.me/<bot>/<app>?startapp=…`) that pages opened outside Telegram offer. Empty =
    /// no such link (the bot's chat `https://t.me/<bot>` when only the username is set).
    #[serde(default)]
    pub bot_username: String,
    #[serde(default)]
    pub miniapp_short_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KieSettings {
    pub api_base_url: String,
    pub upload_base_url: String,
    pub model: String,
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub user_agent: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRouterSettings {
    pub api_base_url: String,
    pub model: String,
    pub request_timeout_secs: u64,
    pub app_title: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YooKassaSettings {
    pub api_base_url: String,
    pub request_timeout_secs: u64,
    /// Networks notifications may come from (YooKassa's published list by default).
    pub allowed_networks: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is honoured.
    pub trusted_proxies: Vec<String>,
    /// The reconciliation job: every `reconcile_interval_secs` it fetches payments still
    /// pending `reconcile_after_secs` after creation (and at most `reconcile_max_age_hours` old).
    pub reconcile_interval_secs: u64,
    pub reconcile_after_secs: u64,
    pub reconcile_max_age_hours: u64,
    /// A user polling a pending payment fetches it from YooKassa at most this often.
    pub poll_min_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Local folder for images when no S3 bucket is configured.
    pub local_dir: PathBuf,
    /// Lifetime of signed media links handed to the Mini App.
    pub signed_url_ttl_secs: u64,
    /// Lifetime of signed links handed to kie.ai for input images (≥ 1 h per the contract).
    pub provider_url_ttl_secs: u64,
    /// Uploaded photos are deleted after this many days.
    pub upload_retention_days: i64,
    /// Upload size cap, enforced while reading.
    pub max_upload_bytes: usize,
    /// Decoded image limits (decompression bombs).
    pub max_image_side: u32,
    pub max_image_pixels: u64,
    /// Uploads with a longer side are scaled down to it before they are stored.
    pub max_stored_side: u32,
    /// Uploads decoded at once across the process (0 = the number of CPU cores); one more
    /// waits up to `decode_wait_ms` for a slot, then gets `503` with `Retry-After`.
    pub max_concurrent_decodes: usize,
    pub decode_wait_ms: u64,
    /// Photo quality checks of a try-on upload (`kind` = person | garment; docs/API.md).
    pub photo_checks: crate::domain::images::PhotoChecks,
    /// The face detector's model for a person photo's framing check (`domain::faces`: warnings
    /// `no_face`, `several_people`, `cut_off`); empty = no framing check.
    #[serde(default)]
    pub face_model_path: String,
    /// Generation results are deleted after this many days (0 = kept until the user deletes them).
    pub result_retention_days: i64,
    /// Bytes of photos and results one user may keep stored; beyond it uploads answer
    /// `quota_exceeded`.
    pub user_quota_bytes: i64,
    /// An S3-compatible bucket instead of the local folder (empty = local). Credentials come
    /// from `S3_ACCESS_KEY_ID` and `S3_SECRET_ACCESS_KEY`.
    pub s3_bucket: String,
    /// e.g. `https://storage.yandexcloud.net`; empty = AWS.
    pub s3_endpoint: String,
    pub s3_region: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationSettings {
    pub watermark_text: String,
    /// Font for the watermark (TTF/OTF).
    pub watermark_font_path: PathBuf,
    /// Concurrent generator workers (each drives one job: submit, poll, store).
    pub workers: usize,
    /// Jobs waiting beyond the workers; more are refused with `queue_full` (nothing charged).
    pub max_queue: usize,
    /// kie.ai createTask budget: at most `create_per_window` tasks per `create_window_ms`.
    pub create_per_window: usize,
    pub create_window_ms: u64,
    /// kie.ai recordInfo budget per second.
    pub polls_per_second: usize,
    /// First poll delay and the cap of the growing poll interval.
    pub poll_initial_ms: u64,
    pub poll_max_ms: u64,
    /// A job still unfinished after this long is failed and refunded.
    pub max_wait_secs: u64,
    /// Attempts for transient failures (429, 455, connection errors before send).
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    /// Garment photos per try-on.
    pub max_garments: usize,
    /// The try-on prompt template file; `{category}` is replaced by the category's phrase.
    pub tryon_prompt_path: PathBuf,
    /// `<category>.md` files here replace the general template for their category.
    pub tryon_prompts_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    pub history_size: usize,
    pub variants: usize,
    pub system_prompt_path: PathBuf,
    /// Longest user message accepted.
    pub max_text_chars: usize,
    /// Longest edit prompt a user may write over a variant.
    pub max_prompt_chars: usize,
    /// Attempts at the assistant for provider failures (429, 5xx, timeouts).
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub max_tokens: u32,
    /// Chat messages one user may have running or waiting for an answer; more get 429.
    pub max_pending: u32,
    /// All attempts at one answer (retries and backoff included) end within this, so a reply
    /// (or the "nothing was charged" message) arrives within the HTTP request timeout.
    pub answer_deadline_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSettings {
    /// Scale of simulated provider latency: 1.0 in demo mode (seconds), small in tests.
    pub latency_scale: f64,
}

impl Settings {
    /// Loads settings for the running process: `.env` (development only, missing is fine),
    /// then the process environment.
    pub fn load() -> anyhow::Result<Self> {
        let env_name = std::env::var("APP_ENV").unwrap_or_default();
        if AppEnv::parse(&env_name)? != AppEnv::Production {
            dotenvy::dotenv().ok();
        }
        let env: EnvMap = std::env::vars().collect();
        Self::from_env(&env, &config_dir())
    }

    /// Builds settings from an explicit environment map and config folder.
    pub fn from_env(env: &EnvMap, config_dir: &std::path::Path) -> anyhow::Result<Self> {
        let get = |key: &str| env.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let app_env = AppEnv::parse(&get("APP_ENV").unwrap_or_default())?;

        let mut builder = config::Config::builder()
            .add_source(config::File::from(config_dir.join("default.toml")))
            .add_source(config::File::from(config_dir.join(format!("{}.toml", app_env.as_str()))).required(false));
        // APP__SECTION__KEY overrides, from the given map (not the process environment).
        let overrides: HashMap<String, String> =
            env.iter().filter(|(k, _)| k.starts_with("APP__")).map(|(k, v)| (k.clone(), v.clone())).collect();
        builder = builder.add_source(
            config::Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("yookassa.allowed_networks")
                .with_list_parse_key("yookassa.trusted_proxies")
                .source(Some(overrides)),
        );
        let file: FileSettings = builder
            .build()
            .context("reading config files")?
            .try_deserialize()
            .context("config files do not match the expected settings")?;

        let production = app_env == AppEnv::Production;
        let mut missing: Vec<&str> = Vec::new();
        let mut require = |key: &'static str| -> Option<String> {
            let value = get(key);
            if value.is_none() && production {
                missing.push(key);
            }
            value
        };
        let bot_token = require("TELEGRAM_BOT_TOKEN");
        let jwt_secret = require("JWT_SECRET");
        let database_url = require("DATABASE_URL");
        let public_base_url = require("PUBLIC_BASE_URL");
        let kie_key = require("KIE_API_KEY");
        let openrouter_key = require("OPENROUTER_API_KEY");
        let yookassa_shop = require("YOOKASSA_SHOP_ID");
        let yookassa_secret = require("YOOKASSA_SECRET_KEY");
        if !missing.is_empty() {
            bail!(
                "refusing to start in production: missing environment variable(s) {}; see .env.example",
                missing.join(", ")
            );
        }

        let real_keys =
            kie_key.is_some() || openrouter_key.is_some() || yookassa_shop.is_some() || yookassa_secret.is_some();
        let simulator = match get("SIMULATOR").as_deref() {
            Some("1" | "true" | "on" | "yes") => true,
            Some("0" | "false" | "off" | "no") => false,
            Some(other) => bail!("SIMULATOR must be 1 or 0, not {other:?}"),
            None => !real_keys,
        };
        if production && simulator {
            bail!("SIMULATOR=1 is not allowed with APP_ENV=production");
        }
        // A configured bot token means a real (or production-like) bot: signing initData for it
        // would let anyone log in as anyone, operators included.
        let demo_login = simulator && !real_keys && !production && bot_token.is_none();
        if !simulator && !real_keys {
            bail!(
                "SIMULATOR=0 needs provider keys (KIE_API_KEY, OPENROUTER_API_KEY, YOOKASSA_SHOP_ID, YOOKASSA_SECRET_KEY)"
            );
        }

        let bot_token = match bot_token {
            Some(token) => token,
            None if simulator => DEMO_BOT_TOKEN.to_string(),
            None => bail!("TELEGRAM_BOT_TOKEN is required when the simulator is off"),
        };
        if !bot_token.contains(':') {
            bail!("TELEGRAM_BOT_TOKEN does not look like a bot token (<bot id>:<secret>)");
        }
        let jwt_secret = match jwt_secret {
            Some(secret) if secret.len() >= 32 => secret,
            Some(_) => bail!("JWT_SECRET must be at least 32 bytes"),
            None => {
                // Outside production an unset secret is replaced by a random one per process:
                // tokens simply stop working after a restart.
                let bytes: [u8; 32] = rand::random();
                hex::encode(bytes)
            }
        };
        let webhook_secret =
            get("TELEGRAM_WEBHOOK_SECRET").unwrap_or_else(|| derive_hex(&bot_token, b"telegram-webhook-secret"));
        if !webhook_secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || webhook_secret.len() > 256
        {
            bail!("TELEGRAM_WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and - (at most 256 characters)");
        }
        let media_key = get("MEDIA_SIGNING_KEY").unwrap_or_else(|| derive_hex(&jwt_secret, b"media-signing-key"));
        let database_url = database_url.unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/primerka".to_string());

        let port = match get("PORT") {
            Some(raw) => raw.parse().with_context(|| format!("PORT must be a port number, not {raw:?}"))?,
            None => file.server.port,
        };
        let public_base_url = public_base_url
            .unwrap_or_else(|| file.server.default_public_base_url.clone())
            .trim_end_matches('/')
            .to_string();
        if !(public_base_url.starts_with("http://") || public_base_url.starts_with("https://")) {
            bail!("PUBLIC_BASE_URL must start with http:// or https://");
        }
        if production {
            // Telegram opens Mini Apps over HTTPS only, and session tokens must not travel in clear.
            if !public_base_url.starts_with("https://") {
                bail!("PUBLIC_BASE_URL must be an https:// address in production");
            }
            for (name, value) in [
                ("JWT_SECRET", Some(jwt_secret.as_str())),
                ("TELEGRAM_WEBHOOK_SECRET", get("TELEGRAM_WEBHOOK_SECRET").as_deref()),
                ("MEDIA_SIGNING_KEY", get("MEDIA_SIGNING_KEY").as_deref()),
                ("METRICS_TOKEN", get("METRICS_TOKEN").as_deref()),
            ] {
                if let Some(value) = value
                    && low_entropy(value)
                {
                    bail!(
                        "{name} looks guessable (repeated or too few distinct characters); generate one with `openssl rand -hex 32`"
                    );
                }
            }
        }
        let admin_ids = match get("ADMIN_TELEGRAM_IDS") {
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<i64>().with_context(|| format!("ADMIN_TELEGRAM_IDS: {s:?} is not a Telegram id")))
                .collect::<anyhow::Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let rate_limits_enabled = !matches!(get("RATE_LIMITS").as_deref(), Some("off" | "0" | "false"));

        let settings = Settings {
            env: app_env,
            file,
            secrets: Secrets {
                telegram_bot_token: SecretString::from(bot_token),
                telegram_webhook_secret: SecretString::from(webhook_secret),
                jwt_secret: SecretString::from(jwt_secret),
                database_url: SecretString::from(database_url),
                kie_api_key: kie_key.map(SecretString::from),
                openrouter_api_key: openrouter_key.map(SecretString::from),
                yookassa_shop_id: yookassa_shop,
                yookassa_secret_key: yookassa_secret.map(SecretString::from),
                media_signing_key: SecretString::from(media_key),
                s3: match (get("S3_ACCESS_KEY_ID"), get("S3_SECRET_ACCESS_KEY")) {
                    (Some(id), Some(secret)) => Some(S3Secrets {
                        access_key_id: SecretString::from(id),
                        secret_access_key: SecretString::from(secret),
                    }),
                    (None, None) => None,
                    _ => bail!("set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither"),
                },
                metrics_token: get("METRICS_TOKEN").map(SecretString::from),
                sim_control_token: get("SIM_CONTROL_TOKEN").map(SecretString::from),
            },
            port,
            public_base_url,
            admin_ids,
            simulator,
            simulator_url: get("SIMULATOR_URL").map(|u| u.trim_end_matches('/').to_string()),
            demo_login,
            rate_limits_enabled,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The product catalogue and operation prices configured in `[products.*]` and
    /// `[credits.prices]`.
    pub fn catalogue(&self) -> crate::domain::pricing::Catalogue {
        use crate::domain::pricing::{Catalogue, Prices, Product};
        let products = self
            .file
            .products
            .iter()
            .map(|(id, p)| Product {
                id: id.clone(),
                kind: p.kind,
                credits: p.credits,
                price_kopecks: p.price_kopecks,
                price_stars: p.price_stars,
                period_days: p.period_days,
                title_ru: p.title_ru.clone(),
                title_en: p.title_en.clone(),
                order: p.order,
            })
            .collect();
        let prices = &self.file.credits.prices;
        Catalogue::new(
            products,
            Prices { tryon: prices.tryon, chat_message: prices.chat_message, edit_generation: prices.edit_generation },
        )
    }

    fn validate(&self) -> anyhow::Result<()> {
        let f = &self.file;
        self.timezone().context("credits.timezone")?;
        if f.credits.free_monthly < 0 {
            bail!("credits.free_monthly must not be negative");
        }
        for (name, price) in [
            ("credits.prices.tryon", f.credits.prices.tryon),
            ("credits.prices.chat_message", f.credits.prices.chat_message),
            ("credits.prices.edit_generation", f.credits.prices.edit_generation),
        ] {
            if price <= 0 {
                bail!("{name} must be positive");
            }
        }
        for (id, product) in &f.products {
            if product.credits <= 0 || product.price_kopecks <= 0 || product.price_stars <= 0 {
                bail!("products.{id}: credits and prices must be positive");
            }
            if product.kind == ProductKind::Subscription && product.period_days.is_none() {
                bail!("products.{id}: a subscription needs period_days");
            }
        }
        let t = &f.tax;
        if t.npd_annual_cap_kopecks <= 0
            || !(1..=10_000).contains(&t.npd_warn_at_bp)
            || t.npd_warn_high_bp < t.npd_warn_at_bp
            || t.npd_warn_high_bp > 10_000
        {
            bail!("tax: npd_annual_cap_kopecks must be positive and 0 < npd_warn_at_bp <= npd_warn_high_bp <= 10000");
        }
        if t.receipt_fee_bp < 0 || t.receipt_tax_system_code > 6 || !(1..=12).contains(&t.receipt_vat_code) {
            bail!("tax: receipt_fee_bp >= 0, receipt_tax_system_code 0..=6, receipt_vat_code 1..=12");
        }
        for net in f.yookassa.allowed_networks.iter().chain(&f.yookassa.trusted_proxies) {
            parse_network(net).with_context(|| format!("yookassa network {net:?}"))?;
        }
        if self.env == AppEnv::Production && f.bench.credit_probe {
            bail!("bench.credit_probe must be false in production");
        }
        if f.sessions.max_sockets_per_user == 0 {
            bail!("sessions.max_sockets_per_user must be at least 1");
        }
        let g = &f.generation;
        // A full queue must drain within the time a job may wait, or its last jobs would be
        // refunded for waiting (the budget, not kie.ai, being the bottleneck).
        let drain_secs =
            (g.max_queue + g.workers) as u64 * g.create_window_ms / g.create_per_window.max(1) as u64 / 1000;
        if drain_secs >= g.max_wait_secs {
            bail!(
                "generation.max_queue ({}) + workers ({}) take {drain_secs} s to drain at {} per {} ms, \
                 not less than generation.max_wait_secs ({}); lower the queue or raise the wait",
                g.max_queue,
                g.workers,
                g.create_per_window,
                g.create_window_ms,
                g.max_wait_secs
            );
        }
        if f.chat.max_pending == 0 || f.chat.max_attempts == 0 || f.chat.variants == 0 {
            bail!("chat.max_pending, chat.max_attempts and chat.variants must be at least 1");
        }
        if f.chat.answer_deadline_secs == 0 || f.chat.answer_deadline_secs >= f.server.request_timeout_secs {
            bail!("chat.answer_deadline_secs must be between 1 and server.request_timeout_secs - 1");
        }
        Ok(())
    }

    pub fn timezone(&self) -> anyhow::Result<chrono_tz::Tz> {
        self.file
            .credits
            .timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|e| anyhow::anyhow!("unknown timezone {:?}: {e}", self.file.credits.timezone))
    }

    pub fn is_admin(&self, telegram_id: i64) -> bool {
        self.admin_ids.contains(&telegram_id)
    }

    /// Base URL of the provider simulator for `provider` (`telegram`, `kie`, `openrouter`,
    /// `yookassa`), given the app's own loopback address.
    /// Where a provider client sends its requests: the simulator's route for `provider` (plus the
    /// provider's own path prefix `suffix`) when the simulator is on, else `configured`.
    pub fn provider_base(&self, own_base: &str, provider: &str, suffix: &str, configured: &str) -> String {
        if self.simulator { self.simulator_base(own_base, provider) + suffix } else { configured.to_string() }
    }

    pub fn simulator_base(&self, own_base: &str, provider: &str) -> String {
        match &self.simulator_url {
            Some(url) => format!("{url}/sim/{provider}"),
            None => format!("{own_base}/sim/{provider}"),
        }
    }
}

/// A list of networks as settings give them; `validate` has already refused a bad entry.
pub fn parse_networks(list: &[String]) -> Vec<IpNet> {
    list.iter().filter_map(|n| parse_network(n).ok()).collect()
}

/// A network in CIDR notation, or a single address.
pub fn parse_network(raw: &str) -> anyhow::Result<IpNet> {
    let raw = raw.trim();
    if let Ok(net) = raw.parse::<IpNet>() {
        return Ok(net);
    }
    let ip: IpAddr = raw.parse().with_context(|| format!("{raw:?} is neither a network nor an address"))?;
    Ok(IpNet::from(ip))
}

/// Whether a secret is too regular to be random: fewer than 128 bits by its own character
/// frequencies (Shannon), or fewer than 8 distinct characters. `openssl rand -hex 32` gives
/// ~250 bits; 32 × `a` gives 0.
pub fn low_entropy(secret: &str) -> bool {
    let bytes = secret.as_bytes();
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    let n = bytes.len() as f64;
    let per_char: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    distinct < 8 || per_char * n < 128.0
}

fn derive_hex(secret: &str, label: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC-SHA-256 accepts any key length");
    mac.update(label);
    hex::encode(mac.finalize().into_bytes())
}

/// `config/` next to the binary's working directory, or `PRIMERKA_CONFIG_DIR`.
pub fn config_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PRIMERKA_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    let cwd = PathBuf::from("config");
    if cwd.join("default.toml").exists() {
        return cwd;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn production_refuses_to_start_without_secrets_and_names_them() {
        let err = Settings::from_env(&env(&[("APP_ENV", "production"), ("JWT_SECRET", &"x".repeat(40))]), &dir())
            .unwrap_err();
        let text = err.to_string();
        for key in ["TELEGRAM_BOT_TOKEN", "DATABASE_URL", "PUBLIC_BASE_URL", "KIE_API_KEY", "YOOKASSA_SECRET_KEY"] {
            assert!(text.contains(key), "{key} named in: {text}");
        }
        assert!(!text.contains("JWT_SECRET"), "a given key is not reported missing: {text}");
    }

    #[test]
    fn a_queue_that_cannot_drain_within_the_wait_is_refused() {
        let err = Settings::from_env(&env(&[("APP__GENERATION__MAX_QUEUE", "5000")]), &dir()).unwrap_err();
        assert!(format!("{err:#}").contains("generation.max_queue"), "{err:#}");
        assert!(Settings::from_env(&env(&[]), &dir()).is_ok(), "the defaults are consistent");
    }

    #[test]
    fn no_keys_means_demo_mode_on_the_simulator() {
        let s = Settings::from_env(&env(&[]), &dir()).unwrap();
        assert!(s.simulator && s.demo_login);
        assert_eq!(s.env, AppEnv::Local);
        assert_eq!(s.secrets.telegram_bot_token.expose_secret(), DEMO_BOT_TOKEN);
    }

    #[test]
    fn real_keys_turn_the_demo_login_off_even_with_the_simulator_forced() {
        let s = Settings::from_env(&env(&[("SIMULATOR", "1"), ("OPENROUTER_API_KEY", "sk-or-v1-x")]), &dir()).unwrap();
        assert!(s.simulator);
        assert!(!s.demo_login);
    }

    #[test]
    fn a_configured_bot_token_turns_the_demo_login_off_whatever_else_is_set() {
        let token = "123456:TEST-a-real-looking-bot-token";
        for extra in [&[][..], &[("SIMULATOR", "1")][..], &[("SIMULATOR", "1"), ("APP_ENV", "local")][..]] {
            let mut pairs = vec![("TELEGRAM_BOT_TOKEN", token)];
            pairs.extend_from_slice(extra);
            let s = Settings::from_env(&env(&pairs), &dir()).unwrap();
            assert!(s.simulator, "{extra:?}: the providers stay simulated");
            assert!(!s.demo_login, "{extra:?}: no development login with a configured bot token");
            assert_eq!(s.secrets.telegram_bot_token.expose_secret(), token);
        }
    }

    #[test]
    fn production_never_has_the_demo_login() {
        let keys = [
            ("APP_ENV", "production"),
            ("TELEGRAM_BOT_TOKEN", "123456:TEST-token"),
            ("JWT_SECRET", "q8Vt2LmX9rK4wZ7pN1cJ6yB3hF5sD0gA"),
            ("DATABASE_URL", "postgres://u@h/db"),
            ("PUBLIC_BASE_URL", "https://primerka.example"),
            ("KIE_API_KEY", "k"),
            ("OPENROUTER_API_KEY", "o"),
            ("YOOKASSA_SHOP_ID", "1"),
            ("YOOKASSA_SECRET_KEY", "y"),
        ];
        let s = Settings::from_env(&env(&keys), &dir()).unwrap();
        assert!(!s.simulator && !s.demo_login);
    }

    #[test]
    fn bad_values_are_reported_by_name() {
        let short = Settings::from_env(&env(&[("JWT_SECRET", "short")]), &dir()).unwrap_err();
        assert!(short.to_string().contains("JWT_SECRET"));
        let port = Settings::from_env(&env(&[("PORT", "eighty")]), &dir()).unwrap_err();
        assert!(port.to_string().contains("PORT"));
        let off = Settings::from_env(&env(&[("SIMULATOR", "0")]), &dir()).unwrap_err();
        assert!(off.to_string().contains("SIMULATOR=0"));
        let tz = Settings::from_env(&env(&[("APP__CREDITS__TIMEZONE", "Mars/Olympus")]), &dir()).unwrap_err();
        assert!(format!("{tz:#}").contains("timezone"), "{tz:#}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Settings::from_env(
            &env(&[
                ("JWT_SECRET", "super-secret-value-that-is-long-enough!!"),
                ("DATABASE_URL", "postgres://u:hunter2@h/db"),
            ]),
            &dir(),
        )
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("super-secret-value"));
        assert!(!debug.contains("hunter2"));
        assert!(debug.contains("postgres://u:***@h/db"));
    }
}

#[cfg(test)]
mod production_tests {
    use super::*;

    fn production_env(jwt: &str, base: &str) -> EnvMap {
        [
            ("APP_ENV", "production"),
            ("TELEGRAM_BOT_TOKEN", "123456:ABCdefGhIJKlmnoPQRstuVWXyz0123456789"),
            ("JWT_SECRET", jwt),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"),
            ("PUBLIC_BASE_URL", base),
            ("KIE_API_KEY", "k"),
            ("OPENROUTER_API_KEY", "o"),
            ("YOOKASSA_SHOP_ID", "1"),
            ("YOOKASSA_SECRET_KEY", "y"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const GOOD: &str = "9f2c4e7a1b3d5f608a7c9e1b2d4f6a8c0e1f3a5b7c9d2e4f6a8b0c1d3e5f7a9b";

    #[test]
    fn production_refuses_guessable_secrets_and_plain_http() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        assert!(Settings::from_env(&production_env(GOOD, "https://app.example.com"), &dir).is_ok());
        let weak = Settings::from_env(&production_env(&"a".repeat(32), "https://app.example.com"), &dir);
        assert!(weak.unwrap_err().to_string().contains("JWT_SECRET looks guessable"));
        let weak = Settings::from_env(&production_env(&"abcd".repeat(16), "https://app.example.com"), &dir);
        assert!(weak.is_err(), "a repeated short pattern is not a secret");
        let http = Settings::from_env(&production_env(GOOD, "http://app.example.com"), &dir);
        assert!(http.unwrap_err().to_string().contains("https://"));
        let mut env = production_env(GOOD, "https://app.example.com");
        env.insert("METRICS_TOKEN".into(), "metrics".into());
        assert!(Settings::from_env(&env, &dir).is_err());
    }

    #[test]
    fn entropy_estimate_separates_random_from_patterns() {
        assert!(low_entropy(&"a".repeat(64)));
        assert!(low_entropy("password1234password1234"));
        assert!(!low_entropy(GOOD));
        assert!(!low_entropy("Zr8v_Q2mX-7pLk4NwT9bHc3YsJd6FgAe"));
    }
}
