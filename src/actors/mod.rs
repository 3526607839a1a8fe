//! The actor tree (DESIGN.md §3):
//!
//! ```text
//! AppSupervisor
//! ├── SessionRegistry ── SessionActor(user) …   one per active user, started on demand
//! ├── GeneratorPool ── worker tasks             kie.ai jobs within the provider's limits
//! ├── PaymentActor                              the single writer of payment grants
//! ├── Notifier                                  Bot API sends, rate-limited
//! └── Scheduler                                 idle sweep, expired holds, …
//! ```
//!
//! Handlers and sockets only use the typed handles in [`ActorHandles`]; every call has a
//! timeout. The database is the truth; actors hold live state and serialise work.

pub mod bus;
pub mod chat;
pub mod events;
pub mod generator;
pub mod notifier;
pub mod payments;
pub mod registry;
pub mod reminders;
pub mod scheduler;
pub mod session;
pub mod sockets;
pub mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use ractor::Actor;
use sqlx::PgPool;

use crate::clients::kie::KieClient;
use crate::clients::telegram::TelegramClient;
use crate::config::Settings;
use crate::domain::pricing::Catalogue;
use notifier::{Notifier, NotifierHandle};
use registry::{SessionRegistry, SessionRegistryHandle};
use scheduler::Scheduler;
use supervisor::{ActorSlot, AppSupervisor, Child, ChildSpec, TreeHealth};

/// What the actors share: the pool, settings and provider clients.
pub struct Services {
    /// This process's id among the cluster's nodes (a new one at every start).
    pub node: uuid::Uuid,
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub tz: chrono_tz::Tz,
    pub catalogue: Arc<Catalogue>,
    pub telegram: TelegramClient,
    /// Executes (and batches) the sessions' reserve / commit / release statements.
    pub credits: crate::db::credit_writer::CreditWriter,
    /// Uploaded photos and results, with signed links.
    pub storage: crate::storage::Storage,
    pub kie: KieClient,
    pub yookassa: crate::clients::yookassa::YooKassaClient,
    pub openrouter: crate::clients::openrouter::OpenRouterClient,
    /// The try-on prompt of every category (`generation.tryon_prompt_path` and
    /// `generation.tryon_prompts_dir`).
    pub tryon_prompts: crate::domain::tryon::TryOnPrompts,
    /// The editor assistant's system prompt (`chat.system_prompt_path`).
    pub chat_system_prompt: String,
    /// The offer, the privacy policy and the renewal terms (`config/legal/`).
    pub legal: Arc<crate::domain::legal::LegalDocs>,
}

/// Typed handles to the running tree.
#[derive(Clone)]
pub struct ActorHandles {
    pub sessions: SessionRegistryHandle,
    pub notifier: NotifierHandle,
    pub generator: generator::GeneratorHandle,
    pub payments: payments::PaymentHandle,
    pub scheduler: ActorSlot<scheduler::SchedulerMsg>,
    pub health: TreeHealth,
}

impl ActorHandles {
    /// Test hook: makes the core actor `name` panic (ignored in production), to show the
    /// supervisor restarts it with its work resumed.
    pub async fn crash_for_test(&self, name: &str) {
        match name {
            "session_registry" => self.sessions.crash_registry_for_test(),
            "generator_pool" => self.generator.crash_for_test(),
            "payments" => self.payments.crash_for_test(),
            "notifier" => self.notifier.crash_for_test(),
            "scheduler" => {
                let _ = self.scheduler.get().cast(scheduler::SchedulerMsg::CrashForTest);
            }
            other => tracing::warn!(actor = other, "no such actor to crash"),
        }
    }
}

/// Starts the whole tree; returns once every child runs.
pub async fn spawn_all(services: Arc<Services>) -> anyhow::Result<ActorHandles> {
    let cfg = &services.settings.file;
    let session_map: registry::SessionMap = Default::default();
    let registry_slot = ActorSlot::default();
    let notifier_slot = ActorSlot::default();
    let scheduler_slot = ActorSlot::default();
    let payment_slot = ActorSlot::default();
    let timeout = Duration::from_millis(cfg.sessions.call_timeout_ms);
    // A chat turn may wait behind the user's other turns, each bounded by the answer deadline.
    let turn_timeout = Duration::from_secs(cfg.chat.answer_deadline_secs * (u64::from(cfg.chat.max_pending) + 1) + 5);
    // One node per process; several share the database in a cluster and hear each other's news.
    let socket_hub: Arc<sockets::SocketHub> = Default::default();
    let bus = if cfg.cluster.enabled {
        let local = registry::LocalSessions {
            map: session_map.clone(),
            sockets: socket_hub.clone(),
            registry: registry_slot.clone(),
        };
        bus::Bus::start(services.pool.clone(), services.node, Arc::new(local)).await?
    } else {
        bus::Bus::disabled()
    };
    let sessions =
        SessionRegistryHandle::new(registry_slot.clone(), session_map.clone(), socket_hub, bus, timeout, turn_timeout);
    let media_counts = notifier::MediaCounts::default();
    let notifier = NotifierHandle::new(notifier_slot.clone(), media_counts.clone(), cfg.telegram.media_queued_per_user);
    let payments = payments::PaymentHandle::new(payment_slot.clone());
    let (gen_shared, generator_slot, generator) = generator::build(services.clone(), sessions.clone())?;
    let jobs = Arc::new(scheduler::core_jobs(
        services.clone(),
        sessions.clone(),
        payments.clone(),
        generator.clone(),
        notifier.clone(),
    ));
    let claims = cfg.cluster.enabled.then(|| (services.pool.clone(), services.node));
    let session_deps = Arc::new(session::SessionDeps {
        services: services.clone(),
        generator: generator.clone(),
        notifier: notifier.clone(),
        sessions: sessions.clone(),
    });
    let payment_tasks = tokio_util::task::TaskTracker::new();
    let crash_allowed = services.settings.env != crate::config::AppEnv::Production;

    let children: Vec<Arc<dyn ChildSpec>> = vec![
        Arc::new(Child::<SessionRegistry> {
            name: "session_registry",
            slot: registry_slot,
            make: Box::new(move || (SessionRegistry { deps: session_deps.clone(), map: session_map.clone() }, ())),
        }),
        Arc::new(Child::<Notifier> {
            name: "notifier",
            slot: notifier_slot.clone(),
            make: Box::new({
                let services = services.clone();
                let queues = notifier::SharedQueues::default();
                move || {
                    let actor = Notifier {
                        services: services.clone(),
                        media_queued: media_counts.clone(),
                        queues: queues.clone(),
                        slot: notifier_slot.clone(),
                    };
                    (actor, ())
                }
            }),
        }),
        Arc::new(Child::<generator::GeneratorPool> {
            name: "generator_pool",
            slot: generator_slot,
            make: Box::new(move || (generator::GeneratorPool { shared: gen_shared.clone() }, ())),
        }),
        Arc::new(Child::<payments::PaymentActor> {
            name: "payments",
            slot: payment_slot,
            make: Box::new({
                let (services, sessions, notifier) = (services.clone(), sessions.clone(), notifier.clone());
                move || {
                    let actor = payments::PaymentActor {
                        services: services.clone(),
                        sessions: sessions.clone(),
                        notifier: notifier.clone(),
                        tasks: payment_tasks.clone(),
                    };
                    (actor, ())
                }
            }),
        }),
        Arc::new(Child::<Scheduler> {
            name: "scheduler",
            slot: scheduler_slot.clone(),
            make: Box::new(move || (Scheduler { jobs: jobs.clone(), claims: claims.clone(), crash_allowed }, ())),
        }),
    ];
    let (supervisor, _join) = Actor::spawn(None, AppSupervisor, children.clone())
        .await
        .map_err(|e| anyhow::anyhow!("starting the actor tree: {e}"))?;
    Ok(ActorHandles {
        sessions,
        notifier,
        generator,
        payments,
        scheduler: scheduler_slot,
        health: TreeHealth { supervisor, children },
    })
}
