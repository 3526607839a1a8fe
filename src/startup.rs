//! `Application::build`: bind the listener, connect and migrate the database, settle what a
//! crash left behind, spawn the actor tree, mount the simulator in demo mode, and serve.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::actors::{self, ActorHandles, Services};
use crate::auth::{init_data, jwt::JwtKeys};
use crate::clients::telegram::TelegramClient;
use crate::config::Settings;
use crate::http::{self, AppInner, AppState, Limits};
use crate::simulator::{self, SimConfig, SimState};
use crate::{db, telemetry};

pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    pub pool: PgPool,
    pub actors: ActorHandles,
    pub settings: Arc<Settings>,
    /// The in-app simulator, when mounted (demo mode without `SIMULATOR_URL`).
    pub simulator: Option<SimState>,
    /// What the actors share (tests call scheduler jobs with it).
    pub services: Arc<crate::actors::Services>,
    grace: Duration,
    /// The private `/metrics` listener (`server.metrics_port`), when configured.
    metrics: Option<(TcpListener, Router)>,
}

impl Application {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.file.server.host.as_str(), settings.port))
            .await
            .with_context(|| format!("binding {}:{}", settings.file.server.host, settings.port))?;
        let port = listener.local_addr()?.port();
        settings.public_base_url = settings.public_base_url.replace("{port}", &port.to_string());
        let own_base = format!("http://127.0.0.1:{port}");
        let settings = Arc::new(settings);

        let pool = db::connect_and_migrate(&settings).await?;
        settle_interrupted_holds(&pool).await;

        let telegram = TelegramClient::from_settings(&settings, &own_base);
        let kie = crate::clients::kie::KieClient::from_settings(&settings, &own_base);
        let storage = crate::storage::Storage::from_settings(&settings).await?;
        tracing::info!(backend = storage.describe(), "image storage");
        let yookassa = crate::clients::yookassa::YooKassaClient::from_settings(&settings, &own_base);
        let openrouter = crate::clients::openrouter::OpenRouterClient::from_settings(&settings, &own_base);
        let chat_system_prompt = tokio::fs::read_to_string(&settings.file.chat.system_prompt_path)
            .await
            .with_context(|| format!("reading {}", settings.file.chat.system_prompt_path.display()))?;
        let tryon_prompts = load_tryon_prompts(&settings).await?;
        let catalogue = Arc::new(settings.catalogue());
        let legal = Arc::new(load_legal(&settings, &catalogue).await?);
        let services = Arc::new(Services {
            node: uuid::Uuid::new_v4(),
            pool: pool.clone(),
            settings: settings.clone(),
            tz: settings.timezone()?,
            catalogue: catalogue.clone(),
            telegram: telegram.clone(),
            credits: crate::db::credit_writer::CreditWriter::start(
                pool.clone(),
                settings.file.credits.writer_workers,
                settings.file.credits.writer_batch_max,
                settings.file.credits.writer_direct,
            ),
            storage,
            kie,
            yookassa,
            openrouter,
            chat_system_prompt,
            tryon_prompts,
            legal: legal.clone(),
        });
        let actors = actors::spawn_all(services.clone()).await?;

        let trusted_proxies = crate::config::parse_networks(&settings.file.yookassa.trusted_proxies);
        let sim = (settings.simulator && settings.simulator_url.is_none()).then(|| {
            use secrecy::ExposeSecret;
            SimState::new(SimConfig {
                bot_token: Some(settings.secrets.telegram_bot_token.expose_secret().to_string()),
                latency_scale: settings.file.simulator.latency_scale,
                control: simulator::ControlAccess {
                    token: settings.secrets.sim_control_token.clone(),
                    trusted_proxies: trusted_proxies.clone(),
                },
            })
        });
        let mut webhook_networks = crate::config::parse_networks(&settings.file.yookassa.allowed_networks);
        if settings.simulator {
            // The simulated YooKassa notifies from loopback (demo mode, tests).
            use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
            let loopback_v4 = ipnet::IpNet::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8).ok();
            let loopback_v6 = Some(ipnet::IpNet::from(IpAddr::V6(Ipv6Addr::LOCALHOST)));
            webhook_networks.extend([loopback_v4, loopback_v6].into_iter().flatten());
        }
        let init_data_secret = {
            use secrecy::ExposeSecret;
            init_data::secret_key(settings.secrets.telegram_bot_token.expose_secret())
        };
        let bot = crate::bot::Bot {
            notifier: actors.notifier.clone(),
            payments: actors.payments.clone(),
            settings: settings.clone(),
            legal: legal.clone(),
            pool: pool.clone(),
        };
        let state = AppState::new(AppInner {
            pool: pool.clone(),
            settings: settings.clone(),
            actors: actors.clone(),
            storage: services.storage.clone(),
            tz: services.tz,
            jwt: JwtKeys::from_settings(&settings),
            init_data_secret,
            catalogue,
            limits: Limits::from_settings(&settings),
            prometheus: telemetry::prometheus(),
            trusted_proxies,
            webhook_networks,
            recent_logins: crate::auth::recent::RecentLogins::new(Duration::from_secs(
                settings.file.auth.login_cache_ttl_secs,
            )),
            bot,
            decode_slots: Arc::new(tokio::sync::Semaphore::new(decode_slots(&settings))),
            faces: load_face_model(&settings).await?,
            token_versions: crate::auth::revocation::TokenVersions::new(Duration::from_secs(30)),
            ws_tickets: crate::auth::ws_ticket::WsTickets::new(&settings.secrets.jwt_secret, 30),
            legal,
        });
        let router = http::router(state.clone(), sim.clone().map(simulator::router));
        let metrics = match settings.file.server.metrics_port {
            0 => None,
            metrics_port => {
                let host = settings.file.server.metrics_host.as_str();
                let listener = TcpListener::bind((host, metrics_port))
                    .await
                    .with_context(|| format!("binding the metrics listener {host}:{metrics_port}"))?;
                tracing::info!(address = %listener.local_addr()?, "metrics listener");
                Some((listener, http::health::private_router(state.clone())))
            }
        };

        spawn_limit_housekeeping(state.clone());
        if settings.file.telegram.configure_on_start {
            spawn_bot_setup(telegram, settings.clone());
        }
        tracing::info!(
            port,
            env = settings.env.as_str(),
            simulator = settings.simulator,
            demo_login = settings.demo_login,
            public_base_url = %settings.public_base_url,
            "application built"
        );
        Ok(Application {
            listener,
            router,
            port,
            pool,
            actors,
            grace: Duration::from_secs(settings.file.server.shutdown_grace_secs),
            settings,
            simulator: sim,
            services,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (bounded by the
    /// configured grace period) and stops the actor tree.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application { listener, router, actors, grace, metrics, settings, .. } = self;
        let limits = crate::serve::ConnectionLimits::from_settings(&settings);
        let metrics_task = metrics.map(|(listener, router)| {
            tokio::spawn(crate::serve::serve(listener, router, limits, std::future::pending(), Duration::ZERO))
        });
        // Requests in flight get `grace` to finish once the signal came.
        let result =
            tokio::spawn(crate::serve::serve(listener, router, limits, shutdown, grace)).await.context("server task");
        if let Some(task) = metrics_task {
            task.abort();
        }
        actors.health.supervisor.stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5))).await.ok();
        result
    }
}

/// Holds of operations that a crash interrupted and that no generation owns (chat requests)
/// are released: the operation is gone, so are its credits' reasons to stay held.
async fn settle_interrupted_holds(pool: &PgPool) {
    let holds = match db::credits::orphaned_open_holds(pool, chrono::Utc::now()).await {
        Ok(holds) => holds,
        Err(e) => {
            tracing::error!(error = %e, "could not list interrupted holds");
            return;
        }
    };
    for hold in holds {
        let result = async {
            let mut conn = pool.acquire().await?;
            db::credits::release(&mut conn, hold.id, "crash_recovery").await.map_err(anyhow::Error::from)
        }
        .await;
        match result {
            Ok(_) => {
                tracing::info!(user.id = %hold.user_id, hold.id = %hold.id, "released a hold left by a crash")
            }
            Err(e) => {
                tracing::error!(user.id = %hold.user_id, hold.id = %hold.id, error = %e, "could not release a hold left by a crash")
            }
        }
    }
}

/// `storage.max_concurrent_decodes`, or the number of CPU cores when 0.
/// The face detector's model (`storage.face_model_path`; empty = no framing check).
async fn load_face_model(settings: &Settings) -> anyhow::Result<Option<Arc<crate::domain::faces::FaceModel>>> {
    let path = &settings.file.storage.face_model_path;
    if path.is_empty() {
        return Ok(None);
    }
    let bytes = tokio::fs::read(path).await.with_context(|| format!("reading the face model {path}"))?;
    let model = crate::domain::faces::FaceModel::from_bytes(&bytes)
        .with_context(|| format!("loading the face model {path}"))?;
    Ok(Some(Arc::new(model)))
}

fn decode_slots(settings: &Settings) -> usize {
    match settings.file.storage.max_concurrent_decodes {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    }
}

fn spawn_limit_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            state.limits.shrink();
            state.recent_logins.prune();
            state.token_versions.prune();
            state.ws_tickets.prune();
        }
    });
}

/// Registers the webhook and the menu button, retrying in the background while Telegram is
/// unreachable (the app serves meanwhile).
fn spawn_bot_setup(telegram: TelegramClient, settings: Arc<Settings>) {
    tokio::spawn(async move {
        let webhook = format!("{}/webhooks/telegram", settings.public_base_url);
        let t = &settings.file.telegram;
        let mut delay = Duration::from_secs(2);
        loop {
            let result = async {
                telegram.set_webhook(&webhook, &settings.secrets.telegram_webhook_secret).await?;
                telegram.set_menu_button(&t.menu_button_text_ru, &settings.public_base_url).await
            }
            .await;
            match result {
                Ok(_) => {
                    tracing::info!("Telegram webhook and menu button set");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_secs = delay.as_secs(), "could not configure the bot yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(300));
                }
            }
        }
    });
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// The legal documents of `legal.dir` in both languages, the owner's details and the plans
/// filled in.
async fn load_legal(
    settings: &Settings,
    catalogue: &crate::domain::pricing::Catalogue,
) -> anyhow::Result<crate::domain::legal::LegalDocs> {
    use crate::domain::i18n::Lang;
    use crate::domain::legal::{DocKind, LegalDocs, LegalValues};
    let legal = &settings.file.legal;
    let mut raw = std::collections::HashMap::new();
    for kind in DocKind::ALL {
        for lang in [Lang::Ru, Lang::En] {
            let path = legal.dir.join(format!("{}.{}.md", kind.as_str(), lang.code()));
            let text = tokio::fs::read_to_string(&path).await.with_context(|| format!("reading {}", path.display()))?;
            raw.insert((kind, lang.code()), text);
        }
    }
    let plans = |lang: Lang| {
        catalogue
            .products()
            .iter()
            .filter(|p| p.kind == crate::domain::pricing::ProductKind::Subscription)
            .map(|p| crate::domain::i18n::plan_terms_line(lang, p))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let values = LegalValues {
        owner_name: legal.owner_name.clone(),
        owner_inn: legal.owner_inn.clone(),
        owner_contact: legal.owner_contact.clone(),
        support_contact: settings.file.telegram.support_contact.clone(),
        upload_retention_days: settings.file.storage.upload_retention_days,
        result_retention_days: settings.file.storage.result_retention_days,
        plans_ru: plans(Lang::Ru),
        plans_en: plans(Lang::En),
    };
    if [&legal.owner_name, &legal.owner_inn, &legal.owner_contact].iter().any(|v| v.trim().is_empty()) {
        tracing::warn!("legal.owner_name, owner_inn or owner_contact is not set: the offer and the policy say so");
    }
    let docs = LegalDocs::build(&values, |kind, lang| raw.remove(&(kind, lang.code())))
        .map_err(|e| anyhow::anyhow!("{e} ({})", legal.dir.display()))?;
    tracing::info!(
        offer = docs.version(DocKind::Offer),
        privacy = docs.version(DocKind::Privacy),
        "legal texts loaded"
    );
    Ok(docs)
}

/// The general try-on template and every `<category>.md` in `generation.tryon_prompts_dir`.
async fn load_tryon_prompts(settings: &Settings) -> anyhow::Result<crate::domain::tryon::TryOnPrompts> {
    let generation = &settings.file.generation;
    let general = tokio::fs::read_to_string(&generation.tryon_prompt_path)
        .await
        .with_context(|| format!("reading {}", generation.tryon_prompt_path.display()))?;
    let mut own = std::collections::HashMap::new();
    match tokio::fs::read_dir(&generation.tryon_prompts_dir).await {
        Ok(mut entries) => {
            while let Some(entry) = entries.next_entry().await? {
                let path = entry.path();
                let (Some(stem), Some("md")) =
                    (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|e| e.to_str()))
                else {
                    continue;
                };
                let text =
                    tokio::fs::read_to_string(&path).await.with_context(|| format!("reading {}", path.display()))?;
                own.insert(stem.to_string(), text);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", generation.tryon_prompts_dir.display())),
    }
    let prompts = crate::domain::tryon::TryOnPrompts::build(&general, &own)
        .map_err(|e| anyhow::anyhow!("{e} ({})", generation.tryon_prompts_dir.display()))?;
    tracing::info!(own = own.len(), categories = prompts.len(), "try-on prompts loaded");
    Ok(prompts)
}
